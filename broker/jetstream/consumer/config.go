package consumer

import (
	"strconv"
	"strings"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/subject"
)

// Defaults nats-server applies to a consumer config (consumer.go and
// jetstream_api.go of nats-server 2.15).
const (
	DefaultAckWait           = 30 * time.Second
	DefaultMaxAckPending     = 1000
	DefaultMaxWaiting        = 512
	DefaultInactiveThreshold = 5 * time.Second // ephemeral consumers
	// FlowControlMaxPending is the most bytes a flow-controlled push
	// consumer has outstanding before it waits for a flow-control reply;
	// the window starts at 1/16 of it and doubles with each reply.
	FlowControlMaxPending = 32 << 20
	maxDescriptionLen     = 4 << 10
	maxMetadataLen        = 128 << 10
	maxNameLen            = 255
	minHeartbeat          = 100 * time.Millisecond
)

// resolveName applies nats-server's rules for the consumer name in the API
// subject against the request: it returns the name to create ("" for an
// ephemeral to be named by the server) and fills cfg.Name.
func resolveName(req *jsapi.CreateConsumerRequest, streamName, subjectName, subjectFilter string) (string, *jsapi.APIError) {
	cfg := &req.Config
	if req.Stream != "" && req.Stream != streamName {
		return "", jsapi.NewAPIError(jsapi.ErrCodeStreamMismatch)
	}
	if subjectName == "" {
		// Legacy ephemeral form, CONSUMER.CREATE.<stream>.
		if cfg.Durable != "" {
			return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerEphemeralWithDurableName)
		}
	} else {
		if strings.ContainsAny(subjectName, `\/`) {
			return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerNameContainsPathSeparators)
		}
		if cfg.Durable != "" && cfg.Durable != subjectName {
			return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerDurableNameNotMatchSubject)
		}
		cfg.Name = subjectName
	}
	if subjectFilter != "" {
		if len(cfg.FilterSubjects) != 0 {
			return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerMultipleFiltersNotAllowed)
		}
		if cfg.FilterSubject != subjectFilter {
			return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerCreateFilterSubjectMismatch)
		}
	}
	if cfg.Durable != "" && cfg.Name != "" && cfg.Name != cfg.Durable {
		return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerDurableAndNameMismatch)
	}
	name := cfg.Name
	if name == "" {
		name = cfg.Durable
	}
	if name != "" {
		if strings.ContainsAny(name, `\/`) {
			return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerNameContainsPathSeparators)
		}
		if !validName(name) {
			if cfg.Durable != "" {
				return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerBadDurableName)
			}
			return "", invalidConfig("consumer name can not contain '.', '*', '>', '\\', '/'")
		}
		if len(name) > maxNameLen {
			return "", jsapi.NewAPIError(jsapi.ErrCodeConsumerNameTooLong, strconv.Itoa(maxNameLen))
		}
	}
	return name, nil
}

// applyDefaults fills the zero fields of cfg as nats-server does
// (setConsumerConfigDefaults), given the stream's config.
func applyDefaults(cfg *jsapi.ConsumerConfig, scfg *jsapi.StreamConfig) {
	if cfg.MaxDeliver == 0 || cfg.MaxDeliver < -1 {
		cfg.MaxDeliver = -1
	}
	cfg.MaxWaiting = max(cfg.MaxWaiting, 0)
	if cfg.MaxAckPending < -1 {
		cfg.MaxAckPending = -1
	}
	cfg.MaxRequestBatch = max(cfg.MaxRequestBatch, 0)
	cfg.MaxRequestExpires = max(cfg.MaxRequestExpires, 0)
	cfg.MaxRequestMaxBytes = max(cfg.MaxRequestMaxBytes, 0)
	cfg.Heartbeat = max(cfg.Heartbeat, 0)
	cfg.InactiveThreshold = max(cfg.InactiveThreshold, 0)
	if cfg.DeliverSubject == "" && cfg.MaxWaiting == 0 {
		cfg.MaxWaiting = DefaultMaxWaiting
	}
	if cfg.AckWait == 0 && (cfg.AckPolicy == jsapi.AckExplicit || cfg.AckPolicy == jsapi.AckAll) {
		cfg.AckWait = DefaultAckWait
	}
	if len(cfg.BackOff) > 0 {
		cfg.AckWait = cfg.BackOff[0]
	}
	if cfg.MaxAckPending == 0 {
		cfg.MaxAckPending = scfg.ConsumerLimits.MaxAckPending
	}
	if cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = scfg.ConsumerLimits.InactiveThreshold
	}
	if cfg.MaxAckPending == 0 && cfg.AckPolicy != jsapi.AckNone {
		cfg.MaxAckPending = DefaultMaxAckPending
	}
	if cfg.Durable == "" && cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = DefaultInactiveThreshold
	}
	cfg.PinnedTTL = max(cfg.PinnedTTL, 0)
	if cfg.PriorityPolicy == jsapi.PriorityPinnedClient && cfg.PinnedTTL == 0 {
		cfg.PinnedTTL = pinnedTTLDefault
	}
	flowAckDefaults(cfg) // flowack.go
	if cfg.PauseUntil != nil {
		// Kept in UTC, as nats-server keeps it.
		u := cfg.PauseUntil.UTC()
		cfg.PauseUntil = &u
	}
}

// checkConfig validates a defaulted cfg against the stream's config, as
// nats-server's checkConsumerCfg does for the features barge has.
func checkConfig(cfg *jsapi.ConsumerConfig, scfg *jsapi.StreamConfig) *jsapi.APIError {
	if cfg.Replicas < 0 {
		return jsapi.NewAPIError(jsapi.ErrCodeReplicasCountNegative)
	}
	if cfg.Replicas > max(scfg.Replicas, 1) {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerReplicasExceedsStream)
	}
	if scfg.Retention != jsapi.LimitsPolicy && cfg.Replicas != 0 && cfg.Replicas != max(scfg.Replicas, 1) {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerReplicasShouldMatchStream)
	}
	if cfg.AckPolicy < jsapi.AckNone || cfg.AckPolicy > jsapi.AckFlowControl {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerAckPolicyInvalid)
	}
	if cfg.ReplayPolicy != jsapi.ReplayInstant && cfg.ReplayPolicy != jsapi.ReplayOriginal {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerReplayPolicyInvalid)
	}
	for _, b := range cfg.BackOff {
		if b < 0 {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerBackOffNegative)
		}
	}
	if cfg.AckWait < 0 {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerAckWaitNegative)
	}
	if err := checkFlowAck(cfg); err != nil {
		return err
	}
	if n := len(cfg.BackOff); n > 0 && cfg.MaxDeliver != -1 && n > cfg.MaxDeliver {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerMaxDeliverBackoff)
	}
	if len(cfg.Description) > maxDescriptionLen {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerDescriptionTooLong, strconv.Itoa(maxDescriptionLen))
	}
	if cfg.DeliverSubject != "" {
		if subject.HasWildcard(cfg.DeliverSubject) {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerDeliverToWildcards)
		}
		if !validFilter(cfg.DeliverSubject) {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidDeliverSubject)
		}
		for _, s := range scfg.Subjects {
			if subject.Matches(s, cfg.DeliverSubject) {
				return jsapi.NewAPIError(jsapi.ErrCodeConsumerDeliverCycle)
			}
		}
		if cfg.MaxWaiting != 0 {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerPushMaxWaiting)
		}
		if cfg.MaxAckPending > 0 && cfg.AckPolicy == jsapi.AckNone {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerMaxPendingAckPolicyRequired)
		}
		if cfg.Heartbeat > 0 && cfg.Heartbeat < minHeartbeat {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerSmallHeartbeat)
		}
		if cfg.DeliverGroup != "" && !validFilter(cfg.DeliverGroup) {
			return invalidConfig("invalid deliver group")
		}
	} else {
		if cfg.AckPolicy == jsapi.AckNone && scfg.Retention == jsapi.WorkQueuePolicy {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerPullRequiresAck)
		}
		if cfg.RateLimit > 0 {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerPullWithRateLimit)
		}
		if cfg.Heartbeat > 0 {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerHBRequiresPush)
		}
		if cfg.FlowControl {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerFCRequiresPush)
		}
		if cfg.MaxRequestExpires != 0 && cfg.MaxRequestExpires < time.Millisecond {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerMaxRequestExpiresTooSmall)
		}
		if cfg.DeliverGroup != "" {
			return invalidConfig("consumer deliver group requires a push based consumer")
		}
	}
	if scfg.ConsumerLimits.MaxAckPending > 0 && cfg.MaxAckPending > scfg.ConsumerLimits.MaxAckPending {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerMaxPendingAckExcess, strconv.Itoa(scfg.ConsumerLimits.MaxAckPending))
	}
	if lim := scfg.ConsumerLimits.InactiveThreshold; lim > 0 && cfg.InactiveThreshold > lim {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerInactiveThresholdExcess, lim.String())
	}
	if cfg.Direct {
		if cfg.DeliverSubject == "" {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerDirectRequiresPush)
		}
		if cfg.Durable != "" {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerDirectRequiresEphemeral)
		}
	}
	if err := checkFilters(cfg, scfg); err != nil {
		return err
	}
	if err := checkStart(cfg); err != nil {
		return err
	}
	if cfg.FlowControl && cfg.Heartbeat == 0 {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerWithFlowControlNeedsHB)
	}
	n := 0
	for k, v := range cfg.Metadata {
		n += len(k) + len(v)
	}
	if n > maxMetadataLen {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerMetadataLength, "128KB")
	}
	return checkPriorityConfig(cfg)
}

// checkFilters validates filter_subject / filter_subjects.
func checkFilters(cfg *jsapi.ConsumerConfig, scfg *jsapi.StreamConfig) *jsapi.APIError {
	if cfg.FilterSubject != "" && len(cfg.FilterSubjects) > 0 {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerDuplicateFilterSubjects)
	}
	for _, f := range cfg.FilterSubjects {
		if f == "" {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerEmptyFilter)
		}
	}
	fs := configFilters(cfg)
	for i, f := range fs {
		if !validFilter(f) {
			return invalidConfig("invalid subject")
		}
		for j, g := range fs {
			if i != j && subject.IsSubset(f, g) {
				return jsapi.NewAPIError(jsapi.ErrCodeConsumerOverlappingSubjectFilters)
			}
		}
		if len(scfg.Subjects) > 0 {
			ok := false
			for _, s := range scfg.Subjects {
				if subject.Overlap(f, s) {
					ok = true
					break
				}
			}
			if !ok {
				return jsapi.NewAPIError(jsapi.ErrCodeConsumerFilterNotSubset)
			}
		}
	}
	return nil
}

// checkStart validates the deliver policy against the optional start.
func checkStart(cfg *jsapi.ConsumerConfig) *jsapi.APIError {
	bad := func(dp, start string) *jsapi.APIError {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidPolicy,
			"consumer delivery policy is deliver "+dp+", but optional start "+start+" is also set")
	}
	notSet := func(dp, what string) *jsapi.APIError {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidPolicy,
			"consumer delivery policy is deliver "+dp+", but optional "+what+" is not set")
	}
	seq, tm := cfg.OptStartSeq > 0, cfg.OptStartTime != nil
	switch cfg.DeliverPolicy {
	case jsapi.DeliverAll, jsapi.DeliverLast, jsapi.DeliverNew, jsapi.DeliverLastPerSubject:
		name := map[jsapi.DeliverPolicy]string{jsapi.DeliverAll: "all", jsapi.DeliverLast: "last",
			jsapi.DeliverNew: "new", jsapi.DeliverLastPerSubject: "last per subject"}[cfg.DeliverPolicy]
		if seq {
			return bad(name, "sequence")
		}
		if tm {
			return bad(name, "time")
		}
		if cfg.DeliverPolicy == jsapi.DeliverLastPerSubject && len(configFilters(cfg)) == 0 {
			return notSet(name, "filter subject")
		}
	case jsapi.DeliverByStartSequence:
		if !seq {
			return notSet("by start sequence", "start sequence")
		}
		if tm {
			return bad("by start sequence", "time")
		}
	case jsapi.DeliverByStartTime:
		if !tm {
			return notSet("by start time", "start time")
		}
		if seq {
			return bad("by start time", "start sequence")
		}
	default:
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidPolicy, "invalid deliver policy")
	}
	return nil
}

// checkUpdate reports why ncfg cannot replace cfg (nats-server's
// checkNewConsumerConfig); bound reports whether a push consumer's deliver
// subject has subscribers.
func checkUpdate(cfg, ncfg *jsapi.ConsumerConfig, bound bool) *jsapi.APIError {
	fail := func(s string) *jsapi.APIError {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerCreate, s)
	}
	switch {
	case cfg.DeliverPolicy != ncfg.DeliverPolicy:
		return fail("deliver policy can not be updated")
	case cfg.MemoryStorage != ncfg.MemoryStorage:
		return fail("storage type can not be updated")
	case cfg.Direct != ncfg.Direct:
		return fail("direct can not be updated")
	case cfg.OptStartSeq != ncfg.OptStartSeq:
		return fail("start sequence can not be updated")
	case (cfg.OptStartTime == nil) != (ncfg.OptStartTime == nil),
		cfg.OptStartTime != nil && !cfg.OptStartTime.Equal(*ncfg.OptStartTime):
		return fail("start time can not be updated")
	case cfg.AckPolicy != ncfg.AckPolicy:
		return fail("ack policy can not be updated")
	case cfg.ReplayPolicy != ncfg.ReplayPolicy:
		return fail("replay policy can not be updated")
	case cfg.Heartbeat != ncfg.Heartbeat:
		return fail("heart beats can not be updated")
	case cfg.FlowControl != ncfg.FlowControl:
		return fail("flow control can not be updated")
	case cfg.DeliverSubject != ncfg.DeliverSubject && cfg.DeliverSubject == "":
		return fail("can not update pull consumer to push based")
	case cfg.DeliverSubject != ncfg.DeliverSubject && ncfg.DeliverSubject == "":
		return fail("can not update push consumer to pull based")
	case cfg.DeliverSubject != ncfg.DeliverSubject && bound:
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerNameExist)
	case cfg.MaxWaiting != ncfg.MaxWaiting:
		return fail("max waiting can not be updated")
	}
	return nil
}

// configFilters returns the consumer's filters as one list (nil: all).
func configFilters(cfg *jsapi.ConsumerConfig) []string {
	if cfg.FilterSubject != "" {
		return []string{cfg.FilterSubject}
	}
	return cfg.FilterSubjects
}

// effectiveFilters drops filters that cover the whole stream: nil means
// every message of the stream.
func effectiveFilters(cfg *jsapi.ConsumerConfig, scfg *jsapi.StreamConfig) []string {
	fs := configFilters(cfg)
	if len(fs) == 0 {
		return nil
	}
	for _, f := range fs {
		if f == ">" {
			return nil
		}
	}
	if len(scfg.Subjects) == 0 {
		return fs
	}
	for _, s := range scfg.Subjects {
		covered := false
		for _, f := range fs {
			if subject.IsSubset(s, f) {
				covered = true
				break
			}
		}
		if !covered {
			return fs
		}
	}
	return nil
}

func invalidConfig(s string) *jsapi.APIError {
	return jsapi.NewAPIError(jsapi.ErrCodeStreamInvalidConfig, s)
}

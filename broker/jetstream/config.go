package jetstream

import (
	"fmt"
	"reflect"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// Defaults and bounds of stream configs (nats-server's values).
const (
	// defaultDuplicateWindow is the duplicate_window of a stream that sets none.
	defaultDuplicateWindow = 2 * time.Minute
	// maxReplicas is the largest num_replicas accepted at all.
	maxReplicas = 5
	// minWindow is the smallest max_age and duplicate_window.
	minWindow = 100 * time.Millisecond
)

func invalidConfig(format string, args ...any) *jsapi.APIError {
	return jsapi.NewAPIError(jsapi.ErrCodeStreamInvalidConfig, fmt.Sprintf(format, args...))
}

// checkConfig validates a stream config as nats-server's checkStreamCfg does
// and returns it with defaults filled in: unlimited limits as -1, file
// storage, one replica, a duplicate window of two minutes (or max_age when
// shorter), the stream's name as its subject when it lists none.
// maxPayload is the server's max_payload (0: unchecked).
func checkConfig(in *jsapi.StreamConfig, maxPayload int64) (jsapi.StreamConfig, *jsapi.APIError) {
	if !validName(in.Name) {
		return jsapi.StreamConfig{}, invalidConfig("stream name is required and can not contain '.', '*', '>', '\\', '/'")
	}
	if len(in.Name) > jsapi.MaxNameLen {
		return jsapi.StreamConfig{}, invalidConfig("stream name is too long, maximum allowed is %d", jsapi.MaxNameLen)
	}
	if len(in.Description) > jsapi.MaxDescriptionLen {
		return jsapi.StreamConfig{}, invalidConfig("stream description is too long, maximum allowed is %d", jsapi.MaxDescriptionLen)
	}
	md := 0
	for k, v := range in.Metadata {
		md += len(k) + len(v)
	}
	if md > jsapi.MaxMetadataLen {
		return jsapi.StreamConfig{}, invalidConfig("stream metadata exceeds maximum size of %d bytes", jsapi.MaxMetadataLen)
	}
	cfg := *in
	cfg.Subjects = append([]string(nil), in.Subjects...)
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas > maxReplicas {
		return cfg, invalidConfig("maximum replicas is %d", maxReplicas)
	}
	if cfg.Replicas < 0 {
		return cfg, jsapi.NewAPIError(jsapi.ErrCodeReplicasCountNegative)
	}
	if cfg.Replicas > 1 {
		// Until replication lands, as a single nats-server answers.
		return cfg, jsapi.NewAPIError(jsapi.ErrCodeStreamReplicasNotSupported)
	}
	for _, p := range []*int64{&cfg.MaxMsgs, &cfg.MaxMsgsPer, &cfg.MaxBytes} {
		if *p == 0 || *p < -1 {
			*p = -1
		}
	}
	if cfg.MaxMsgSize == 0 || cfg.MaxMsgSize < -1 {
		cfg.MaxMsgSize = -1
	}
	if cfg.MaxConsumers == 0 || cfg.MaxConsumers < -1 {
		cfg.MaxConsumers = -1
	}
	if cfg.MaxAge < 0 {
		return cfg, invalidConfig("max age can not be negative")
	}
	if cfg.MaxAge != 0 && cfg.MaxAge < minWindow {
		return cfg, invalidConfig("max age needs to be >= 100ms")
	}
	if cfg.Duplicates == 0 && cfg.Mirror == nil && len(cfg.Sources) == 0 {
		cfg.Duplicates = defaultDuplicateWindow
		if cfg.MaxAge != 0 && cfg.MaxAge < defaultDuplicateWindow {
			cfg.Duplicates = cfg.MaxAge
		}
	}
	if cfg.Duplicates < 0 {
		return cfg, invalidConfig("duplicates window can not be negative")
	}
	if cfg.MaxAge != 0 && cfg.Duplicates > cfg.MaxAge {
		return cfg, invalidConfig("duplicates window can not be larger then max age")
	}
	if cfg.Duplicates > 0 && cfg.Duplicates < minWindow {
		return cfg, invalidConfig("duplicates window needs to be >= 100ms")
	}
	if cfg.DenyPurge && cfg.AllowRollup {
		return cfg, invalidConfig("roll-ups require the purge permission")
	}
	if cfg.DiscardNewPer {
		if cfg.Discard != jsapi.DiscardNew {
			return cfg, invalidConfig("discard new per subject requires discard new policy to be set")
		}
		if cfg.MaxMsgsPer <= 0 {
			return cfg, invalidConfig("discard new per subject requires max msgs per subject > 0")
		}
	}
	if maxPayload > 0 && int64(cfg.MaxMsgSize) > maxPayload {
		return cfg, invalidConfig("max message size %d can not be larger than the server's max payload %d", cfg.MaxMsgSize, maxPayload)
	}
	if apiErr := checkFeeds(&cfg, in.Subjects); apiErr != nil {
		return cfg, apiErr
	}
	if cfg.AllowMsgCounter {
		switch {
		case cfg.Discard == jsapi.DiscardNew:
			return cfg, invalidConfig("counter stream cannot use discard new")
		case cfg.AllowMsgTTL:
			return cfg, invalidConfig("counter stream cannot use message TTLs")
		case cfg.AllowMsgSchedules:
			return cfg, invalidConfig("counter stream cannot use message schedules")
		case cfg.Retention != jsapi.LimitsPolicy:
			return cfg, invalidConfig("counter stream can only use limits retention")
		}
	}
	if cfg.SubjectDeleteMarkerTTL > 0 {
		if cfg.SubjectDeleteMarkerTTL < time.Second {
			return cfg, invalidConfig("subject delete marker TTL must be at least 1 second")
		}
		// Markers are message TTLs and roll-ups: nats-server turns both on.
		cfg.AllowMsgTTL = true
		if !cfg.AllowRollup {
			cfg.AllowRollup, cfg.DenyPurge = true, false
		}
	} else if cfg.SubjectDeleteMarkerTTL < 0 {
		return cfg, invalidConfig("subject delete marker TTL must not be negative")
	}
	if cfg.AllowMsgSchedules {
		if cfg.Discard == jsapi.DiscardNew {
			return cfg, invalidConfig("message scheduling cannot use discard new")
		}
		// A schedule rolls its subject up: nats-server turns roll-ups on.
		if !cfg.AllowRollup {
			cfg.AllowRollup, cfg.DenyPurge = true, false
		}
	}
	if apiErr := persistModeErr(&cfg); apiErr != nil {
		return cfg, apiErr
	}
	if len(cfg.Subjects) == 0 && cfg.Mirror == nil && len(cfg.Sources) == 0 {
		cfg.Subjects = []string{cfg.Name}
	}
	if apiErr := checkTransforms(&cfg); apiErr != nil {
		return cfg, apiErr
	}
	seen := make(map[string]bool, len(cfg.Subjects))
	var own subject.FilterTree // the subjects so far: overlaps within the config
	for _, subj := range cfg.Subjects {
		if !subject.ValidSubscribe([]byte(subj)) {
			return cfg, invalidConfig("invalid subject")
		}
		if seen[subj] {
			return cfg, invalidConfig("duplicate subjects detected")
		}
		seen[subj] = true
		if subj == ">" && !cfg.NoAck {
			return cfg, invalidConfig("capturing all subjects requires no-ack to be true")
		}
		if !cfg.NoAck && (subject.Overlap(subj, "$JS.>") || subject.Overlap(subj, "$JSC.>") || subject.Overlap(subj, "$NRG.>")) &&
			!subjectMatchesPattern(subj, "$JS.EVENT.>") {
			return cfg, invalidConfig("subjects that overlap with jetstream api require no-ack to be true")
		}
		if !cfg.NoAck && subject.Overlap(subj, "$SYS.>") && !subjectMatchesPattern(subj, "$SYS.ACCOUNT.>") {
			return cfg, invalidConfig("subjects that overlap with system api require no-ack to be true")
		}
		if other, ok := own.Overlap(subj); ok {
			return cfg, invalidConfig("subject %q overlaps with %q", other.Filter, subj)
		}
		own.Add(subj, "")
	}
	cfg.Metadata = withRequiredLevel(cfg.Metadata, streamRequiredLevel(&cfg))
	return cfg, nil
}

// subjectMatchesPattern reports whether every subject that sub matches is
// also matched by pattern (sub is a subset of pattern).
func subjectMatchesPattern(sub, pattern string) bool {
	// Wildcards in sub must be covered by wildcards in pattern; matching
	// sub's tokens as literals does exactly that for '*' and '>'.
	return subject.Matches(pattern, sub)
}

// checkUpdate validates cfg (already through checkConfig) as an update of
// old, as nats-server's configUpdateCheck does, and returns the config to
// store: sealing forces discard new, no max_age, deny delete and purge.
//
// first_seq only places a new stream's first message, so an update cannot
// change it. nats-server accepts a new value and ignores it until a
// restart, where its file store then purges every message below it; barge
// refuses it instead. An update that leaves it out keeps the old one.
func checkUpdate(old, cfg jsapi.StreamConfig) (jsapi.StreamConfig, *jsapi.APIError) {
	if cfg.FirstSeq == 0 {
		cfg.FirstSeq = old.FirstSeq
	}
	switch {
	case cfg.Name != old.Name:
		return cfg, invalidConfig("stream configuration name must match original")
	case cfg.FirstSeq != old.FirstSeq:
		return cfg, invalidConfig("stream configuration update can not change first sequence")
	case cfg.Storage != old.Storage:
		return cfg, invalidConfig("stream configuration update can not change storage type")
	case cfg.Retention != old.Retention && (old.Retention == jsapi.WorkQueuePolicy || cfg.Retention == jsapi.WorkQueuePolicy):
		return cfg, invalidConfig("stream configuration update can not change retention policy to/from workqueue")
	case !cfg.Sealed && old.Sealed:
		return cfg, invalidConfig("stream configuration update can not unseal a sealed stream")
	case !cfg.DenyDelete && old.DenyDelete:
		return cfg, invalidConfig("stream configuration update can not cancel deny message deletes")
	case !cfg.DenyPurge && old.DenyPurge:
		return cfg, invalidConfig("stream configuration update can not cancel deny purge")
	case cfg.Mirror != nil && !reflect.DeepEqual(cfg.Mirror, old.Mirror):
		return cfg, jsapi.NewAPIError(jsapi.ErrCodeStreamMirrorNotUpdatable)
	case cfg.Replicas != old.Replicas:
		return cfg, jsapi.NewAPIError(jsapi.ErrCodeStreamReplicasNotUpdatable)
	case old.AllowMsgTTL && !cfg.AllowMsgTTL:
		return cfg, invalidConfig("message TTL status can not be disabled")
	case cfg.AllowMsgCounter != old.AllowMsgCounter:
		return cfg, invalidConfig("stream configuration update can not change message counter setting")
	case old.AllowMsgSchedules && !cfg.AllowMsgSchedules:
		return cfg, invalidConfig("message schedules can not be disabled")
	case old.PersistMode != cfg.PersistMode:
		return cfg, invalidConfig("stream configuration update can not change persist mode")
	}
	if cfg.Sealed {
		cfg.MaxAge = 0
		cfg.Discard = jsapi.DiscardNew
		cfg.DenyDelete, cfg.DenyPurge = true, true
		cfg.AllowRollup = false
	}
	return cfg, nil
}

// logConfig maps a stream config to its log's limits and the publish
// rules' settings (Rules: the log hands them to the stream's publishRules
// in log order). max_msgs_per_subject with discard_new_per_subject is a
// rule (the log always drops a subject's oldest).
func logConfig(cfg *jsapi.StreamConfig) log.Config {
	lc := log.Config{
		MaxMsgs:  cfg.MaxMsgs,
		MaxBytes: cfg.MaxBytes,
		MaxAge:   cfg.MaxAge,
		FirstSeq: cfg.FirstSeq,
		Rules:    rulesOf(cfg).encode(),
	}
	if takesMaxAge(cfg) {
		lc.MaxAge = 0 // the stream's expirer applies it (ttl.go)
	}
	if !cfg.DiscardNewPer {
		lc.MaxMsgsPerSubject = cfg.MaxMsgsPer
	}
	if cfg.Discard == jsapi.DiscardNew {
		lc.Discard = log.DiscardNew
	}
	if cfg.Compression == jsapi.S2Compression {
		lc.Compression = log.CompressionS2
	}
	if cfg.Storage == jsapi.MemoryStorage {
		lc.Storage = log.MemoryStorage
	}
	return lc
}

// checkTransforms validates a stream's subject_transform and republish as
// nats-server's checkStreamCfg does; an empty republish source becomes '>',
// and a republish of '>' to '>' on a stream whose one subject is its
// transform's source republishes the transformed subjects.
func checkTransforms(cfg *jsapi.StreamConfig) *jsapi.APIError {
	if tr := cfg.SubjectTransform; tr != nil {
		if tr.Source != "" && !subject.ValidSubscribe([]byte(tr.Source)) {
			return jsapi.NewAPIError(jsapi.ErrCodeStreamTransformInvalidSource, subject.ErrBadSubject.Error()+" "+tr.Source)
		}
		if err := subject.ValidateMapping(tr.Source, tr.Destination); err != nil {
			return jsapi.NewAPIError(jsapi.ErrCodeStreamTransformInvalidDest, err.Error())
		}
	}
	rp := cfg.RePublish
	if rp == nil {
		return nil
	}
	c := *rp
	cfg.RePublish = &c
	if c.Source == "" {
		c.Source = ">"
	}
	if tr := cfg.SubjectTransform; c.Source == ">" && c.Destination == ">" && tr != nil &&
		len(cfg.Subjects) == 1 && tr.Source == cfg.Subjects[0] {
		c.Source, c.Destination = tr.Destination, tr.Destination
	}
	for _, subj := range cfg.Subjects {
		if subject.Overlap(c.Destination, subj) {
			return invalidConfig("stream configuration for republish destination forms a cycle")
		}
	}
	if _, err := subject.NewTransform(c.Source, c.Destination); err != nil || c.Destination == "" {
		return invalidConfig("stream configuration for republish with transform from '%s' to '%s' not valid", c.Source, c.Destination)
	}
	return nil
}

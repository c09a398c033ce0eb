package jetstream

import (
	"maps"
	"strconv"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
)

// JetStream API levels (ADR-44), as nats-server sets them.
//
// A stream's and a consumer's stored config carry _nats.req.level: the
// lowest API level a server needs to hold the asset as configured,
// computed from the features its config uses (static; set by checkConfig
// on every create and update). Every config a response shows also
// carries the answering server's _nats.ver (broker.NATSVersion) and
// _nats.level (jsapi.BargeAPILevel) (dynamic; never stored: a request that
// sends them back has them dropped). A request whose
// Nats-Required-Api-Level header asks for more than jsapi.BargeAPILevel
// (or is not a number) gets 10185, on every API subject but DIRECT.GET and
// CONSUMER.MSG.NEXT, as in nats-server.

const (
	mdRequiredLevel = "_nats.req.level"
	mdServerVersion = "_nats.ver"
	mdServerLevel   = "_nats.level"
)

// streamRequiredLevel is the API level the features of cfg need: 1 for
// per-message TTL and subject delete markers (2.11), 2 for counters,
// atomic batches, schedules and async persist (2.12), 4 for fast batches (2.14).
func streamRequiredLevel(cfg *jsapi.StreamConfig) int {
	level := 0
	if cfg.AllowMsgTTL || cfg.SubjectDeleteMarkerTTL > 0 {
		level = 1
	}
	if cfg.AllowMsgCounter || cfg.AllowAtomicPublish || cfg.AllowMsgSchedules || cfg.PersistMode == jsapi.PersistAsync {
		level = 2
	}
	if cfg.AllowBatchPublish {
		level = 4
	}
	return level
}

// consumerRequiredLevel is the API level the features of cfg need: 1 for
// pause and priority groups (2.11), 4 for ack policy flow_control (2.14).
func consumerRequiredLevel(cfg *jsapi.ConsumerConfig) int {
	if cfg.AckPolicy == jsapi.AckFlowControl {
		return 4
	}
	if (cfg.PauseUntil != nil && !cfg.PauseUntil.IsZero()) || cfg.PriorityPolicy != jsapi.PriorityNone ||
		cfg.PinnedTTL != 0 || len(cfg.PriorityGroups) > 0 {
		return 1
	}
	return 0
}

// withRequiredLevel returns md (not modified) without the dynamic keys
// and with _nats.req.level set to level.
func withRequiredLevel(md map[string]string, level int) map[string]string {
	out := make(map[string]string, len(md)+1)
	maps.Copy(out, md)
	delete(out, mdServerVersion)
	delete(out, mdServerLevel)
	out[mdRequiredLevel] = strconv.Itoa(level)
	return out
}

// withServerLevel returns md (not modified) with this server's version
// and API level added, for a response.
func withServerLevel(md map[string]string) map[string]string {
	out := make(map[string]string, len(md)+2)
	maps.Copy(out, md)
	out[mdServerVersion] = broker.NATSVersion
	out[mdServerLevel] = strconv.Itoa(jsapi.BargeAPILevel)
	return out
}

// levelTooHigh reports whether the request header block hdr asks for an
// API level this server lacks (or names one it cannot parse).
func levelTooHigh(hdr []byte) bool {
	v, ok := codec.HeaderValue(hdr, jsapi.HdrRequiredAPILevel)
	if !ok || len(v) == 0 {
		return false
	}
	n, err := strconv.Atoi(string(v))
	return err != nil || n > jsapi.BargeAPILevel
}

// levelChecked reports whether op checks Nats-Required-Api-Level.
func levelChecked(op jsapi.Op) bool {
	switch op {
	case jsapi.OpDirectGet, jsapi.OpDirectGetLast, jsapi.OpConsumerNext:
		return false
	}
	return true
}

// withConsumerServerLevel adds this server's version and level to the
// config of info (its own copy: Set.Info and List return fresh ones).
func withConsumerServerLevel(info *jsapi.ConsumerInfo) *jsapi.ConsumerInfo {
	if info != nil && info.Config != nil {
		cfg := *info.Config
		cfg.Metadata = withServerLevel(cfg.Metadata)
		info.Config = &cfg
	}
	return info
}

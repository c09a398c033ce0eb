package jetstream

import (
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// The engine's figures for the monitoring port's /jsz (nats-server's
// JSInfo): usage, API counters and, on request, each stream's detail.
// Only the streams this server holds are counted, as nats-server counts
// the assets it hosts.

// Usage is what /jsz reports about the engine as a whole.
type Usage struct {
	// Memory and Store are the stored bytes of memory and file streams.
	Memory, Store uint64
	// Streams and Consumers count the streams and their consumers;
	// Messages and Bytes sum the streams' states.
	Streams, Consumers int
	Messages, Bytes    uint64
	// Replicated counts the replicated streams (nats-server's ha_assets
	// counts their raft groups), StreamsLeader those this node leads.
	Replicated, StreamsLeader int
	// APITotal and APIErrors count $JS.API requests and error replies.
	APITotal, APIErrors uint64
	// MaxMemory and MaxStore are the configured limits (<= 0: none).
	MaxMemory, MaxStore int64
	// StoreDir and the sync policy, for /jsz's config.
	StoreDir   string
	SyncAlways bool
}

// StreamReport is one stream's detail for /jsz: its info (config
// included) and, when asked for, its consumers' infos.
type StreamReport struct {
	Info      *jsapi.StreamInfo
	Consumers []*jsapi.ConsumerInfo
}

// Usage returns the engine's figures now.
func (e *Engine) Usage() Usage {
	u := Usage{
		APITotal: e.apiTotal.Load(), APIErrors: e.apiErrors.Load(),
		MaxMemory: e.o.MaxMemory, MaxStore: e.o.MaxStore,
		StoreDir: e.o.StoreDir, SyncAlways: e.o.Sync != log.SyncInterval,
	}
	self, clustered := uint64(0), false
	if cs := e.cl.Load(); cs != nil {
		self, clustered = cs.c.NodeID(), true
	}
	for _, st := range e.sortedStreams() {
		state := st.store.Reader().State()
		if st.Config().Storage == jsapi.MemoryStorage {
			u.Memory += state.Bytes
		} else {
			u.Store += state.Bytes
		}
		u.Streams++
		u.Consumers += st.cons.Count()
		u.Messages += state.Msgs
		u.Bytes += state.Bytes
		if st.repl != nil {
			u.Replicated++
			if id, ok := st.repl.Leader(); clustered && ok && id == self {
				u.StreamsLeader++
			}
		}
	}
	return u
}

// StreamReports describes every stream this server holds, sorted by name;
// with consumers, each with its consumers' infos.
func (e *Engine) StreamReports(consumers bool) []StreamReport {
	streams := e.sortedStreams()
	out := make([]StreamReport, 0, len(streams))
	for _, st := range streams {
		r := StreamReport{Info: st.info(nil)}
		if consumers {
			r.Consumers = st.cons.List()
		}
		out = append(out, r)
	}
	return out
}

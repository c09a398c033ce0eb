package jetstream

import (
	"github.com/bargemq/barge/codec/jsapi"
)

// Report is an engine's figures for monitoring: /jsz, /varz and the system
// account's JSZ (nats-server's JSInfo and AccountDetail). Streams placed on
// other nodes of a cluster are not in it: each server reports what it
// holds, as nats-server's do.
type Report struct {
	Memory, Store       uint64
	Streams, Consumers  int
	Messages, Bytes     uint64
	APITotal, APIErrors uint64
	// StreamsLeader counts the replicated streams this node leads.
	StreamsLeader int
	// Details are the streams' info, when asked for.
	Details []*jsapi.StreamInfo
}

// Report gathers the engine's figures; with details, each stream's info.
// Safe for concurrent use.
func (e *Engine) Report(details bool) Report {
	r := Report{APITotal: e.apiTotal.Load(), APIErrors: e.apiErrors.Load()}
	self, clustered := uint64(0), false
	if cs := e.cl.Load(); cs != nil {
		self, clustered = cs.c.NodeID(), true
	}
	for _, st := range e.sortedStreams() {
		s := st.store.Reader().State()
		if st.Config().Storage == jsapi.MemoryStorage {
			r.Memory += s.Bytes
		} else {
			r.Store += s.Bytes
		}
		r.Messages += s.Msgs
		r.Bytes += s.Bytes
		r.Streams++
		r.Consumers += st.cons.Count()
		if clustered && st.repl != nil {
			if id, ok := st.repl.Leader(); ok && id == self {
				r.StreamsLeader++
			}
		}
		if details {
			r.Details = append(r.Details, st.info(nil))
		}
	}
	return r
}

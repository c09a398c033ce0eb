package jetstream

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// An account's max_streams and max_consumers in a cluster. A member's
// registry holds only the streams with a replica on it, so the limits are
// counted in the meta shard, which holds every replicated (and, in a
// cluster, every R1 file) stream of the account and every consumer of
// those streams: a create is refused with nats-server's 10027 / 10026 when
// the account's count across the cluster is at the limit. Two creates racing
// on two members can both pass (each counts before the other's definition is
// written); nats-server's meta leader serializes them, barge's meta shard
// only serializes the writes.

// metaCountTimeout bounds a limit's count in the meta shard.
const metaCountTimeout = 5 * time.Second

// clusterStreamLimit refuses the create of a new stream name when the
// account has MaxStreams streams in the cluster already.
func (e *Engine) clusterStreamLimit(ctx context.Context, cs *clusterState, name string) *jsapi.APIError {
	max := e.o.MaxStreams
	if max <= 0 {
		return nil
	}
	vals, err := cs.c.MetaList(ctx, streamKeyPrefix)
	if err != nil {
		return jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail)
	}
	names := make(map[string]bool, len(vals))
	for _, v := range vals {
		var d replDef
		if json.Unmarshal(v, &d) == nil {
			names[d.Config.Name] = true
		}
	}
	for _, st := range e.sortedStreams() {
		names[st.name] = true // memory R1 streams are this node's own
	}
	if !names[name] && len(names) >= max {
		return jsapi.NewAPIError(jsapi.ErrCodeMaximumStreamsLimit)
	}
	return nil
}

// accountConsumerCount is the account's number of consumers for the
// max_consumers check: this node's own, or, in a cluster, those of the
// replicated streams counted in the meta shard (the request is served by
// the stream's leader, which may not have every other stream) plus those of
// this node's unreplicated streams, whichever is more.
func (e *Engine) accountConsumerCount() int {
	local := e.consumerCount()
	cs := e.cl.Load()
	if cs == nil {
		return local
	}
	ctx, cancel := context.WithTimeout(context.Background(), metaCountTimeout)
	defer cancel()
	vals, err := cs.c.MetaList(ctx, consumerKeyPrefix)
	if err != nil {
		return local
	}
	n := len(vals)
	for _, st := range e.sortedStreams() {
		if st.repl == nil {
			n += st.cons.Count()
		}
	}
	return max(n, local)
}

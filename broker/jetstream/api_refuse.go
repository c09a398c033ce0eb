package jetstream

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// Requests answered with an error before they reach their handler.

// refuseOversize answers a request over broker.MaxInternalMsg (the broker
// announced it without its body): nats-server's "bad request" (10003) with
// the sizes; a pull request gets a 400 status, a direct get 408, as for
// other requests they cannot parse.
func (e *Engine) refuseOversize(r *apiReq, s jsapi.APISubject) {
	e.log.Warn("jetstream: API request over the size limit refused", "subject", string(r.subject),
		"size", r.oversize, "limit", broker.MaxInternalMsg)
	switch s.Op {
	case jsapi.OpConsumerNext, jsapi.OpDirectGet, jsapi.OpDirectGetLast:
		e.apiErrors.Add(1)
		if len(r.reply) == 0 {
			return
		}
		status := jsapi.AppendBadRequest(nil, "Request Too Large")
		if s.Op != jsapi.OpConsumerNext {
			status = jsapi.AppendStatus(nil, 408, "Request Too Large")
		}
		e.sendStatus(r.reply, status)
	default:
		desc := "bad request: request of " + strconv.FormatInt(r.oversize, 10) +
			" bytes exceeds the JetStream API limit of " + strconv.Itoa(broker.MaxInternalMsg) + " bytes"
		e.respondErr(r.reply, s.Op.ResponseType(), &jsapi.APIError{Code: 400, ErrCode: jsapi.ErrCodeBadRequest, Description: desc})
	}
}

// Clustered engines before the meta shard leads.
//
// A node started with cluster_size (Options.Clustered) runs its streams
// through the cluster's meta shard, which exists only once cluster_size
// members have met (SetCluster) and has a leader only after an election.
// Until the meta shard has had a leader, an API request waits for one up
// to leaderWait and is then answered as nats-server answers while its meta
// group has none: 10008, "JetStream system temporarily unavailable". Pull
// requests and direct gets, which only read what this node holds, are
// served at once. (Before, a create received in that window was taken by
// the node as a standalone stream that no other member knew.) Later, while
// a new meta leader is elected, the requests that write the meta shard
// (stream create, and update or delete of a stream placed through it) wait
// and are refused the same way. The wait holds only the request's lane.

// metaReady latches once the meta shard has had a leader.
type metaReady struct{ seen atomic.Bool }

// refuseUnclustered waits for the meta shard when r needs it (see above)
// and, when it has no leader after leaderWait, answers r with 10008 and
// reports true.
func (e *Engine) refuseUnclustered(r *apiReq, s jsapi.APISubject) bool {
	if !e.o.Clustered || !e.needsMeta(s) || e.metaLed() {
		return false
	}
	timer := time.NewTimer(leaderWait)
	defer timer.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-timer.C:
			e.respondErr(r.reply, s.Op.ResponseType(), jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
			return true
		case <-e.quit:
			e.respondErr(r.reply, s.Op.ResponseType(), jsapi.NewAPIError(jsapi.ErrCodeNotEnabled))
			return true
		case <-tick.C:
			if e.metaLed() {
				return false
			}
		}
	}
}

// needsMeta reports whether the request s waits for the meta shard.
func (e *Engine) needsMeta(s jsapi.APISubject) bool {
	switch s.Op {
	case jsapi.OpConsumerNext, jsapi.OpDirectGet, jsapi.OpDirectGetLast:
		return false
	}
	if e.cl.Load() == nil || !e.ready.seen.Load() {
		return true // not clustered yet: nothing may be served
	}
	switch s.Op {
	case jsapi.OpStreamCreate:
		return true
	case jsapi.OpStreamUpdate, jsapi.OpStreamDelete:
		st := e.lookup(string(s.Stream))
		return st == nil || st.repl != nil // not a per-node stream
	}
	return false
}

// metaLed reports whether the meta shard has a leader now (and latches
// ready).
func (e *Engine) metaLed() bool {
	cs := e.cl.Load()
	if cs == nil {
		return false
	}
	if _, ok := cs.c.MetaLeader(); !ok {
		return false
	}
	e.ready.seen.Store(true)
	return true
}

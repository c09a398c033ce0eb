package jetstream

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// Forwarding to a replicated stream's leader.
//
// A replicated stream's consumers run on its raft leader (cluster_consumer.go),
// so the requests about it must reach that member whichever member the
// client is connected to. Every clustered node subscribes, with interest
// advertised over the routes (broker.SubscribeInternalRouted),
//
//	$BARGE.JS.FWD.<node id>.<hops>.<original subject>
//
// A node that gets a STREAM.* or CONSUMER.* request (pull requests
// included) for a replicated stream it does not lead sends it, with the
// client's reply subject, headers and body unchanged, to the leader's
// forwarding subject; a member that does not lead forwards to the leader it
// knows, a node that is not a member to one of the stream's members (which
// forwards again). The leader serves it as if its own client had sent it and
// answers the original reply subject: server deliveries follow route
// interest (broker.Server.Send), so the answer and the consumer's messages
// reach the client on its own node. Acks ($JS.ACK.<stream>.…) and push
// flow-control replies ($JS.FC.<stream>.…) published on a node whose
// consumers are passive take the same way. <hops> counts the forwards: a
// request that was forwarded maxHops times is served where it lands (an
// error reply at worst), so a leadership change in flight cannot make it
// circle. A member that does not know the leader yet (an election) holds
// the request up to leaderWait before forwarding it, then answers 10008.

const (
	fwdPrefix = "$BARGE.JS.FWD."
	// maxHops is the most forwards a request takes: non-member → member →
	// leader.
	maxHops = 2
	// leaderWait bounds how long a request waits for a stream leader.
	leaderWait = 5 * time.Second
)

// forwarder is the clustered engine's forwarding state (one per SetCluster).
type forwarder struct {
	self uint64
	// ctx ends when the engine stops being clustered (Close): reads of
	// the meta shard give up then.
	ctx  context.Context
	subs []*broker.Subscription
	done chan struct{} // closed when the leadership loop returned

	// mu guards members.
	mu sync.Mutex
	// members are the replicated streams' members (sorted node ids), from
	// the last read of the meta shard.
	members map[string][]uint64
}

// startForwarding subscribes this node's forwarding subject and the ack and
// flow-control subjects of streams led elsewhere.
func (e *Engine) startForwarding(ctx context.Context, cs *clusterState) *forwarder {
	fw := &forwarder{self: cs.c.NodeID(), ctx: ctx, done: make(chan struct{}), members: make(map[string][]uint64)}
	subj := fwdPrefix + strconv.FormatUint(fw.self, 10) + ".>"
	if sub, err := e.srv.SubscribeInternalRouted(subj, e.onForwarded); err == nil {
		fw.subs = append(fw.subs, sub)
	} else {
		e.log.Error("jetstream: forwarding not subscribed", "err", err)
	}
	for _, p := range []string{jsapi.AckPrefix + ">", jsapi.FlowControlPrefix + ">"} {
		if sub, err := e.srv.SubscribeInternal(p, "", e.onLocalAck); err == nil {
			fw.subs = append(fw.subs, sub)
		}
	}
	return fw
}

// stopForwarding drops the subscriptions.
func (e *Engine) stopForwarding(fw *forwarder) {
	for _, sub := range fw.subs {
		_ = e.srv.UnsubscribeInternal(sub)
	}
}

// noteMembers records the replicated streams' members read from the meta
// shard (cluster.go's poll).
func (fw *forwarder) noteMembers(defs map[string]map[uint64]string) {
	m := make(map[string][]uint64, len(defs))
	for name, mem := range defs {
		ids := make([]uint64, 0, len(mem))
		for id := range mem {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		m[name] = ids
	}
	fw.mu.Lock()
	fw.members = m
	fw.mu.Unlock()
}

// memberOf returns a member of the replicated stream name (the lowest id),
// or false when no such stream is known.
func (fw *forwarder) memberOf(name string) (uint64, bool) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	ids := fw.members[name]
	if len(ids) == 0 {
		return 0, false
	}
	return ids[0], true
}

// fwdSubject is node's forwarding subject for subject after hops forwards.
func fwdSubject[S ~string | ~[]byte](node uint64, hops int, subject S) []byte {
	b := make([]byte, 0, len(fwdPrefix)+24+len(subject))
	b = append(b, fwdPrefix...)
	b = strconv.AppendUint(b, node, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(hops), 10)
	b = append(b, '.')
	return append(b, subject...)
}

// forward sends a request or ack to node's forwarding subject.
func (e *Engine) forward(node uint64, hops int, subject, reply, hdr, data []byte) bool {
	to := fwdSubject(node, hops, subject)
	if len(hdr) == 0 {
		hdr = nil
	}
	return e.srv.Send(&broker.Delivery{To: to, Reply: reply, Hdr: hdr, Body: data}) > 0
}

// onForwarded receives what another member forwarded to this node. It runs
// on a route's reading goroutine and does not block.
func (e *Engine) onForwarded(m *broker.InternalMsg) {
	rest := m.Subject[len(fwdPrefix):]
	i := bytes.IndexByte(rest, '.')
	if i < 0 {
		return
	}
	rest = rest[i+1:]
	j := bytes.IndexByte(rest, '.')
	if j < 0 {
		return
	}
	hops, err := strconv.Atoi(string(rest[:j]))
	if err != nil {
		return
	}
	orig := rest[j+1:]
	switch {
	case bytes.HasPrefix(orig, []byte(jsapi.AckPrefix)), bytes.HasPrefix(orig, []byte(jsapi.FlowControlPrefix)):
		e.routeAck(orig, m.Reply, m.Hdr, m.Data, hops)
	case bytes.HasPrefix(orig, []byte("$JS.")):
		e.api.enqueueHops(&broker.InternalMsg{Subject: orig, Reply: m.Reply, Hdr: m.Hdr, Data: m.Data, Perms: readPermsOf(m.Hdr)}, hops)
	}
}

// onLocalAck sees every ack and flow-control reply published on this node.
func (e *Engine) onLocalAck(m *broker.InternalMsg) {
	e.routeAck(m.Subject, m.Reply, m.Hdr, m.Data, 0)
}

// routeAck gets an ack or flow-control reply to the member running its
// consumer: the local set (its own subscription already has a local one),
// else the stream's leader or, from a non-member, one of its members.
func (e *Engine) routeAck(subject, reply, hdr, data []byte, hops int) {
	stream := ackStream(subject)
	if stream == nil {
		return
	}
	cs := e.cl.Load()
	if cs == nil || cs.fw == nil {
		return
	}
	st := e.lookup(string(stream))
	if st != nil && (st.repl == nil || st.cons.Active()) {
		if hops > 0 {
			st.cons.HandleAck(subject, reply, data)
		}
		return
	}
	if hops >= maxHops {
		return
	}
	var to uint64
	if st != nil {
		leader, ok := st.repl.Leader()
		if !ok || leader == cs.fw.self {
			return // no leader yet, or it has not started its consumers: redelivered later
		}
		to = leader
	} else {
		m, ok := cs.fw.memberOf(string(stream))
		if !ok || m == cs.fw.self {
			return
		}
		to = m
	}
	e.forward(to, hops+1, subject, reply, hdr, data)
}

// ackStream is the stream token of $JS.ACK.<stream>.… or $JS.FC.<stream>.….
func ackStream(subject []byte) []byte {
	var rest []byte
	switch {
	case bytes.HasPrefix(subject, []byte(jsapi.AckPrefix)):
		rest = subject[len(jsapi.AckPrefix):]
	case bytes.HasPrefix(subject, []byte(jsapi.FlowControlPrefix)):
		rest = subject[len(jsapi.FlowControlPrefix):]
	default:
		return nil
	}
	if i := bytes.IndexByte(rest, '.'); i > 0 {
		return rest[:i]
	}
	return nil
}

// forwardedOp reports whether op names a stream whose leader should serve it.
func forwardedOp(op jsapi.Op) bool {
	switch op {
	case jsapi.OpStreamUpdate, jsapi.OpStreamInfo, jsapi.OpStreamDelete, jsapi.OpStreamPurge,
		jsapi.OpMsgGet, jsapi.OpMsgDelete, jsapi.OpDirectGet, jsapi.OpDirectGetLast,
		jsapi.OpConsumerCreate, jsapi.OpDurableCreate, jsapi.OpConsumerInfo, jsapi.OpConsumerDelete,
		jsapi.OpConsumerNames, jsapi.OpConsumerList, jsapi.OpConsumerNext, jsapi.OpStreamLeaderStepDown,
		jsapi.OpConsumerPause, jsapi.OpConsumerUnpin, jsapi.OpConsumerReset, jsapi.OpStreamSnapshot:
		return true
	}
	return false
}

// consumerOp reports whether op is served by the stream's consumers.
func consumerOp(op jsapi.Op) bool {
	switch op {
	case jsapi.OpConsumerCreate, jsapi.OpDurableCreate, jsapi.OpConsumerInfo, jsapi.OpConsumerDelete,
		jsapi.OpConsumerNames, jsapi.OpConsumerList, jsapi.OpConsumerNext, jsapi.OpConsumerPause, jsapi.OpConsumerUnpin,
		jsapi.OpConsumerReset:
		return true
	}
	return false
}

// forwardAPI sends r to the leader of the replicated stream it is about
// when this node does not lead it, and reports whether it did (or will:
// a request waiting for an election). On the leader it makes sure the
// consumers run before a consumer request is served.
func (e *Engine) forwardAPI(r *apiReq, s jsapi.APISubject) bool {
	cs := e.cl.Load()
	if cs == nil || cs.fw == nil || !forwardedOp(s.Op) || len(s.Stream) == 0 {
		return false
	}
	name := string(s.Stream)
	st := e.lookup(name)
	if st != nil && st.repl == nil {
		return false // R1: served where it is
	}
	if st == nil {
		to, ok := cs.fw.memberOf(name)
		if !ok || to == cs.fw.self || r.hops >= maxHops {
			return false
		}
		e.forwardReq(to, r, s.Op)
		return true
	}
	if s.Op == jsapi.OpDirectGet || s.Op == jsapi.OpDirectGetLast {
		return false // every replica has the messages
	}
	leader, ok := st.repl.Leader()
	switch {
	case ok && leader == cs.fw.self:
		if consumerOp(s.Op) || s.Op == jsapi.OpStreamSnapshot {
			e.activateConsumers(st)
		}
		return false
	case r.hops >= maxHops:
		return false
	case !ok:
		go e.forwardWhenLed(st, *r)
		return true
	}
	e.forwardReq(leader, r, s.Op)
	return true
}

// forwardReq forwards r to node; when no route leads there (the node is
// gone, or its interest has not arrived yet) r is answered 10008, except a
// pull request, which its client retries.
func (e *Engine) forwardReq(node uint64, r *apiReq, op jsapi.Op) {
	hdr := r.hdr
	if r.perms != nil {
		hdr = withReadPerms(hdr, r.perms)
	}
	if e.forward(node, r.hops+1, r.subject, r.reply, hdr, r.data) || op == jsapi.OpConsumerNext {
		return
	}
	e.respondErr(r.reply, op.ResponseType(), jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
}

// forwardWhenLed waits for st to have a leader and queues r again (it is
// then served here or forwarded); after leaderWait r is answered 10008.
// r's slices belong to r alone (apiQueue.enqueue copies every request).
func (e *Engine) forwardWhenLed(st *stream, r apiReq) {
	ctx, cancel := context.WithTimeout(context.Background(), leaderWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, ok := st.repl.Leader(); ok {
			e.api.enqueueHops(&broker.InternalMsg{Subject: r.subject, Reply: r.reply, Hdr: r.hdr, Data: r.data, Perms: r.perms}, r.hops)
			return
		}
		select {
		case <-ctx.Done():
			s, _ := jsapi.ParseAPISubject(r.subject)
			if s.Op != jsapi.OpConsumerNext {
				e.respondErr(r.reply, s.Op.ResponseType(), jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
			}
			return
		case <-tick.C:
		}
	}
}

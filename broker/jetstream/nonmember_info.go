package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// The state of streams placed elsewhere, asked of their leaders.
//
// STREAM.LIST and $JS.API.INFO on a node without a replica of a stream take
// its numbers from the stream's leader: the node sends STREAM.INFO through
// forwarding (to a member, which forwards it to the leader) with a reply
// subject of its own,
//
//	$BARGE.JS.RPL.<node id>.<call id>
//
// subscribed with route interest, and waits up to remoteInfoWait for every
// answer. A stream whose leader does not answer in time is listed with its
// definition and an empty state. A replicated mirror or source led by
// another member is listed the same way, from its leader: its copying, and
// so its lag and activity, run there. These requests run on a goroutine of
// their own, not on the API worker, so two nodes listing each other's
// streams do not wait on each other.

const (
	rplPrefix      = "$BARGE.JS.RPL."
	remoteInfoWait = 2 * time.Second
)

// remoteCalls matches the answers to this node's internal requests.
type remoteCalls struct {
	prefix []byte // $BARGE.JS.RPL.<self>.
	sub    *broker.Subscription
	next   atomic.Uint64
	// mu guards waiting: call id → where its answer goes (capacity 1).
	mu      sync.Mutex
	waiting map[uint64]chan []byte
}

// startRemoteCalls subscribes this node's reply subjects.
func (e *Engine) startRemoteCalls(self uint64) *remoteCalls {
	rc := &remoteCalls{prefix: []byte(rplPrefix + strconv.FormatUint(self, 10) + "."), waiting: make(map[uint64]chan []byte)}
	sub, err := e.srv.SubscribeInternalRouted(string(rc.prefix)+"*", rc.onReply)
	if err != nil {
		e.log.Error("jetstream: remote replies not subscribed", "err", err)
		return rc
	}
	rc.sub = sub
	return rc
}

// stop drops the subscription.
func (e *Engine) stopRemoteCalls(rc *remoteCalls) {
	if rc != nil && rc.sub != nil {
		_ = e.srv.UnsubscribeInternal(rc.sub)
	}
}

// onReply hands an answer to its waiting call (a late one is dropped).
func (rc *remoteCalls) onReply(m *broker.InternalMsg) {
	if !bytes.HasPrefix(m.Subject, rc.prefix) {
		return
	}
	id, err := strconv.ParseUint(string(m.Subject[len(rc.prefix):]), 10, 64)
	if err != nil {
		return
	}
	rc.mu.Lock()
	ch := rc.waiting[id]
	delete(rc.waiting, id)
	rc.mu.Unlock()
	if ch != nil {
		ch <- bytes.Clone(m.Data)
	}
}

// remoteStreamInfo asks stream name's leader for its info, through the
// first of nodes (sorted) that a route leads to; nil when no answer came
// before ctx ended or the answer was an error.
func (e *Engine) remoteStreamInfo(ctx context.Context, cs *clusterState, name string, nodes []uint64) *jsapi.StreamInfo {
	b := e.remoteAPI(ctx, cs, "STREAM.INFO."+name, nodes)
	if b == nil {
		return nil
	}
	var resp jsapi.StreamInfoResponse
	if json.Unmarshal(b, &resp) != nil || resp.Error != nil || resp.StreamInfo == nil {
		return nil
	}
	return resp.StreamInfo
}

// remoteAPI sends the API request $JS.API.<api> (no body) through the
// first of nodes that a route leads to and returns the answer; nil when
// none came before ctx ended.
func (e *Engine) remoteAPI(ctx context.Context, cs *clusterState, api string, nodes []uint64) []byte {
	rc := cs.calls
	if rc == nil || rc.sub == nil || len(nodes) == 0 {
		return nil
	}
	id := rc.next.Add(1)
	ch := make(chan []byte, 1)
	rc.mu.Lock()
	rc.waiting[id] = ch
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		delete(rc.waiting, id)
		rc.mu.Unlock()
	}()
	reply := strconv.AppendUint(bytes.Clone(rc.prefix), id, 10)
	subject := []byte(jsapi.APIPrefix + api)
	sent := false
	for _, m := range nodes {
		if e.forward(m, 1, subject, reply, nil, nil) {
			sent = true
			break
		}
	}
	if !sent {
		return nil
	}
	select {
	case b := <-ch:
		return b
	case <-ctx.Done():
		return nil
	}
}

// listedInfos returns the infos of ls: local streams' own, those placed
// elsewhere, and the replicated mirrors and sources led elsewhere (whose
// copying, and so its lag and activity, runs on their leader), from their
// leaders, asked in parallel (the definition with an empty state, or this
// replica's info, when one does not answer within remoteInfoWait).
func (e *Engine) listedInfos(ls []listedStream) []*jsapi.StreamInfo {
	out := make([]*jsapi.StreamInfo, len(ls))
	cs := e.cl.Load()
	ctx, cancel := context.WithTimeout(context.Background(), remoteInfoWait)
	defer cancel()
	var wg sync.WaitGroup
	for i := range ls {
		var nodes []uint64
		switch {
		case cs == nil:
		case ls[i].remote != nil:
			nodes = sortedIDs(ls[i].remote.def.Members)
		case ls[i].st != nil:
			if leader, ok := ls[i].st.feedsLedElsewhere(cs); ok {
				nodes = []uint64{leader}
			}
		}
		if len(nodes) == 0 {
			out[i] = e.listedInfo(&ls[i])
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if si := e.remoteStreamInfo(ctx, cs, ls[i].name, nodes); si != nil {
				out[i] = si
			} else {
				out[i] = e.listedInfo(&ls[i])
			}
		}(i)
	}
	wg.Wait()
	return out
}

// anyRemote reports whether some entry of ls is placed elsewhere, or is a
// mirror or source led elsewhere.
func (e *Engine) anyRemote(ls []listedStream) bool {
	cs := e.cl.Load()
	for i := range ls {
		if ls[i].remote != nil {
			return true
		}
		if cs != nil && ls[i].st != nil {
			if _, ok := ls[i].st.feedsLedElsewhere(cs); ok {
				return true
			}
		}
	}
	return false
}

// feedsLedElsewhere reports the leader of s when s is a replicated mirror
// or source led by another node: its copying, and the lag and activity
// its info shows, are that node's.
func (s *stream) feedsLedElsewhere(cs *clusterState) (uint64, bool) {
	if s.repl == nil {
		return 0, false
	}
	s.mu.Lock()
	feeds := len(s.mu.feeds)
	s.mu.Unlock()
	if feeds == 0 {
		return 0, false
	}
	leader, ok := s.repl.Leader()
	return leader, ok && leader != cs.c.NodeID()
}

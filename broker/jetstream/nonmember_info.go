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
// definition and an empty state. These requests run on a goroutine of
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

// remoteStreamInfo asks rs's leader for its info; nil when no answer came
// before ctx ended or the answer was an error.
func (e *Engine) remoteStreamInfo(ctx context.Context, cs *clusterState, rs *remoteStream) *jsapi.StreamInfo {
	rc := cs.calls
	if rc == nil || rc.sub == nil || len(rs.def.Members) == 0 {
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
	subject := []byte(jsapi.APIPrefix + "STREAM.INFO." + rs.def.Config.Name)
	sent := false
	for _, m := range sortedIDs(rs.def.Members) {
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
		var resp jsapi.StreamInfoResponse
		if json.Unmarshal(b, &resp) != nil || resp.Error != nil || resp.StreamInfo == nil {
			return nil
		}
		return resp.StreamInfo
	case <-ctx.Done():
		return nil
	}
}

// listedInfos returns the infos of ls: local streams' own, those placed
// elsewhere from their leaders, asked in parallel (the definition with an
// empty state when one does not answer within remoteInfoWait).
func (e *Engine) listedInfos(ls []listedStream) []*jsapi.StreamInfo {
	out := make([]*jsapi.StreamInfo, len(ls))
	cs := e.cl.Load()
	ctx, cancel := context.WithTimeout(context.Background(), remoteInfoWait)
	defer cancel()
	var wg sync.WaitGroup
	for i := range ls {
		if ls[i].st != nil || cs == nil {
			out[i] = e.listedInfo(&ls[i])
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if si := e.remoteStreamInfo(ctx, cs, ls[i].remote); si != nil {
				out[i] = si
			} else {
				out[i] = e.listedInfo(&ls[i])
			}
		}(i)
	}
	wg.Wait()
	return out
}

// anyRemote reports whether some entry of ls is placed elsewhere.
func anyRemote(ls []listedStream) bool {
	for i := range ls {
		if ls[i].remote != nil {
			return true
		}
	}
	return false
}

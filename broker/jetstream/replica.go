package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// replicaCurrentWithin is how recent a replica's last progress report
// must be for stream info to call it current (reports come every second
// while the stream is busy, every 5 s when idle).
const replicaCurrentWithin = 10 * time.Second

// clusterInfo is stream info's "cluster": the leader, and the other
// replicas with what they last reported through the raft log (see
// Replica.Progress): lag is how many entries a replica was behind when its
// report committed, active the time since it sent it, current a recent
// report with no lag.
func (s *stream) clusterInfo() *jsapi.ClusterInfo {
	cs := s.e.cl.Load()
	if cs == nil {
		return nil
	}
	ci := &jsapi.ClusterInfo{Name: s.e.o.ClusterName, RaftGroup: s.name}
	leader, ok := s.repl.Leader()
	if ok {
		ci.Leader = cs.c.NodeName(leader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d, err := s.e.replDefOf(ctx, cs, s.name)
	if err != nil || d == nil {
		return ci
	}
	reports := make(map[uint64]ReplicaProgress)
	for _, p := range s.repl.Progress() {
		reports[p.Node] = p
	}
	now := s.e.o.Clock.Now()
	ids := make([]uint64, 0, len(d.Members))
	for id := range d.Members {
		if !ok || id != leader {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		pi := &jsapi.PeerInfo{Name: cs.c.NodeName(id), Peer: fmt.Sprint(id)}
		if r, ok := reports[id]; ok {
			pi.Lag = r.Lag
			pi.Active = max(now.Sub(r.Reported), 0)
			pi.Current = r.Lag == 0 && pi.Active < replicaCurrentWithin
		}
		ci.Replicas = append(ci.Replicas, pi)
	}
	return ci
}

// replDefOf reads stream name's definition from the meta shard (nil when
// it has none).
func (e *Engine) replDefOf(ctx context.Context, cs *clusterState, name string) (*replDef, error) {
	vals, err := cs.c.MetaList(ctx, streamKeyPrefix+name)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		var d replDef
		if json.Unmarshal(v, &d) == nil && d.Config.Name == name {
			return &d, nil
		}
	}
	return nil, nil
}

// updateReplicated answers STREAM.UPDATE of a replicated stream with R1's
// validation and refusals (num_replicas cannot change: 10061). The new
// limits go through the stream's raft log, so every replica applies them
// at the same point of it and decides what follows alike; then the
// definition is rewritten in the meta shard, from which every member takes
// the rest (subjects, retention, dedup window...) at its next poll. This
// node applies it at once.
func (e *Engine) updateReplicated(r *apiReq, cs *clusterState, st *stream, req *jsapi.StreamConfig) {
	typ := jsapi.TypeStreamUpdateResponse
	r1 := *req
	r1.Replicas = 1
	cfg, apiErr := checkConfig(&r1, e.maxPayload.Load())
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	cfg.Replicas = req.Replicas
	if apiErr := persistModeErr(&cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if cfg.Name != st.name {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamMismatch))
		return
	}
	if apiErr := e.checkFeedStreams(&cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	old := st.Config()
	if cfg, apiErr = checkUpdate(old, cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if e.overlaps(cfg.Name, cfg.Subjects) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamSubjectOverlap))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if logConfig(&old) != logConfig(&cfg) {
		if err := st.repl.UpdateConfig(ctx, logConfig(&cfg)); err != nil {
			e.respondErr(r.reply, typ, e.internalErr(jsapi.ErrCodeStreamUpdate, st.name, "replicated stream update", err))
			return
		}
	}
	d, err := e.replDefOf(ctx, cs, st.name)
	if err != nil || d == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
		return
	}
	d.Config = cfg
	b, _ := json.Marshal(d)
	if err := cs.c.MetaPut(ctx, streamKeyPrefix+st.name, b, false); err != nil {
		e.log.Error("jetstream: stream update: meta shard write failed", "stream", st.name, "err", err)
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
		return
	}
	if apiErr := e.applyReplicatedConfig(st, cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.StreamUpdateResponse{APIResponse: jsapi.APIResponse{Type: typ}, StreamInfo: st.info(nil)})
}

// applyReplicatedConfig makes cfg (from the meta shard, or an update this
// node made) st's config on this node: meta.json, the stream's config and
// its subjects. The log's limits are not touched: they change through the
// raft log (Replica.UpdateConfig).
func (e *Engine) applyReplicatedConfig(st *stream, cfg jsapi.StreamConfig) *jsapi.APIError {
	// e.mu is held across the meta.json write too: the update handler and
	// the meta poll may apply a config at once, and both write the same
	// temporary file.
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.writeMeta(st.dir, &streamMeta{Config: cfg, Created: st.created, Replicated: true}); err != nil {
		return e.internalErr(jsapi.ErrCodeStreamUpdate, st.name, "stream update", err)
	}
	old := st.Config()
	st.mu.Lock()
	st.setConfigLocked(cfg)
	st.mu.Unlock()
	st.kickExpirer()
	if !reflect.DeepEqual(old.Subjects, cfg.Subjects) && e.mu.streams[st.name] == st {
		e.unregisterLocked(st)
		if err := e.registerLocked(st); err != nil {
			e.log.Error("jetstream: re-index stream subjects", "stream", st.name, "err", err)
		}
	}
	st.cons.StreamChanged()
	return nil
}

// sameConfig reports whether two configs encode alike (a config read back
// from JSON may differ from the original in nil-versus-empty only).
func sameConfig(a, b *jsapi.StreamConfig) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

// replAcks coalesces the PubAcks of replicated publishes: each publish
// finishes on its own goroutine, and writing each ack alone cost a system
// call per message (a quarter of a proposing node's CPU at 1 KiB). Acks
// are queued and one goroutine at a time sends everything queued through
// an OutBatch, so the acks that complete together (one raft batch entry)
// leave in one write per connection.
type replAcks struct {
	// mu guards queue and running.
	mu      sync.Mutex
	queue   []queuedAck
	running bool            // a goroutine is sending the queue
	ob      broker.OutBatch // the sending goroutine's
}

type queuedAck struct {
	st    *stream
	reply []byte
	seq   uint64
	dup   bool
}

// queuePubAck sends a PubAck for seq to reply through the engine's ack
// coalescer (at once when the engine is not clustered).
func (e *Engine) queuePubAck(st *stream, reply []byte, seq uint64, dup bool) {
	cs := e.cl.Load()
	if len(reply) == 0 {
		return
	}
	if cs == nil {
		e.sendPubAck(reply, st, seq, dup)
		return
	}
	a := &cs.acks
	a.mu.Lock()
	a.queue = append(a.queue, queuedAck{st, reply, seq, dup})
	if a.running {
		a.mu.Unlock()
		return
	}
	a.running = true
	a.mu.Unlock()
	go e.sendQueuedAcks(a)
}

// sendQueuedAcks sends the queue until it is empty.
func (e *Engine) sendQueuedAcks(a *replAcks) {
	var batch []queuedAck
	for {
		a.mu.Lock()
		batch, a.queue = a.queue, batch[:0]
		if len(batch) == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		for i, q := range batch {
			e.sendPubAckIn(&a.ob, q.reply, q.st, q.seq, q.dup)
			batch[i] = queuedAck{}
		}
		a.ob.Flush()
	}
}

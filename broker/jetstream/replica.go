package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// replSpillAt is the size past which a replicated publish's body is spooled
// to a file in the stream's directory instead of memory, so a large message
// costs bounded memory on its way to raft (which reads it back a chunk at a
// time). replMemBudget is how much of the stream's queued bodies may be in
// memory: past it, a body over replInline is spooled too.
const (
	replSpillAt   = 1 << 20
	replMemBudget = 8 << 20
	replInline    = 64 << 10
)

// replPublishTimeout bounds one replicated publish, retries included.
const replPublishTimeout = 2 * time.Minute

// OrderedReplica is a Replica that also takes publishes without blocking,
// stored in the order they are submitted (the app's raft replica is one).
// A publisher's event loop submits its messages in wire order, so a
// connection's publishes keep their order, as on R1.
type OrderedReplica interface {
	// Submit queues m after every message submitted before it and returns
	// at once; done is called once, from another goroutine, with what
	// Publish would return, and must not block. A body that implements
	// Bytes() []byte (a *bytes.Buffer) is handed over as it is; another
	// is read until done.
	Submit(m *ReplicaMsg, done func(seq uint64, err error))
	// QueuedBytes is the payload of submitted messages held in memory.
	QueuedBytes() int64
}

// openReplicaStream builds a stream over a raft replica's log: the same
// stream type, consumers and reads as R1, with repl owning the log.
func (e *Engine) openReplicaStream(dir string, cfg jsapi.StreamConfig, created time.Time, repl Replica) (*stream, error) {
	l := repl.Log()
	if l == nil {
		return nil, errors.New("jetstream: replica log not open")
	}
	st := &stream{e: e, name: cfg.Name, dir: dir, created: created, repl: repl, log: l}
	st.mu.cfg = cfg
	set, err := consumer.NewSet(consumer.Env{Server: e.srv, Clock: e.o.Clock, Logger: e.log.With("stream", cfg.Name),
		Store: e.consumerStoreFor(cfg.Name)}, st, filepath.Join(dir, consumersDir))
	if err != nil {
		return nil, fmt.Errorf("consumers: %w", err)
	}
	st.cons = set
	return st, nil
}

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
	if cfg.Name != st.name {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamMismatch))
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
	st.mu.cfg = cfg
	st.mu.Unlock()
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

// captureReplicated takes a publish into a replicated stream: the body is
// collected (in memory up to replSpillAt while the stream's queued bodies
// are under replMemBudget, else in a spool file) on the publisher's event
// loop, and at End it is checked and submitted to the replica's ordered
// queue (OrderedReplica), so a connection's messages are stored in the
// order it sent them; the replica reads the body back a chunk at a time,
// and the PubAck follows the quorum's apply. The rules that depend only
// on the config and the message run at End (precheckLocked, as for R1);
// every rule is decided at apply, in raft order, by the replica log's
// publishRules (rules.go).
func (e *Engine) captureReplicated(st *stream, subject, reply []byte, hdrLen, size int) broker.Capture {
	memMax := replSpillAt
	if or, ok := st.repl.(OrderedReplica); ok && or.QueuedBytes() > replMemBudget {
		memMax = replInline
	}
	return &rpub{e: e, st: st, subject: string(subject), reply: append([]byte(nil), reply...), size: size, memMax: memMax}
}

// rpub is one publish into a replicated stream; its methods run on the
// publisher's event loop in wire order, then End hands it to the replica.
type rpub struct {
	e       *Engine
	st      *stream
	subject string
	reply   []byte
	hdr     []byte
	size    int
	memMax  int // body bytes kept in memory before spooling
	mem     []byte
	spool   *os.File
	err     error // a spool write failed: reply an error at End
}

// Headers keeps a copy of the header block.
func (p *rpub) Headers(hdr []byte) { p.hdr = append(p.hdr[:0], hdr...) }

// Write collects one body piece.
func (p *rpub) Write(piece []byte) {
	if p.err != nil {
		return
	}
	if p.spool == nil && len(p.mem)+len(piece) <= p.memMax {
		if p.mem == nil {
			p.mem = make([]byte, 0, min(p.size, p.memMax))
		}
		p.mem = append(p.mem, piece...)
		return
	}
	if p.spool == nil {
		f, err := os.CreateTemp(p.st.dir, "pub-*.spool")
		if err != nil {
			p.err = err
			return
		}
		p.spool = f
		if _, err := f.Write(p.mem); err != nil {
			p.err = err
			return
		}
		p.mem = nil
	}
	if _, err := p.spool.Write(piece); err != nil {
		p.err = err
	}
}

// End checks the message and submits it to the replica's ordered queue
// (on the event loop: it does not block on raft); a replica without one
// gets it from a goroutine.
func (p *rpub) End() {
	or, ok := p.st.repl.(OrderedReplica)
	if !ok {
		go p.publish()
		return
	}
	m, apiErr := p.message()
	if apiErr != nil {
		p.cleanup()
		p.e.sendPubAckError(p.reply, p.st, apiErr)
		return
	}
	if p.spool == nil {
		m.Body = bytes.NewBuffer(p.mem) // handed over
		p.mem = nil
	}
	or.Submit(m, p.finish)
}

// Abort drops what was collected: nothing is proposed.
func (p *rpub) Abort() { p.cleanup() }

func (p *rpub) cleanup() {
	if p.spool != nil {
		name := p.spool.Name()
		p.spool.Close()
		os.Remove(name)
		p.spool = nil
	}
}

// check runs the early rules (precheckLocked, as for R1).
func (p *rpub) check() *jsapi.APIError {
	var h pubHeaders
	st := p.st
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.precheckLocked(p.hdr, p.size, &h)
}

// message builds the ReplicaMsg (checked; the body rewound when spooled).
func (p *rpub) message() (*ReplicaMsg, *jsapi.APIError) {
	if p.err != nil {
		return nil, p.e.internalErr(jsapi.ErrCodeStreamStoreFailed, p.st.name, "spool message", p.err)
	}
	if apiErr := p.check(); apiErr != nil {
		return nil, apiErr
	}
	m := &ReplicaMsg{Subject: p.subject, Hdr: p.hdr}
	m.Body, m.Size = bytes.NewReader(p.mem), int64(len(p.mem))
	if p.spool != nil {
		off, err := p.spool.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = p.spool.Seek(0, io.SeekStart)
		}
		if err != nil {
			return nil, p.e.internalErr(jsapi.ErrCodeStreamStoreFailed, p.st.name, "spool message", err)
		}
		m.Body, m.Size = p.spool, off
	}
	return m, nil
}

// publish replicates the message through Replica.Publish and replies (a
// replica without an ordered queue).
func (p *rpub) publish() {
	m, apiErr := p.message()
	if apiErr != nil {
		p.cleanup()
		p.e.sendPubAckError(p.reply, p.st, apiErr)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), replPublishTimeout)
	defer cancel()
	p.finish(p.st.repl.Publish(ctx, m))
}

// finish sends the PubAck or the error, as R1 would, and drops the spool.
// It does not block (the replica's pipeline calls it).
func (p *rpub) finish(seq uint64, err error) {
	p.cleanup()
	reply := p.reply
	if p.st.Config().NoAck {
		reply = nil
	}
	var ce *log.CheckError
	switch {
	case err == nil:
		p.st.cons.StreamChanged()
		p.e.queuePubAck(p.st, reply, seq, false)
	case errors.As(err, &ce):
		if dup, orig, apiErr := refusalAnswer(ce); dup {
			p.e.queuePubAck(p.st, reply, orig, true)
		} else {
			p.e.sendPubAckError(p.reply, p.st, apiErr)
		}
	case errors.Is(err, context.DeadlineExceeded):
		p.e.sendPubAckError(p.reply, p.st, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
	default:
		p.e.sendPubAckError(p.reply, p.st, p.e.storeError(p.st.name, err))
	}
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

// logDelete removes seq: through raft on every replica for a replicated
// stream, from the local log for R1.
func (s *stream) logDelete(seq uint64) error {
	if s.repl == nil {
		return s.log.Delete(seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.repl.Delete(ctx, seq)
}

// logPurge purges through raft for a replicated stream, locally for R1.
func (s *stream) logPurge(req log.PurgeRequest) (uint64, error) {
	if s.repl == nil {
		return s.log.Purge(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.repl.Purge(ctx, req)
}

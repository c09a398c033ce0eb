package app

import (
	"context"
	"errors"
	"time"

	"github.com/bargemq/barge/broker/jetstream"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/raft"
)

// jsRaft implements jetstream.Cluster over this node's raft host and meta
// shard.
type jsRaft struct {
	a    *App
	host *raft.NodeHost
	meta *raft.MetaShard
}

var _ jetstream.Cluster = (*jsRaft)(nil)

// NodeID is this node's raft replica id.
func (j *jsRaft) NodeID() uint64 { return j.host.NodeID() }

// Members returns the meta shard's voting members.
func (j *jsRaft) Members(ctx context.Context) (map[uint64]string, error) {
	return j.host.Members(ctx, MetaShardID)
}

// NodeName is the server name of node id: this server's, or a route peer's
// from its INFO; "" when unknown.
func (j *jsRaft) NodeName(id uint64) string {
	if id == j.host.NodeID() {
		if j.a.cfg.ServerName != "" {
			return j.a.cfg.ServerName
		}
		return j.a.broker.ID()
	}
	for _, p := range j.a.cluster.Peers() {
		if p.NodeID == id {
			return p.Name
		}
	}
	return ""
}

// MetaLeader is the meta shard's leader, if known.
func (j *jsRaft) MetaLeader() (uint64, bool) { return j.meta.Leader() }

// MetaPut stores value under key (create: only when absent).
func (j *jsRaft) MetaPut(ctx context.Context, key string, value []byte, create bool) error {
	var ifRev uint64
	if create {
		ifRev = raft.MustNotExist
	}
	_, err := j.meta.Put(ctx, key, value, ifRev)
	if errors.Is(err, raft.ErrRevision) {
		return jetstream.ErrMetaExists
	}
	return err
}

// MetaList returns the values under prefix.
func (j *jsRaft) MetaList(ctx context.Context, prefix string) ([][]byte, error) {
	docs, err := j.meta.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = d.Value
	}
	return out, nil
}

// MetaDelete removes key.
func (j *jsRaft) MetaDelete(ctx context.Context, key string) error {
	err := j.meta.Delete(ctx, key, 0)
	if errors.Is(err, raft.ErrNoDoc) {
		return nil
	}
	return err
}

// StartReplica starts this node's replica of a stream shard, its log
// deciding the publish rules with rules, and waits (up to 10 s) until the
// log is open.
func (j *jsRaft) StartReplica(shardID uint64, members map[uint64]string, dir string, cfg log.Config, rules log.Checker, async bool) (jetstream.Replica, error) {
	lo := log.Options{Checker: rules}
	if iv := j.a.cfg.SyncInterval; iv > 0 {
		// --sync <interval>: a replica's raft saves are fsynced by the
		// interval flusher too, not before each acknowledgement.
		lo.Sync, lo.SyncInterval = log.SyncInterval, iv
	} else if async {
		// persist_mode async (a one-member shard): the same, every
		// second.
		lo.Sync = log.SyncInterval
	}
	sh, err := j.host.StartStreamShard(shardID, members, false, dir,
		raft.StreamOptions{Config: cfg, Log: lo, ReportEvery: replicaReportEvery})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r := &jsReplica{host: j.host, sh: sh}
		if r.Log() != nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			_ = sh.Close()
			return nil, errors.New("app: stream replica did not open")
		}
		<-tick.C
	}
}

// replicaReportEvery is how often a busy stream replica reports its
// applied index through raft (every 5× that when idle), for stream info's
// replica lag and activity.
const replicaReportEvery = time.Second

// jsReplica is a jetstream.Replica over a raft.StreamShard.
type jsReplica struct {
	host *raft.NodeHost
	sh   *raft.StreamShard
}

var _ jetstream.Replica = (*jsReplica)(nil)

// Submit queues m in the shard's ordered publish pipeline (raft's
// StreamShard.Submit); a body with Bytes() []byte is handed over without a
// copy. A refusal of the publish rules comes back as the rules'
// *log.CheckError.
func (r *jsReplica) Submit(m *jetstream.ReplicaMsg, done func(seq uint64, ts int64, err error)) {
	r.sh.Submit(raftMsg(m), done)
}

// SubmitBatch queues msgs as one atomic batch (raft's
// StreamShard.SubmitBatch).
func (r *jsReplica) SubmitBatch(msgs []*jetstream.ReplicaMsg, done func(seq uint64, ts int64, err error)) {
	rms := make([]*raft.Message, len(msgs))
	for i, m := range msgs {
		rms[i] = raftMsg(m)
	}
	r.sh.SubmitBatch(rms, done)
}

// QueuedBytes is the payload the shard's pipeline holds in memory.
func (r *jsReplica) QueuedBytes() int64 { return r.sh.QueuedBytes() }

// raftMsg is m as raft takes it.
func raftMsg(m *jetstream.ReplicaMsg) *raft.Message {
	rm := &raft.Message{Subject: m.Subject, Hdr: m.Hdr, Body: m.Body, Size: m.Size, Seq: m.Seq, Time: m.Time}
	if b, ok := m.Body.(interface{ Bytes() []byte }); ok {
		rm.Data, rm.Body = b.Bytes(), nil
	}
	return rm
}

// UpdateConfig changes the limits on every replica through the raft log.
func (r *jsReplica) UpdateConfig(ctx context.Context, cfg log.Config) error {
	return r.sh.UpdateConfig(ctx, cfg)
}

// Progress is the replicas' last progress reports.
func (r *jsReplica) Progress() []jetstream.ReplicaProgress {
	ps := r.sh.Progress()
	out := make([]jetstream.ReplicaProgress, len(ps))
	for i, p := range ps {
		out[i] = jetstream.ReplicaProgress{Node: p.Node, Lag: p.Lag, Reported: time.Unix(0, p.Time)}
	}
	return out
}

// Log returns the replica's current log (a snapshot install replaces it),
// or nil while the shard cannot answer (a snapshot is being installed).
func (r *jsReplica) Log() *log.Log {
	v, err := r.sh.ReadLocal(func(l *log.Log) (any, error) { return l, nil })
	if l, ok := v.(*log.Log); err == nil && ok {
		return l
	}
	return nil
}

func (r *jsReplica) Leader() (uint64, bool) { return r.sh.Leader() }

func (r *jsReplica) Delete(ctx context.Context, seq uint64) error {
	err := r.sh.Delete(ctx, seq)
	if errors.Is(err, raft.ErrNotFound) {
		return log.ErrNotFound
	}
	return err
}

func (r *jsReplica) Purge(ctx context.Context, req log.PurgeRequest) (uint64, error) {
	return r.sh.Purge(ctx, req)
}

// StepDown hands the stream's leadership to another replica and returns once
// this node sees a different leader. Dragonboat may drop a leadership
// transfer request (it is a message to
// the leader like any other), so the request is repeated until the leader
// has changed or ctx ends.
func (r *jsReplica) StepDown(ctx context.Context) error {
	before, _ := r.sh.Leader()
	tick := time.NewTicker(stepDownPoll)
	defer tick.Stop()
	for attempt := 0; ; attempt++ {
		if attempt%stepDownRepeat == 0 {
			if err := r.host.TransferLeader(ctx, r.sh.ID(), 0); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if now, ok := r.sh.Leader(); ok && now != before {
			return nil
		}
	}
}

// StepDown looks for the new leader every stepDownPoll and asks again
// every stepDownRepeat looks.
const (
	stepDownPoll   = 20 * time.Millisecond
	stepDownRepeat = 25
)

func (r *jsReplica) Close() error { return r.sh.Close() }

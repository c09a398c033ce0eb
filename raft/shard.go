package raft

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/lni/dragonboat/v3"
	"github.com/lni/dragonboat/v3/client"
	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/log"
)

// StreamShard is this host's replica of one replicated stream: a Dragonboat
// shard whose state machine applies entries to a replica log.Log. Any
// replica can publish (Dragonboat forwards proposals to the leader) and
// read. Safe for concurrent use.
type StreamShard struct {
	h         *NodeHost
	id        uint64
	chunkSize int
	session   *client.Session // NO-OP session: on-disk state machines take no others
	sm        *streamSM       // this replica's state machine (progress, applied index)
	stop      chan struct{}   // closed by Close: ends the progress reporter
	stopOnce  sync.Once
	done      chan struct{} // closed when the reporter has returned
	pipe      pipeline      // the ordered publish queue (pipeline.go)
	// ctx ends at Close: the pipeline's proposals give up.
	ctx    context.Context
	cancel context.CancelFunc
}

// StreamOptions are a stream shard's storage settings: the log's Config
// (limits; Compression is ignored by replicas) and Options (ChunkSize is
// also the proposal chunk size, default 1 MiB; Replica is forced on; FS
// defaults to the host's).
type StreamOptions struct {
	Config log.Config
	Log    log.Options
	// ReportEvery > 0 makes this replica propose a progress report (its
	// applied index; see Progress) every ReportEvery while it applies
	// entries, and every 5×ReportEvery when idle. 0: no reports.
	ReportEvery time.Duration
}

// StartStreamShard starts this host's replica of shard shardID with its
// store (its log, whose segments also hold the shard's raft entries, and a
// side file; store.go) in dir. members maps replica ids to raft addresses
// for a new shard (every initial member passes the same map and
// join=false); a replica added later with AddReplica starts with join=true
// and no members. A restarted replica passes the same arguments again: its
// log and raft state resume from disk.
func (h *NodeHost) StartStreamShard(shardID uint64, members map[uint64]string, join bool, dir string, so StreamOptions) (*StreamShard, error) {
	if so.Config.Storage != log.FileStorage {
		// A replica must find its applied data again after a restart.
		return nil, fmt.Errorf("raft: stream shard %d: replicas need file storage", shardID)
	}
	if so.Log.ChunkSize <= 0 {
		so.Log.ChunkSize = log.DefaultChunkSize
	}
	if so.Log.Logger == nil {
		so.Log.Logger = h.cfg.Logger
	}
	if so.Log.FS == nil {
		so.Log.FS = h.cfg.FS
	}
	so.Config.Compression = log.CompressionNone
	pipeID, err := h.newID()
	if err != nil {
		return nil, err
	}
	st, err := h.db.open(shardID, dir, so.Config, so.Log)
	if err != nil {
		return nil, err
	}
	ssm := &streamSM{st: st, cfg: so.Config, logger: h.cfg.Logger}
	create := func(cluster, node uint64) sm.IOnDiskStateMachine { return ssm }
	if join {
		members = nil
	}
	if err := h.nh.StartOnDiskCluster(members, join, create, h.shardConfig(shardID)); err != nil {
		h.db.release(st)
		return nil, fmt.Errorf("raft: start stream shard %d: %w", shardID, err)
	}
	s := &StreamShard{h: h, id: shardID, chunkSize: so.Log.ChunkSize, session: h.nh.GetNoOPSession(shardID),
		sm: ssm, stop: make(chan struct{}), done: make(chan struct{})}
	s.pipe.wake = make(chan struct{}, 1)
	s.pipe.id, s.pipe.nextGroup = pipeID, 1
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if so.ReportEvery > 0 {
		go s.report(so.ReportEvery)
	} else {
		close(s.done)
	}
	return s, nil
}

// ID returns the shard id.
func (s *StreamShard) ID() uint64 { return s.id }

// Message is what Publish stores.
type Message struct {
	Subject string
	Hdr     []byte    // not retained after Publish returns
	Body    io.Reader // exactly Size bytes are read (when Data is nil)
	// Data, when not nil, is the payload (Size bytes), handed over: Submit
	// keeps it until done without copying it.
	Data []byte
	Size int64
	// Seq, when not 0, is the sequence the message must get, and Time its
	// timestamp (unix ns): a mirror's copy of its origin's message
	// (log.Commit.Seq). A sequence the log is past fails with
	// ErrSeqExists.
	Seq  uint64
	Time int64
}

// Publish replicates m and returns its sequence and timestamp, after
// every message submitted to this shard before it (see Submit and
// pipeline.go). A message of at most 64 KiB (header included) goes inline
// in a group entry with the other messages queued meanwhile; a larger one
// is read from m.Body a chunk at a time and proposed as chunk entries
// (each at most a chunk plus 33 bytes), then committed in a group entry.
// Publish returns only when the commit is applied on this replica, so the
// message is durable on a quorum. Busy, leaderless and timed-out attempts
// are retried with backoff for up to a minute per entry; a proposal
// retried after a timeout that had in fact committed is dropped by the
// state machine as a duplicate, so a message is never stored twice. Any
// error means the message was not stored: the log Checker's refusal (a
// *log.CheckError, as it returned it: decided at apply time, in raft
// order), ErrLimit, ErrRejected, a read error of Body, or a context error
// when it may still be committed later (ctx's: the message stays queued; retrying it then stores it
// twice, as with any client). m.Body is read after Publish returns when
// ctx ends first: the caller must keep it readable until then, or pass
// Data.
func (s *StreamShard) Publish(ctx context.Context, m *Message) (seq uint64, ts int64, err error) {
	type outcome struct {
		seq uint64
		ts  int64
		err error
	}
	ch := make(chan outcome, 1)
	s.Submit(m, func(seq uint64, ts int64, err error) { ch <- outcome{seq, ts, err} })
	select {
	case o := <-ch:
		return o.seq, o.ts, o.err
	case <-ctx.Done():
		return 0, 0, ctx.Err() // it may still be stored
	}
}

// PublishBytes publishes a payload held in memory (not retained).
func (s *StreamShard) PublishBytes(ctx context.Context, subject string, hdr, payload []byte) (uint64, int64, error) {
	return s.Publish(ctx, &Message{Subject: subject, Hdr: hdr, Data: append([]byte(nil), payload...), Size: int64(len(payload))})
}

// start proposes cmd, retrying while the shard is busy or has no leader;
// the attempt times out after timeout.
func (s *StreamShard) start(ctx context.Context, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error) {
	var rs *dragonboat.RequestState
	err := retryEach(ctx, s.h.cfg, func() error {
		var err error
		rs, err = s.h.nh.Propose(s.session, cmd, timeout)
		return err
	})
	return rs, err
}

// await waits for a proposal's outcome; one that timed out or was dropped
// is proposed again (the state machine ignores a second copy).
func (s *StreamShard) await(ctx context.Context, rs *dragonboat.RequestState, cmd []byte, timeout time.Duration) (sm.Result, error) {
	for {
		var r dragonboat.RequestResult
		select {
		case r = <-rs.ResultC():
			rs.Release()
		case <-ctx.Done():
			return sm.Result{}, ctx.Err()
		}
		switch {
		case r.Completed():
			res := r.GetResult()
			if len(res.Data) < 9 {
				return res, fmt.Errorf("%w: short result", ErrRejected)
			}
			return res, nil
		case r.Timeout(), r.Dropped():
		case r.Terminated():
			return sm.Result{}, fmt.Errorf("raft: shard %d stopped", s.id)
		default:
			return sm.Result{}, fmt.Errorf("%w: proposal aborted or rejected", ErrRejected)
		}
		if err := wait(ctx, 5*time.Millisecond); err != nil {
			return sm.Result{}, err
		}
		var err error
		if rs, err = s.start(ctx, cmd, timeout); err != nil {
			return sm.Result{}, err
		}
	}
}

// propose proposes cmd and waits for it to be applied here, each attempt
// bounded by Config.ProposalTimeout.
func (s *StreamShard) propose(ctx context.Context, cmd []byte) (sm.Result, error) {
	return s.proposeWithin(ctx, cmd, s.h.cfg.ProposalTimeout)
}

// proposeWithin is propose with attempts of timeout.
func (s *StreamShard) proposeWithin(ctx context.Context, cmd []byte, timeout time.Duration) (sm.Result, error) {
	rs, err := s.start(ctx, cmd, timeout)
	if err != nil {
		return sm.Result{}, err
	}
	return s.await(ctx, rs, cmd, timeout)
}

// abort tells the replicas to drop a message's chunks (best effort: a lost
// abort leaves chunks that only cost disk until their segments go). Close
// ends it at once.
func (s *StreamShard) abort(id uint64) {
	ctx, cancel := context.WithTimeout(s.ctx, s.h.cfg.ProposalTimeout)
	defer cancel()
	if _, err := s.propose(ctx, appendU64Entry(nil, kindAbort, id)); err != nil {
		s.h.cfg.Logger.Warn("raft: abort proposal failed", "shard", s.id, "msg", id, "err", err)
	}
}

// Delete removes message seq on every replica. ErrNotFound when it is not
// there.
func (s *StreamShard) Delete(ctx context.Context, seq uint64) error {
	res, err := s.propose(ctx, appendU64Entry(nil, kindDelete, seq))
	if err != nil {
		return err
	}
	return errOf(res)
}

// Purge purges on every replica as log.Purge does and returns how many
// messages went.
func (s *StreamShard) Purge(ctx context.Context, req log.PurgeRequest) (uint64, error) {
	res, err := s.propose(ctx, appendPurge(nil, req))
	if err != nil {
		return 0, err
	}
	return res.Value, errOf(res)
}

// Read runs fn on this replica's log after it has caught up with the
// leader's commit index (a linearizable read). fn must not keep l.
func (s *StreamShard) Read(ctx context.Context, fn func(l *log.Log) (any, error)) (any, error) {
	var out any
	err := retry(ctx, s.h.cfg, func(ctx context.Context) error {
		v, err := s.h.nh.SyncRead(ctx, s.id, fn)
		out = v
		return err
	})
	return out, err
}

// ReadLocal runs fn on this replica's log as it is now, which may lag the
// leader (a stale read; no network).
func (s *StreamShard) ReadLocal(fn func(l *log.Log) (any, error)) (any, error) {
	return s.h.nh.StaleRead(s.id, fn)
}

// Leader returns the shard's leader as this host knows it.
func (s *StreamShard) Leader() (uint64, bool) { return s.h.Leader(s.id) }

// sliceReader is an io.Reader over a byte slice.
type sliceReader struct{ b []byte }

func bytesReader(b []byte) io.Reader { return &sliceReader{b} }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

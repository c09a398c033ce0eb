package raft

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

// streamSM is a stream replica's Dragonboat state machine: an on-disk state
// machine over the shard's replica log.Log (its store's), which it changes
// only through the log's Apply methods (the same commit code R1 streams
// use). Dragonboat serializes Open, Update, Sync, PrepareSnapshot,
// RecoverFromSnapshot and Close; Lookup and SaveSnapshot run concurrently
// with them.
type streamSM struct {
	st     *shardStore // the log (st.l, which RecoverFromSnapshot replaces) and its lock
	cfg    log.Config
	logger *slog.Logger

	commit   log.Commit // Update's decoding scratch
	lastData uint64     // index of the last applied entry that was not a report (Update's goroutine)
	// pipes is the publish pipelines' group order (committer.go), part of
	// the applied state: loaded from the log's last marker, saved in each
	// (Update's goroutine, and Open's and RecoverFromSnapshot's).
	pipes   pipeTable
	pipeBuf []byte

	// applied is the raft index of the last entry Update applied.
	applied atomic.Uint64
	// progress guards the replicas' last progress reports, by node.
	progress struct {
		sync.Mutex
		m map[uint64]Progress
	}
}

// Progress is a replica's last progress report, as applied here: the
// raft index the report entry itself has (Index), the reporter's applied
// index when it proposed it, the reporter's clock then, and Lag: how many
// entries the reporter was behind when its report committed (from its
// applied index to the last entry before the report that was not itself a
// report; 0 when it had everything).
type Progress struct {
	Node    uint64
	Index   uint64
	Applied uint64
	Time    int64 // unix ns, the reporter's clock
	Lag     uint64
}

// note records a report applied at index. Update's goroutine.
func (s *streamSM) note(cmd []byte, index uint64) bool {
	if len(cmd) != reportSize {
		return false
	}
	p := Progress{Node: le.Uint64(cmd[1:]), Applied: le.Uint64(cmd[9:]), Time: int64(le.Uint64(cmd[17:])), Index: index}
	if s.lastData > p.Applied {
		p.Lag = s.lastData - p.Applied
	}
	s.progress.Lock()
	defer s.progress.Unlock()
	if s.progress.m == nil {
		s.progress.m = make(map[uint64]Progress)
	}
	s.progress.m[p.Node] = p
	return true
}

// reports returns the last report of every node that sent one.
func (s *streamSM) reports() []Progress {
	s.progress.Lock()
	defer s.progress.Unlock()
	out := make([]Progress, 0, len(s.progress.m))
	for _, p := range s.progress.m {
		out = append(out, p)
	}
	return out
}

// Open returns the raft index the log's last applied marker covers (the
// store opened the log when the shard started).
func (s *streamSM) Open(stop <-chan struct{}) (uint64, error) {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	if s.st.l == nil {
		return 0, log.ErrClosed
	}
	a := s.st.l.Applied()
	if err := s.loadPipes(s.st.l); err != nil {
		return 0, err
	}
	s.applied.Store(a)
	return a, nil
}

// loadPipes sets the pipeline table from l's last applied marker.
func (s *streamSM) loadPipes(l *log.Log) error {
	t, err := parsePipeTable(l.AppliedState())
	if err != nil {
		return fmt.Errorf("raft: shard %d: %w", s.st.id, err)
	}
	s.pipes = t
	return nil
}

// Update applies a batch of committed entries in order and ends it with one
// applied marker, without an fsync: the entries are durable in the log
// already, and the apply side's records are made durable by the next
// fsync of the raft side (log/raftlog.go). Payloads are not copied: chunks
// and inline messages are recorded where they lie in the entries' records
// (log.EntryRef). Per-entry outcomes (a duplicate, a failed
// expected-sequence check, a limit) are results, decided from the log
// alone so every replica decides alike; only a storage failure is an
// error, and it stops the replica.
func (s *streamSM) Update(ents []sm.Entry) ([]sm.Entry, error) {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	l := s.st.l
	if l == nil {
		return nil, log.ErrClosed
	}
	for i := range ents {
		e := &ents[i]
		if len(e.Cmd) > 0 && e.Cmd[0] == kindReport && s.note(e.Cmd, e.Index) {
			e.Result = sm.Result{Data: resultData(codeOK, 0, nil)}
			continue
		}
		s.lastData = e.Index
		if len(e.Cmd) > 0 && (e.Cmd[0] == kindBatch || e.Cmd[0] == kindGroup || e.Cmd[0] == kindGroupSeq || e.Cmd[0] == kindAtomic) {
			e.Result = s.applyBatch(l, e.Index, e.Cmd)
			if e.Result.Data[0] == codeOther {
				return nil, fmt.Errorf("raft: apply entry %d: storage failure", e.Index)
			}
			continue
		}
		val, code, ts, extra := s.apply(l, e.Index, e.Cmd)
		if code == codeOther {
			return nil, fmt.Errorf("raft: apply entry %d: storage failure", e.Index)
		}
		e.Result = sm.Result{Value: val, Data: resultData(code, ts, extra)}
	}
	if len(ents) > 0 {
		s.pipeBuf = s.pipes.encode(s.pipeBuf[:0])
		if err := l.MarkApplied(ents[len(ents)-1].Index, s.pipeBuf); err != nil {
			return nil, err
		}
		s.applied.Store(ents[len(ents)-1].Index)
	}
	return ents, nil
}

// entryRef locates the bytes at off of cmd (entry index's payload as the
// state machine sees it) in the entry as the log stores it: Dragonboat
// stores an entry's payload behind a one-byte header (its encoded entry,
// no compression), so a stored cmd is that byte and cmd. The log checks
// the stored length and copies the data instead when it differs.
func entryRef(index uint64, cmd []byte, off int) log.EntryRef {
	return log.EntryRef{Index: index, Off: entryHeader + off, CmdLen: entryHeader + len(cmd)}
}

// entryHeader is the size of Dragonboat's encoded entry header.
const entryHeader = 1

// resultData is a result's code, the timestamp (commits) and any extra
// bytes (a refusal's check code and text).
func resultData(code byte, ts int64, extra []byte) []byte {
	b := make([]byte, 9, 9+len(extra))
	b[0] = code
	le.PutUint64(b[1:], uint64(ts))
	return append(b, extra...)
}

// apply applies one entry and returns its value, result code, (for a
// commit) timestamp and extra result bytes. codeOther means the log failed
// and the replica must stop.
func (s *streamSM) apply(l *log.Log, index uint64, cmd []byte) (uint64, byte, int64, []byte) {
	if len(cmd) == 0 {
		return 0, codeBadEntry, 0, nil
	}
	var err error
	switch cmd[0] {
	case kindChunk:
		h, data, perr := parseChunk(cmd)
		if perr != nil {
			return 0, codeBadEntry, 0, nil
		}
		err = l.ApplyChunkAt(h.MsgID, h.Index, data, h.CRC, entryRef(index, cmd, 1+chunking.HeaderSize))
	case kindCommit, kindCommitX:
		c := &s.commit
		if err := parseCommit(cmd, c); err != nil {
			return 0, codeBadEntry, 0, nil
		}
		seq, ts, err := l.ApplyCommit(c)
		c.Hdr = nil
		code := s.check(err)
		val, extra := outcome(code, seq, err)
		if code != codeOK {
			ts = 0
		}
		return val, code, ts, extra
	case kindConfig:
		cfg, perr := parseConfig(cmd, s.cfg)
		if perr != nil {
			return 0, codeBadEntry, 0, nil
		}
		if err = l.UpdateConfig(cfg); err == nil {
			s.cfg = cfg // a snapshot install reopens with it
		}
	case kindDelete:
		if len(cmd) != 9 {
			return 0, codeBadEntry, 0, nil
		}
		err = l.ApplyDelete(le.Uint64(cmd[1:]))
	case kindPurge:
		req, perr := parsePurge(cmd)
		if perr != nil {
			return 0, codeBadEntry, 0, nil
		}
		n, err := l.ApplyPurge(req)
		return n, s.check(err), 0, nil
	case kindAbort:
		if len(cmd) != 9 {
			return 0, codeBadEntry, 0, nil
		}
		l.ApplyAbort(le.Uint64(cmd[1:]))
	default:
		return 0, codeBadEntry, 0, nil
	}
	return 0, s.check(err), 0, nil
}

// check turns an apply error into a result code, logging storage failures.
func (s *streamSM) check(err error) byte {
	code := codeOf(err)
	if code == codeOther {
		s.logger.Error("raft: stream replica storage failure", "shard", s.st.id, "err", err)
	}
	return code
}

// Lookup runs a read: the query is a func(*log.Log) (any, error), called
// with the current log under the store's shared lock.
func (s *streamSM) Lookup(q any) (any, error) {
	fn, ok := q.(func(*log.Log) (any, error))
	if !ok {
		return nil, fmt.Errorf("raft: unknown stream query %T", q)
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	if s.st.l == nil {
		return nil, log.ErrClosed
	}
	return fn(s.st.l)
}

// Sync makes everything applied durable (one fsync of the log).
func (s *streamSM) Sync() error {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	if s.st.l == nil {
		return log.ErrClosed
	}
	return s.st.l.Sync()
}

// PrepareSnapshot captures the segments as of the last Update.
func (s *streamSM) PrepareSnapshot() (any, error) {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	if s.st.l == nil {
		return nil, log.ErrClosed
	}
	return s.st.l.Snapshot()
}

// SaveSnapshot streams the captured segments (see writeSnapshot) and
// releases them.
func (s *streamSM) SaveSnapshot(ctx any, w io.Writer, stop <-chan struct{}) error {
	snap, ok := ctx.(*log.Snapshot)
	if !ok {
		return fmt.Errorf("raft: snapshot context %T", ctx)
	}
	defer snap.Close()
	err := writeSnapshotFiles(w, snap, stop)
	if err != nil && !errors.Is(err, sm.ErrSnapshotStopped) {
		s.logger.Warn("raft: streaming a snapshot stopped; the leader will send it again", "err", err)
	}
	return streamError(err)
}

// RecoverFromSnapshot replaces the replica's log with the snapshot's
// segments, keeping the raft entries saved after the snapshot's index
// (store.go: install).
func (s *streamSM) RecoverFromSnapshot(r io.Reader, stop <-chan struct{}) error {
	applied, err := s.st.install(r, stop)
	if err != nil {
		return err
	}
	s.st.mu.RLock()
	err = s.loadPipes(s.st.l)
	s.st.mu.RUnlock()
	s.applied.Store(applied)
	return err
}

// Close releases the shard's store: its log closes. Lookups after it get
// log.ErrClosed.
func (s *streamSM) Close() error {
	return s.st.db.release(s.st)
}

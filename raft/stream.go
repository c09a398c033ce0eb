package raft

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/log"
)

// streamSM is a stream replica's Dragonboat state machine: an on-disk state
// machine over a replica log.Log, which it changes only through the log's
// Apply methods (the same commit code R1 streams use). Dragonboat serializes
// Open, Update, Sync, PrepareSnapshot, RecoverFromSnapshot and Close; Lookup
// and SaveSnapshot run concurrently with them.
type streamSM struct {
	dir    string
	cfg    log.Config
	opts   log.Options
	logger *slog.Logger

	// mu guards l, which RecoverFromSnapshot replaces; readers (Lookup,
	// Update) hold it shared.
	mu struct {
		sync.RWMutex
		l *log.Log
	}
	commit log.Commit // Update's decoding scratch
}

// Open opens (recovering) the replica log and returns the raft index its
// last applied marker covers.
func (s *streamSM) Open(stop <-chan struct{}) (uint64, error) {
	opts := s.opts
	opts.Replica = true
	l, err := log.Open(s.dir, s.cfg, opts)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.mu.l = l
	s.mu.Unlock()
	return l.Applied(), nil
}

// Update applies a batch of committed entries in order and ends it with one
// applied marker and fsync. Per-entry outcomes (a duplicate, a failed
// expected-sequence check, a limit) are results, decided from the log alone
// so every replica decides alike; only a storage failure is an error, and it
// stops the replica.
func (s *streamSM) Update(ents []sm.Entry) ([]sm.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.mu.l
	for i := range ents {
		e := &ents[i]
		val, code, ts := s.apply(l, e.Cmd)
		if code == codeOther {
			return nil, fmt.Errorf("raft: apply entry %d: storage failure", e.Index)
		}
		e.Result = sm.Result{Value: val, Data: resultData(code, ts)}
	}
	if len(ents) > 0 {
		if err := l.ApplySync(ents[len(ents)-1].Index); err != nil {
			return nil, err
		}
	}
	return ents, nil
}

// resultData is a result's code and, for commits, the timestamp.
func resultData(code byte, ts int64) []byte {
	b := make([]byte, 9)
	b[0] = code
	le.PutUint64(b[1:], uint64(ts))
	return b
}

// apply applies one entry and returns its value, result code and (for a
// commit) timestamp. codeOther means the log failed and the replica must
// stop.
func (s *streamSM) apply(l *log.Log, cmd []byte) (uint64, byte, int64) {
	if len(cmd) == 0 {
		return 0, codeBadEntry, 0
	}
	var err error
	switch cmd[0] {
	case kindChunk:
		h, data, perr := parseChunk(cmd)
		if perr != nil {
			return 0, codeBadEntry, 0
		}
		err = l.ApplyChunk(h.MsgID, h.Index, data, h.CRC)
	case kindCommit:
		c := &s.commit
		if err := parseCommit(cmd, c); err != nil {
			return 0, codeBadEntry, 0
		}
		seq, ts, err := l.ApplyCommit(c)
		c.Hdr = nil
		return seq, s.check(err), ts
	case kindDelete:
		if len(cmd) != 9 {
			return 0, codeBadEntry, 0
		}
		err = l.ApplyDelete(le.Uint64(cmd[1:]))
	case kindPurge:
		req, perr := parsePurge(cmd)
		if perr != nil {
			return 0, codeBadEntry, 0
		}
		n, err := l.ApplyPurge(req)
		return n, s.check(err), 0
	case kindAbort:
		if len(cmd) != 9 {
			return 0, codeBadEntry, 0
		}
		l.ApplyAbort(le.Uint64(cmd[1:]))
	default:
		return 0, codeBadEntry, 0
	}
	return 0, s.check(err), 0
}

// check turns an apply error into a result code, logging storage failures.
func (s *streamSM) check(err error) byte {
	code := codeOf(err)
	if code == codeOther {
		s.logger.Error("raft: stream replica storage failure", "dir", s.dir, "err", err)
	}
	return code
}

// Lookup runs a read: the query is a func(*log.Log) (any, error), called
// with the current log under the shared lock.
func (s *streamSM) Lookup(q any) (any, error) {
	fn, ok := q.(func(*log.Log) (any, error))
	if !ok {
		return nil, fmt.Errorf("raft: unknown stream query %T", q)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.l == nil {
		return nil, log.ErrClosed
	}
	return fn(s.mu.l)
}

// Sync is a no-op: every Update ends durable.
func (s *streamSM) Sync() error { return nil }

// PrepareSnapshot captures the segments as of the last Update.
func (s *streamSM) PrepareSnapshot() (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.l.Snapshot()
}

// SaveSnapshot streams the captured segments (see writeSnapshot) and
// releases them.
func (s *streamSM) SaveSnapshot(ctx any, w io.Writer, stop <-chan struct{}) error {
	snap, ok := ctx.(*log.Snapshot)
	if !ok {
		return fmt.Errorf("raft: snapshot context %T", ctx)
	}
	defer snap.Close()
	return writeSnapshot(w, snap, stop)
}

// RecoverFromSnapshot replaces the replica's log with the snapshot's
// segments: they are received into a sibling directory, synced, and swapped
// in, and the log is reopened from them.
func (s *streamSM) RecoverFromSnapshot(r io.Reader, stop <-chan struct{}) error {
	tmp := s.dir + ".recv"
	if err := readSnapshot(r, tmp, stop); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.l != nil {
		s.mu.l.Close()
		s.mu.l = nil
	}
	if err := swapDir(s.dir, tmp); err != nil {
		return err
	}
	opts := s.opts
	opts.Replica = true
	l, err := log.Open(s.dir, s.cfg, opts)
	if err != nil {
		return err
	}
	s.mu.l = l
	return nil
}

// Close closes the log. Lookups after it get log.ErrClosed.
func (s *streamSM) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.l == nil {
		return nil
	}
	err := s.mu.l.Close()
	return err
}

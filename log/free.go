package log

import (
	"fmt"
	"os"

	"github.com/bargemq/barge/subject"
)

// Removing messages on a full disk. Purge and Delete normally write their
// record first and apply it once it is durable; when that write fails for
// lack of space (ErrNoSpace), they free space first and write afterwards
// (removeFreeing):
//
//  1. The log is back at its durable point (the failed record was rolled
//     back, writefail.go) and l.w is held, so nothing else is written.
//  2. If the removal would free nothing (no whole segment from the front,
//     and not the whole log), it fails with the no-space error and changes
//     nothing.
//  3. Otherwise it is applied to the index as limit evictions are (the
//     removals become pending eviction records, evict.go), the segments
//     left without a live message are closed and unlinked at once, and, if
//     no message is left at all, the active segment is reset in place: a
//     purge record up to LastSeq overwrites its first record (no new
//     blocks), is fsynced, and the file is truncated after it and fsynced.
//  4. The pending records are written into the space just freed and
//     fsynced before the call returns.
//
// Crash safety of that order: segments are removed only from the front,
// and the first remaining segment's header carries the last sequence
// before it, so a crash at any point never brings back a message from a
// removed segment nor moves LastSeq back. A crash after step 3 but before
// step 4 is durable can bring back the removed messages that sit in the
// segments that were kept (a purge then looks as if it had stopped at an
// earlier sequence). A crash between the in-place overwrite and the
// truncate leaves the purge record followed by the tail of old records,
// which replay ignores (their sequences are at or below the purge). If the
// records cannot be written even into the freed space, the removal stands
// (it is logged when writes work again, and by Close) and the window
// above stays open until then.

// freeSel describes one removal for removeFreeing, under l.mu.
type freeSel struct {
	// bound returns the last sequence the removal touches (0: nothing to
	// do) or the error to answer.
	bound func(l *Log) (uint64, error)
	// match reports whether the live message seq (entry e) is removed.
	match func(x *index, seq uint64, e *entry) bool
	// remove applies the removal and returns how many messages went.
	remove func(l *Log, upTo uint64) uint64
}

func deleteSel(seq uint64) freeSel {
	return freeSel{
		bound: func(l *Log) (uint64, error) {
			x := &l.mu.idx
			if seq == 0 || seq > x.last {
				return 0, ErrNotFound
			}
			if e := x.get(seq); e == nil || !e.live {
				return 0, ErrDeleted
			}
			return seq, nil
		},
		match: func(_ *index, s uint64, _ *entry) bool { return s == seq },
		remove: func(l *Log, _ uint64) uint64 {
			if _, ok := l.removeLocked(seq); ok {
				return 1
			}
			return 0
		},
	}
}

func purgeSel(req PurgeRequest) freeSel {
	all := req.Subject == "" || req.Subject == ">"
	wild := subject.HasWildcard(req.Subject)
	return freeSel{
		bound: func(l *Log) (uint64, error) { return l.purgeBoundLocked(req), nil },
		match: func(x *index, _ uint64, e *entry) bool {
			name := x.subjs[e.subj].name
			return all || name == req.Subject || (wild && subject.Matches(req.Subject, name))
		},
		remove: func(l *Log, upTo uint64) uint64 { return l.purgeLocked(req.Subject, upTo) },
	}
}

// canFree reports whether removals may free space first (not on a
// replica, whose removals are decided by raft).
func (l *Log) canFree() bool { return !l.opts.Replica }

// removeFreeing performs a removal whose record could not be written for
// lack of space (cause), freeing space first; see the comment at the top.
func (l *Log) removeFreeing(cause error, sel freeSel) (uint64, error) {
	l.drain() // the failed record's batch has settled and rolled back
	l.w.Lock()
	if l.w.closed {
		l.w.Unlock()
		return 0, ErrClosed
	}
	if l.w.failed {
		l.w.Unlock()
		return 0, cause
	}
	// Resetting the active segment needs nothing in flight in it.
	canReset := len(l.w.pend) == 0 && l.queueEmpty()
	l.mu.Lock()
	upTo, err := sel.bound(l)
	if err != nil || upTo == 0 || !l.freesLocked(upTo, sel.match, canReset) {
		l.mu.Unlock()
		l.w.Unlock()
		if err == nil && upTo != 0 {
			err = cause
		}
		return 0, err
	}
	n := sel.remove(l, upTo)
	l.dropPrefixLocked() // the removals become pending eviction records
	doomed := l.mu.doomed
	l.mu.doomed = nil
	reset := canReset && l.mu.idx.msgs == 0 && len(l.mu.segs) == 1 && l.mu.segs[0].live.Load() == 0
	close(l.mu.changed)
	l.mu.changed = make(chan struct{})
	l.mu.Unlock()
	l.unlinkSegments(doomed)
	if reset {
		l.resetActiveLocked()
	}
	if !l.w.failed {
		l.w.retryAt = 0 // space was freed: the next write tries at once
	}
	l.w.Unlock()
	l.opts.Logger.Warn("log: removal on a full disk freed space first", "dir", l.dir,
		"messages", n, "segments_removed", len(doomed), "active_reset", reset)
	ferr := l.flushEvictions()
	l.drain() // records queued by the eviction writer are durable too
	l.mu.RLock()
	pending := l.mu.ev.pendingLocked()
	l.mu.RUnlock()
	if ferr != nil || pending {
		l.opts.Logger.Warn("log: removal not logged yet; it is written once space allows", "dir", l.dir, "err", ferr)
	}
	return n, nil
}

// freesLocked reports whether removing the live messages up to upTo that
// match frees space: the front segment is left without a live message (so
// it and the following empty ones are removed), or, with canReset, every
// segment is (the active one is then reset). l.mu held.
func (l *Log) freesLocked(upTo uint64, match func(*index, uint64, *entry) bool, canReset bool) bool {
	x := &l.mu.idx
	gone := make(map[*segment]int64)
	for i := range x.ents {
		seq := x.base + uint64(i)
		if seq > upTo {
			break
		}
		if e := &x.ents[i]; e.live && match(x, seq, e) {
			gone[e.first]++
		}
	}
	segs := l.mu.segs
	for i, s := range segs {
		if s.live.Load() != gone[s] {
			return false
		}
		if i < len(segs)-1 {
			return true
		}
	}
	return canReset
}

// unlinkSegments closes and unlinks segments dropped from the log (and
// their index sidecars).
func (l *Log) unlinkSegments(segs []*segment) {
	for _, s := range segs {
		s.f.Close()
		if err := l.fs.Remove(s.path); err != nil {
			l.opts.Logger.Warn("log: remove segment", "path", s.path, "err", err)
		}
		l.fs.Remove(idxPath(s.path)) // its index sidecar, if any
	}
}

// resetActiveLocked empties the active segment in place once no message is
// left in the log: a purge record up to LastSeq overwrites the first record
// after the segment header, then the file is cut after it (see the comment
// at the top). The segment gets a new file handle first, so extents loaded
// from the old one fail (os.ErrClosed) instead of reading rewritten bytes.
// The pending eviction records are covered by the purge record. A failure
// is a write failure (failLocked). l.w held, l.mu not.
func (l *Log) resetActiveLocked() {
	s := l.w.active
	l.mu.RLock()
	last := l.mu.idx.last
	l.mu.RUnlock()
	var rec [recHeaderSize + purgeMetaSize]byte
	putRecHeader(rec[:], recPurge, 0, purgeMetaSize)
	le.PutUint64(rec[recHeaderSize:], last)
	sealRecord(rec[:], rec[recHeaderSize:])
	at := int64(recHeaderSize + segBodySize)
	end := at + int64(len(rec))
	nf, err := l.fs.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		l.opts.Logger.Warn("log: reopen active segment for reset", "segment", s.path, "err", err)
		return
	}
	l.mu.Lock()
	old := s.f
	s.f = nf
	l.mu.Unlock()
	old.Close()
	if _, err = nf.WriteAt(rec[:], at); err == nil {
		if err = nf.Sync(); err == nil {
			if err = nf.Truncate(end); err == nil {
				err = nf.Sync()
			}
		}
	}
	if err != nil {
		l.failLocked(fmt.Errorf("log: reset segment %d: %w", s.id, err))
		return
	}
	l.w.off = end
	l.w.good = segPos{s, end}
	l.mu.Lock()
	ev := &l.mu.ev
	ev.logged = max(ev.logged, last)
	if ev.front <= last {
		ev.front = 0
	}
	ev.seqs = ev.seqs[:0]
	l.mu.Unlock()
}

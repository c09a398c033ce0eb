package log

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Write failures (a full disk, an I/O error) do not make the log read-only
// for good. The log keeps a durable point, l.w.good: every byte of the
// active segment before it is fsynced (SyncAlways) or was written for a
// batch already acknowledged (SyncInterval), and every older segment was
// fsynced whole when it was sealed. When a write or sync fails:
//
//  1. failLocked records the error; writes are refused from then on and a
//     group-commit leader is kicked (an opSettle op), so recovery does not
//     depend on another writer coming by.
//  2. The leader that finds the error (settleLocked) takes every queued
//     operation, lets those whose records lie before the durable point
//     complete, fails the others (nothing acknowledged is ever failed: an
//     acknowledged record is durable, so it lies before the point), and
//     rolls back: the active segment is truncated to the durable point and
//     fsynced, the small-record buffer is dropped, the next sequence goes
//     back to the first failed message's, and the epoch is bumped so
//     appenders holding chunks written before the rollback fail too.
//  3. Writes stay refused for a backoff (50 ms doubling to 1 s, on the
//     injected clock); the first write after it simply tries again. A failed
//     attempt costs one write and one truncate, then the next backoff: no
//     polling, and publishing resumes by itself once space is back.
//
// Records written before the failure but never acknowledged may still be
// on disk after a crash that comes before the rollback's truncate: such a
// message was answered with an error and may reappear, as with any store
// whose disk fails under an in-flight write. Replica logs keep the old
// rule (the error sticks until the replica is reopened), because raft
// decides what they hold.
//
// Purge and Delete on a full disk first free space: see free.go.

const (
	minRetryBackoff = 50 * time.Millisecond
	maxRetryBackoff = time.Second
)

// segPos is a position in the log's files: offset off of segment seg.
type segPos struct {
	seg *segment
	off int64
}

// isNoSpace reports whether err says the file system is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// failLocked records a write or sync error (wrapped in ErrNoSpace or
// ErrIO), refuses writes until the log has rolled back and the backoff has
// passed, and returns the error callers report. l.w must be held.
func (l *Log) failLocked(err error) error {
	if l.opts.Replica {
		if l.werr.CompareAndSwap(nil, &errBox{err}) {
			l.opts.Logger.Error("log: write error, log is read-only until reopened", "dir", l.dir, "err", err)
		}
		return l.sticky()
	}
	switch {
	case errors.Is(err, ErrNoSpace), errors.Is(err, ErrIO):
	case isNoSpace(err):
		err = fmt.Errorf("%w: %w", ErrNoSpace, err)
	default:
		err = fmt.Errorf("%w: %w", ErrIO, err)
	}
	l.werr.CompareAndSwap(nil, &errBox{err})
	l.w.lastErr = l.sticky()
	if !l.w.streak {
		l.w.streak = true
		l.opts.Logger.Error("log: write failed; rolling back to the last durable record, writes are retried", "dir", l.dir, "err", err)
	} else {
		l.opts.Logger.Debug("log: write failed again", "dir", l.dir, "err", err)
	}
	if !l.w.failed {
		l.w.failed = true
		l.kickSettleLocked()
	}
	return l.sticky()
}

// kickSettleLocked queues an operation without a record and makes sure a
// leader runs it, so a failure is settled (rolled back) even when no other
// operation is queued. Not during Open (which fails instead) nor once Close
// has begun (it drains the queue itself). l.w must be held.
func (l *Log) kickSettleLocked() {
	if l.inactive.Load() {
		return
	}
	l.enqueue(&op{kind: opSettle})
	l.kickAsync()
}

// writableLocked returns why the log cannot take writes, or nil. After a
// failure it refuses writes until the rollback is done and the backoff has
// passed, then lets the next write try again. l.w held.
func (l *Log) writableLocked() error {
	if l.w.closed {
		return ErrClosed
	}
	err := l.sticky()
	if err == nil || l.opts.Replica {
		return err
	}
	now := l.opts.Clock.Now().UnixNano()
	if now < l.w.retryAt {
		return err
	}
	if l.w.failed {
		// The rollback's truncate failed (or no leader has settled the
		// failure yet). With nothing queued and nobody leading there is
		// nothing left to settle: retry the truncate here; otherwise have
		// a leader do it.
		if !l.queueEmpty() || !l.truncateLocked() {
			l.w.retryAt = now + int64(l.nextBackoffLocked())
			l.kickSettleLocked()
			return err
		}
	}
	l.werr.Store(nil)
	return nil
}

// nextBackoffLocked doubles the retry backoff (within its bounds) and
// returns it.
func (l *Log) nextBackoffLocked() time.Duration {
	l.w.backoff = min(max(2*l.w.backoff, minRetryBackoff), maxRetryBackoff)
	return l.w.backoff
}

// noteRecordLocked remembers where an operation's last record ends, so a
// leader settling a failure knows whether it is durable. l.w held.
func (l *Log) noteRecordLocked(o *op, seg *segment, end int64) {
	o.wseg, o.end, o.epoch = seg, end, l.w.epoch
}

// durableLocked reports whether o's records lie before the durable point
// (and were written since the last rollback). l.w held.
func (l *Log) durableLocked(o *op) bool {
	g := l.w.good
	return o.epoch == l.w.epoch && o.wseg != nil &&
		(o.wseg.id < g.seg.id || (o.wseg == g.seg && o.end <= g.off))
}

// advanceGoodLocked moves the durable point to p after a successful batch
// (p: where the active segment's data ended when the batch was flushed),
// and ends a failure streak. l.w held.
func (l *Log) advanceGoodLocked(p segPos) {
	if p.seg == nil {
		return // no record in the batch
	}
	if p.seg == l.w.good.seg && p.off > l.w.good.off {
		l.w.good.off = p.off
	}
	if l.w.streak {
		l.w.streak = false
		l.w.backoff = 0
		l.opts.Logger.Warn("log: writes resumed after a write failure", "dir", l.dir)
	}
}

// settleLocked handles a failure found by the leader of batch: it takes
// every operation still queued into the batch, fails those whose records
// are not durable (they come after every durable one, in file and sequence
// order), and rolls the log back to its durable point. It returns the
// batch to apply. l.w held, l.sq not held; only a leader calls it.
func (l *Log) settleLocked(batch []*op, err error) []*op {
	l.sq.Lock()
	batch = append(batch, l.sq.queue...)
	clear(l.sq.queue)
	l.sq.queue = l.sq.queue[:0]
	l.sq.Unlock()
	var first uint64
	for _, o := range batch {
		if !o.record || l.durableLocked(o) {
			continue
		}
		o.err = err
		if o.kind == opMsg {
			s := o.seq
			if o.gap != 0 {
				s = o.gap // its skip record is lost with it
			}
			if first == 0 || s < first {
				first = s
			}
		}
	}
	if l.w.failed {
		l.rollbackLocked(first)
	}
	return batch
}

// rollbackLocked drops what follows the durable point: the small-record
// buffer, the sequences of the failed messages (the next message gets
// first, when non-zero; the Checker is told), the chunks of open appenders
// (epoch), and the bytes of the active segment (truncateLocked). Writes
// may resume after the backoff. l.w held.
func (l *Log) rollbackLocked(first uint64) {
	l.w.pend = l.w.pend[:0]
	if first != 0 {
		l.w.nextSeq = first
		l.truncateCheckerLocked(first - 1)
	}
	l.w.epoch++
	l.w.retryAt = l.opts.Clock.Now().UnixNano() + int64(l.nextBackoffLocked())
	l.truncateLocked()
}

// truncateLocked cuts the active segment at the durable point and makes
// the cut durable. If that fails the log stays failed, and the first write
// attempt after the backoff tries again. l.w held.
func (l *Log) truncateLocked() bool {
	g := l.w.good
	err := g.seg.f.Truncate(g.off)
	if err == nil {
		err = g.seg.f.Sync()
	}
	if err != nil {
		l.opts.Logger.Warn("log: rollback after a write failure failed; retrying", "segment", g.seg.path, "err", err)
		return false
	}
	l.w.off = g.off
	l.w.failed = false
	return true
}

// rolledBackLocked is the error of an appender whose chunks were written
// before a rollback. l.w held.
func (l *Log) rolledBackLocked() error {
	if err := l.w.lastErr; err != nil {
		return err
	}
	return fmt.Errorf("%w: message rolled back after a write failure", ErrIO)
}

// LastAssigned returns the sequence of the last message assigned, visible
// or still in flight (LastSeq counts only visible ones). After a write
// failure it goes back with the rollback: the failed messages' sequences
// are given again.
func (l *Log) LastAssigned() uint64 {
	l.w.Lock()
	defer l.w.Unlock()
	return l.w.nextSeq - 1
}

package netpoll

import (
	"os"

	"github.com/bargemq/barge/broker"
)

var _ broker.Stream = (*slot)(nil)

// Write queues piece as the next part of the stream's message; piece may be
// reused once Write returns. Pieces reach the socket contiguously, after
// everything queued before BeginStream. It returns ErrStreamDone after End or
// Abort, and otherwise behaves as Transport.Write (ErrClosed,
// ErrSlowConsumer, spill errors).
func (sl *slot) Write(piece []byte) error {
	c := sl.c
	c.mu.Lock()
	if sl.done && !c.mu.closing {
		c.mu.Unlock()
		return ErrStreamDone
	}
	sched, err := c.enqueueLocked(&sl.q, sl, piece, false)
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
	return err
}

// WriteFile queues the n bytes of f at offset off as the next part of the
// stream's message (for example a payload held in a log segment), with the
// same ownership rules as Transport's WriteFile. Errors as for Write.
func (sl *slot) WriteFile(f *os.File, off, n int64) error {
	c := sl.c
	c.mu.Lock()
	if sl.done && !c.mu.closing {
		c.mu.Unlock()
		return ErrStreamDone
	}
	sched, err := c.enqueueFileLocked(&sl.q, f, off, n, false)
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
	return err
}

// End completes the message: once its pieces are sent, what was queued behind
// the slot proceeds. Calls after the first End or Abort are no-ops.
func (sl *slot) End() {
	c := sl.c
	c.mu.Lock()
	if sl.done {
		c.mu.Unlock()
		return
	}
	sl.done, sl.ended = true, true
	sched := false
	if c.atHeadLocked(sl) {
		if sl.q.len() == 0 {
			// Every piece is already out: pop the slot now so writes
			// behind it (and new ones) can take the fast path.
			if sl.started {
				c.mu.midUnit = false
			}
			c.mu.q.popFront()
			sched = c.mu.q.len() > 0 && c.needScheduleLocked()
		} else {
			sched = c.needScheduleLocked()
		}
	}
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
}

// Abort abandons the message. If none of its bytes were taken for the socket
// the slot and its queued pieces are dropped silently; otherwise the peer
// holds a partial message and the connection is closed at once
// (Session.Closed gets ErrStreamAborted). Calls after the first End or Abort
// are no-ops.
func (sl *slot) Abort() {
	c := sl.c
	c.mu.Lock()
	if sl.done {
		c.mu.Unlock()
		return
	}
	sl.done = true
	if sl.started {
		c.failLocked(ErrStreamAborted)
		sched := c.needScheduleLocked()
		c.mu.Unlock()
		if sched {
			c.schedule()
		}
		return
	}
	wasHead := c.atHeadLocked(sl)
	c.mu.q.removeSlot(sl)
	for sl.q.len() > 0 {
		it := sl.q.popFront()
		c.freeItemLocked(&it)
	}
	sched := wasHead && c.mu.q.len() > 0 && c.needScheduleLocked()
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
}

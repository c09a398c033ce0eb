package netpoll

import "fmt"

// cutLocked cuts the connection as a slow consumer, because its queue would
// pass MaxPending (why == nil) or because bytes could not be staged (why
// says how): the queue is dropped except the rest of a message whose first
// bytes already reached the socket (when that rest is all queued), the
// -ERR line is queued behind it when it lands on a message boundary, and the
// connection closes once that is flushed, or at FlushTimeout. It logs the
// cut and reports whether the caller must schedule a run task.
func (c *conn) cutLocked(why error) bool {
	pending, staged := c.budgetLocked(), c.mu.spilled
	var reason error
	if why == nil {
		reason = fmt.Errorf("%w: max_pending of %d bytes exceeded", ErrSlowConsumer, c.s.maxPendingBytes())
	} else {
		reason = fmt.Errorf("%w: %w", ErrSlowConsumer, why)
	}
	told := c.trimToUnitLocked()
	if told {
		c.appendMemLocked(&c.mu.q, c.s.lines.slowConsumer, true)
	}
	c.closeLocked(reason, c.s.opts.Now().Add(c.s.opts.FlushTimeout))
	c.s.log.Warn("netpoll: slow consumer cut", "remote", c.remote, "reason", reason,
		"pending", pending, "staged", staged, "staging_used", c.s.staging.Used(), "told", told)
	return c.needScheduleLocked()
}

// trimToUnitLocked drops the outbound queue for a cut, keeping only what
// completes the unit (Write call, extent run or stream) the socket is in the
// middle of, and reports whether the peer will then stand on a unit
// boundary. It cannot when that unit is a stream still open (its publisher
// is still sending it): then everything is dropped and it reports false.
//
// What is kept is short: the end of an in-memory chunk (each chunk records
// its last unit end), a spill extent (extents start afresh at a unit
// boundary once they pass spillSegment), a caller's file extent, or the
// rest of an ended stream slot, which may be a whole large message already
// queued. The cut's flush deadline bounds how long it may take.
func (c *conn) trimToUnitLocked() bool {
	if !c.mu.midUnit {
		c.dropLocked()
		return true
	}
	q := &c.mu.q
	for i := q.head; i < len(q.items); i++ {
		it := &q.items[i]
		switch it.kind {
		case itemSlot:
			if !it.slot.ended {
				c.dropLocked()
				return false
			}
			c.dropFromLocked(i + 1)
			return true
		case itemMem:
			if it.end > it.off {
				c.uncountMemLocked(it, int64(len(it.ch.b)-it.end))
				it.ch.b = it.ch.b[:it.end]
				it.unitEnd = true
				c.dropFromLocked(i + 1)
				return true
			}
		case itemSpill, itemFile:
			if it.unitEnd {
				c.dropFromLocked(i + 1)
				return true
			}
		}
	}
	c.dropLocked()
	return false
}

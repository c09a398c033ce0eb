package netpoll

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WriteDeferred queues a copy of b like Write but never writes to the socket
// itself and schedules nothing: the bytes wait in the queue until the caller
// calls Flush (or the loop drains for another reason). A caller delivering
// many small messages in one batch (one read's worth of publishes, the acks
// of one group commit, one pull batch) calls WriteDeferred for each and Flush
// once per connection at the end, so they leave in one writev(2) instead of
// one write(2) each. b may be reused as soon as it returns. Errors are those
// of Write; on ErrSlowConsumer the connection is cut as by Write.
func (c *conn) WriteDeferred(b []byte) error {
	c.mu.Lock()
	sched, err := c.deferLocked(b)
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
	return err
}

// Flush sends what WriteDeferred queued: when no drain is handing bytes to
// gnet and gnet's outbound is known empty, it writes the in-memory chunks at
// the head of the queue with one non-blocking writev(2) from the caller's
// goroutine (the same rule as Write's fast path); whatever is left is handed
// to the loop. It never blocks and reports nothing: a socket error closes the
// connection. Safe from any goroutine; a no-op on an empty queue.
func (c *conn) Flush() {
	c.mu.Lock()
	sched := c.flushLocked()
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
}

// deferLocked queues b on the main queue without the direct-write fast path.
// It reports whether a run task must be scheduled (only when the connection
// is being cut or closed).
func (c *conn) deferLocked(b []byte) (bool, error) {
	if c.mu.closing {
		return false, ErrClosed
	}
	if len(b) == 0 {
		return false, nil
	}
	if c.budgetLocked()+int64(len(b)) > c.s.maxPendingBytes() {
		return c.cutLocked(nil), ErrSlowConsumer
	}
	if c.mu.spilled == 0 && c.mu.mem+c.mu.inflight+c.mu.gnetOut+int64(len(b)) <= c.s.watermarkBytes() {
		c.appendMemLocked(&c.mu.q, b, true)
		return false, nil
	}
	if err := c.appendSpillLocked(&c.mu.q, b, true); err != nil {
		return c.cutLocked(err), ErrSlowConsumer
	}
	return false, nil
}

// flushLocked writes the queue's leading in-memory chunks straight to the
// socket when the fast-path rule allows it and reports whether a run task
// must be scheduled for the rest.
func (c *conn) flushLocked() bool {
	if c.mu.q.len() == 0 || c.mu.gone {
		return false
	}
	if c.tc != nil || c.mu.closing || c.mu.inflight != 0 || c.mu.gnetOut != 0 {
		return c.needScheduleLocked()
	}
	iov := c.mu.iov[:0]
	q := &c.mu.q
	for i := q.head; i < len(q.items) && len(iov) < maxIov; i++ {
		it := &q.items[i]
		if it.kind != itemMem || it.staged {
			break
		}
		b := it.ch.b[it.off:]
		v := unix.Iovec{Base: unsafe.SliceData(b)}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	c.mu.iov = iov
	if len(iov) > 0 {
		n, err := writevDirect(c.fd, iov)
		clear(iov)
		if err != nil {
			c.failLocked(fmt.Errorf("netpoll: write: %w", err))
			return c.needScheduleLocked()
		}
		c.consumeMemLocked(n)
	}
	if c.mu.q.len() == 0 {
		return false
	}
	return c.needScheduleLocked()
}

// consumeMemLocked drops the first n bytes of the queue, which lie in its
// leading in-memory items and have reached the socket.
func (c *conn) consumeMemLocked(n int) {
	for n > 0 {
		it := c.mu.q.front()
		sz := int(it.size())
		if n < sz {
			it.off += n
			c.mu.mem -= int64(n)
			c.mu.midUnit = true
			return
		}
		n -= sz
		c.mu.mem -= int64(sz)
		c.mu.midUnit = !it.unitEnd
		c.s.chunks.put(it.ch)
		c.mu.q.popFront()
	}
}

// writevDirect performs one non-blocking writev(2) of iov on fd and returns
// how many bytes the kernel took; EAGAIN is not an error. It builds no
// slices, so it allocates nothing.
func writevDirect(fd int, iov []unix.Iovec) (int, error) {
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, errno
		}
	}
}

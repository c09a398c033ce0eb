package netpoll

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const (
	// maxIov caps the slices handed to gnet in one Writev: gnet does not
	// split a batch at the kernel's 1024-iovec limit.
	maxIov = 64
	// maxRounds bounds the hand-offs per drain, so one busy connection
	// cannot starve the others on its loop.
	maxRounds = 8
	// punchAlign is the granularity of hole punching in the spill file.
	punchAlign = 4096
)

// take is one thing the drain took from the queue in a round: a chunk's bytes
// (ch != nil) or a file extent still to be read back.
type take struct {
	ch    *chunk
	data  []byte
	f     io.ReaderAt
	off   int64
	n     int64
	spill bool
}

// drain moves queued bytes to gnet while gnet's outbound buffer is below the
// watermark, then updates the ticker watch and reports whether a flushing
// close has finished (the caller then closes the connection). Loop-only.
func (c *conn) drain() (closeNow bool) {
	for round := 0; ; round++ {
		c.mu.Lock()
		if c.mu.gone {
			c.mu.Unlock()
			return false
		}
		c.mu.gnetOut = c.outBuffered()
		var taken int64
		// A TLS connection's writer is a goroutine of its own: no loop to
		// share, so no round limit.
		if budget := c.s.watermarkBytes() - c.mu.gnetOut; budget > 0 && (round < maxRounds || c.tc != nil) {
			taken = c.takeLocked(budget)
		}
		// With gnet's outbound empty the loop owns the socket, so a
		// WriteFile extent at the head of the batch may go out with
		// sendfile(2).
		zeroCopy := c.mu.gnetOut == 0 && c.tc == nil
		if taken == 0 {
			c.truncateSpillLocked()
			closeNow = c.settleLocked()
			c.mu.Unlock()
			return closeNow
		}
		c.mu.Unlock()

		err := c.handOff(zeroCopy)

		c.mu.Lock()
		c.mu.inflight -= taken
		if c.mu.gone {
			c.mu.Unlock()
			return false
		}
		// Refresh in the same critical section that clears inflight, so a
		// direct write can never see gnet empty while it holds our bytes.
		c.mu.gnetOut = c.outBuffered()
		if err != nil {
			c.failLocked(err)
			c.mu.Unlock()
			if errors.Is(err, errPeerWrite) {
				c.s.log.Debug("netpoll: closing connection", "remote", c.remote, "err", err)
			} else {
				c.s.log.Error("netpoll: closing connection", "remote", c.remote, "err", err)
			}
			return true
		}
		c.mu.Unlock()
	}
}

// takeLocked moves up to about budget bytes from the head of the queue into
// c.batch, in queue order, and counts them as inflight. It pops finished
// stream slots and stops at an open one that has nothing queued. It returns
// the bytes taken.
func (c *conn) takeLocked(budget int64) int64 {
	c.batch = c.batch[:0]
	var taken int64
	iovs := 0
	for iovs < maxIov && taken < budget {
		q := &c.mu.q
		it := q.front()
		if it == nil {
			break
		}
		var sl *slot
		if it.kind == itemSlot {
			sl = it.slot
			if sl.q.len() == 0 {
				if !sl.ended {
					break
				}
				if sl.started {
					c.mu.midUnit = false
				}
				q.popFront()
				continue
			}
			q = &sl.q
			it = q.front()
		}
		switch it.kind {
		case itemMem:
			n := it.size()
			c.batch = append(c.batch, take{ch: it.ch, data: it.ch.b[it.off:]})
			c.mu.midUnit = !it.unitEnd
			c.uncountMemLocked(it, n)
			taken += n
			iovs++
			q.popFront()
		case itemSpill, itemFile:
			want := min(it.n, budget-taken, int64(maxIov-iovs)*chunkSize)
			c.batch = append(c.batch, take{f: it.f, off: it.foff, n: want, spill: it.kind == itemSpill})
			if it.kind == itemSpill {
				c.unspillLocked(want)
			} else {
				c.mu.ext -= want
			}
			it.foff += want
			it.n -= want
			taken += want
			iovs += int((want + chunkSize - 1) / chunkSize)
			c.mu.midUnit = true
			if it.n == 0 {
				c.mu.midUnit = !it.unitEnd
				q.popFront()
			}
		}
		if sl != nil {
			sl.started = true
		}
	}
	c.mu.inflight += taken
	return taken
}

// handOff reads back the file extents in c.batch and hands everything to
// gnet in one Write/Writev, then recycles the chunks. If zeroCopy (gnet's
// outbound was empty) and the batch starts with a WriteFile extent, as much
// of it as the socket takes is sent with sendfile(2) first. On a read error it
// hands over the bytes before the failure and returns the error; the caller
// must close the connection. Loop-only, without the lock.
func (c *conn) handOff(zeroCopy bool) error {
	var readErr error
	for i, t := range c.batch {
		if t.ch != nil {
			c.iov = append(c.iov, t.data)
			c.release = append(c.release, t.ch)
			continue
		}
		off, n := t.off, t.n
		// Not for spill extents: sendfile hands page-cache pages to the
		// socket by reference, and punching holes (or reusing the file)
		// before they are transmitted would change bytes already "sent".
		if f, ok := t.f.(*os.File); ok && i == 0 && zeroCopy && !t.spill {
			sent := sendFile(c.fd, f, off, n)
			off += sent
			n -= sent
		}
		for n > 0 && readErr == nil {
			ch := c.s.chunks.get()
			k := min(n, chunkSize)
			ch.b = ch.b[:k]
			if _, err := t.f.ReadAt(ch.b, off); err != nil {
				c.s.chunks.put(ch)
				readErr = fmt.Errorf("netpoll: reading back queued extent: %w", err)
				break
			}
			c.iov = append(c.iov, ch.b)
			c.release = append(c.release, ch)
			off += k
			n -= k
		}
		if readErr != nil {
			break
		}
		if t.spill {
			t.f.(SpillFile).Punch(t.off, t.n)
		}
	}
	switch {
	case c.tc != nil:
		if err := c.tc.writeAll(c.iov); err != nil && readErr == nil {
			readErr = err
		}
	case len(c.iov) == 0:
	case len(c.iov) == 1:
		_, _ = c.gc.Write(c.iov[0])
	default:
		_, _ = c.gc.Writev(c.iov)
	}
	for _, ch := range c.release {
		c.s.chunks.put(ch)
	}
	clear(c.iov)
	clear(c.release)
	clear(c.batch)
	c.iov, c.release, c.batch = c.iov[:0], c.release[:0], c.batch[:0]
	return readErr
}

// sendFile sends up to n bytes of f at off on the non-blocking socket fd
// with sendfile(2) and returns how many went out. It stops at EAGAIN; other
// errors also just stop it, leaving the rest to the copying path (which
// reports a dead socket through gnet).
func sendFile(fd int, f *os.File, off, n int64) int64 {
	in := int(f.Fd())
	var sent int64
	for sent < n {
		o := off + sent
		k, err := unix.Sendfile(fd, in, &o, int(min(n-sent, 1<<30)))
		if k > 0 {
			sent += int64(k)
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			break
		}
		if k == 0 {
			break
		}
	}
	return sent
}

// outBuffered is what gnet holds of the connection's outbound; a TLS
// connection's writes are synchronous, so it holds nothing.
func (c *conn) outBuffered() int64 {
	if c.tc != nil {
		return 0
	}
	return int64(c.gc.OutboundBuffered())
}

// truncateSpillLocked empties the spill file once nothing staged remains, so
// its offsets restart at zero. Only the loop reads the file, and it calls
// this between reads.
func (c *conn) truncateSpillLocked() {
	if c.mu.spill == nil || c.mu.spilled != 0 || c.mu.spillEnd == 0 {
		return
	}
	if err := c.mu.spill.Truncate(0); err != nil {
		c.s.log.Warn("netpoll: truncating spill file", "remote", c.remote, "err", err)
		return
	}
	c.mu.spillEnd = 0
}

// settleLocked runs at the end of a drain: keep the connection on the
// ticker's watch list while it has a backlog the ticker can move (or is
// closing), and report whether a flushing close is complete.
func (c *conn) settleLocked() (closeNow bool) {
	if c.mu.closing {
		c.watchLocked()
		return c.mu.q.len() == 0 && c.mu.inflight == 0 && c.mu.gnetOut == 0
	}
	if c.mu.gnetOut > 0 || c.progressLocked() {
		c.watchLocked()
	} else {
		c.unwatchLocked()
	}
	return false
}

// progressLocked reports whether the head of the queue could be taken now
// (false when the queue is empty or blocked on an open, empty stream slot).
func (c *conn) progressLocked() bool {
	it := c.mu.q.front()
	if it == nil {
		return false
	}
	if it.kind == itemSlot {
		return it.slot.q.len() > 0 || it.slot.ended
	}
	return true
}

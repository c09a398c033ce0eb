package netpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/bargemq/barge/broker"
)

// conn is one client connection: it implements broker.Transport. Methods
// without a Locked suffix are safe from any goroutine; those documented as
// loop-only run on the connection's gnet event loop.
type conn struct {
	s      *Server
	gc     gnet.Conn      // loop-only methods except Fd/EventLoop
	el     gnet.EventLoop // goroutine-safe Execute
	fd     int            // the socket, written directly on the fast path
	remote string
	task   gnet.RunnableFunc // cached c.run, so scheduling allocates no closure
	// tc is set for a TLS connection (tls.go): it has no gnet loop, gc, el
	// and fd are unused, and a writer goroutine of its own drains the queue.
	tc *tlsConn

	// Loop-only state.
	session broker.Session
	batch   []take   // drain scratch: what one round took from the queue
	iov     [][]byte // drain scratch: what one round hands to gnet
	release []*chunk // drain scratch: chunks to recycle after the hand-off

	mu struct {
		sync.Mutex
		q deque // the outbound queue (main list; slots hold their own)
		// Byte counts. mem: in queued chunks. spilled: in the spill file.
		// ext: in caller files (WriteFile). inflight: taken by the drain and
		// not yet handed to gnet. gnetOut: gnet's OutboundBuffered as last
		// read on the loop; gnet only shrinks it between reads, so it errs
		// high.
		mem, spilled, ext, inflight, gnetOut int64
		// scheduled: a run task is queued on the loop and not yet started.
		scheduled bool
		// midUnit: bytes handed to the socket so far end inside a Write call
		// or an unfinished stream, so an -ERR line now would corrupt it.
		midUnit  bool
		spill    SpillFile // created lazily, invisible to others
		spillEnd int64     // append offset in spill
		// closing: no more writes are accepted. closeNow: the next run task
		// closes without flushing. deadline: when a flushing close gives up
		// (zero: never). reason: handed to Session.Closed.
		closing, closeNow bool
		deadline          time.Time
		reason            error
		reasonSet         bool
		// gone: gnet has closed the connection; fd may be reused.
		gone bool
		// watched: the conn is in the Server's ticker set.
		watched bool
		// iov: Flush's scratch for one writev(2), kept to stay allocation-free.
		iov []unix.Iovec
	}
}

var _ broker.Transport = (*conn)(nil)

// Write copies b into the outbound queue (or sends it at once, see the package
// doc) and returns; b may be reused as soon as it returns. Bytes reach the
// socket in call order, after any open stream. Each call is one unit for the
// slow-consumer cut: its -ERR line is only sent on a unit boundary, so a
// message written in several calls belongs in a Stream. It returns ErrClosed once the
// transport is closed or closing, ErrSlowConsumer if b would push the queue
// past MaxPending or if it cannot be staged (Staging's budget, the disk's
// free-space reserve, a spill-file error): the connection is then cut.
func (c *conn) Write(b []byte) error {
	c.mu.Lock()
	sched, err := c.enqueueLocked(&c.mu.q, nil, b, true)
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
	return err
}

// WriteFile queues the n bytes of f at offset off, read with pread when the
// socket is ready for them (or sent with sendfile(2) when gnet's outbound is
// empty); the extent is one message boundary unit, like a Write. f is not
// closed by netpoll; it must stay open, and the extent's bytes unchanged,
// until they are sent (Pending drops by n and a little after: sendfile hands
// pages to the kernel by reference) or the connection is closed. Unlinking f
// is fine. A read error closes the connection. These bytes count in Pending but not against MaxPending.
// It returns ErrClosed once the transport is closing.
func (c *conn) WriteFile(f *os.File, off, n int64) error {
	c.mu.Lock()
	sched, err := c.enqueueFileLocked(&c.mu.q, f, off, n, true)
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
	return err
}

// WriteExtents queues head, the extents' bytes (read at send time; sent with
// sendfile(2) when an extent's reader is an *os.File and gnet's outbound is
// empty) and tail as one unit, under one lock so nothing else lands inside
// it. Ownership and errors are as for Write (head, tail) and WriteFile
// (extents); on an error part of the unit may be queued, and the connection
// is then closing.
func (c *conn) WriteExtents(head []byte, ext []broker.Extent, tail []byte) error {
	c.mu.Lock()
	sched, err := c.enqueueLocked(&c.mu.q, nil, head, len(ext) == 0 && len(tail) == 0)
	for i := 0; err == nil && i < len(ext); i++ {
		e := ext[i]
		var s bool
		s, err = c.enqueueFileLocked(&c.mu.q, e.R, e.Off, e.Len, i == len(ext)-1 && len(tail) == 0)
		sched = sched || s
	}
	if err == nil {
		var s bool
		s, err = c.enqueueLocked(&c.mu.q, nil, tail, true)
		sched = sched || s
	}
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
	return err
}

// isNilFile reports an *os.File typed nil hiding in an io.ReaderAt.
func isNilFile(r io.ReaderAt) bool {
	f, ok := r.(*os.File)
	return ok && f == nil
}

// enqueueFileLocked queues a file extent on list q and reports whether a run
// task must be scheduled.
func (c *conn) enqueueFileLocked(q *deque, f io.ReaderAt, off, n int64, unitEnd bool) (bool, error) {
	if c.mu.closing {
		return false, ErrClosed
	}
	if n <= 0 {
		return false, nil
	}
	if f == nil || off < 0 || (isNilFile(f)) {
		return false, fmt.Errorf("netpoll: WriteFile: bad extent (file %v, offset %d)", f != nil, off)
	}
	q.push(item{kind: itemFile, unitEnd: unitEnd, f: f, foff: off, n: n})
	c.mu.ext += n
	return c.needScheduleLocked(), nil
}

// BeginStream opens a slot at the tail of the queue; see Stream. It returns
// ErrClosed once the transport is closing. The caller must End or Abort it.
func (c *conn) BeginStream() (broker.Stream, error) {
	sl := &slot{c: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closing {
		return nil, ErrClosed
	}
	c.mu.q.push(item{kind: itemSlot, slot: sl})
	return sl, nil
}

// Close stops accepting writes, flushes what is queued for at most
// FlushTimeout, then closes the connection. reason is handed to
// Session.Closed (nil for a clean close). Calls after the first are no-ops.
func (c *conn) Close(reason error) {
	c.beginClose(reason, c.s.opts.Now().Add(c.s.opts.FlushTimeout))
}

// Pending returns the bytes queued and not yet written to the socket: queued
// chunks, staged bytes, WriteFile extents, and gnet's outbound buffer as last
// seen by the loop (which may lag by one DrainInterval).
func (c *conn) Pending() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.mem + c.mu.spilled + c.mu.ext + c.mu.inflight + c.mu.gnetOut
}

// RemoteAddr returns the peer's host:port.
func (c *conn) RemoteAddr() string { return c.remote }

// enqueueLocked queues b on list q (the main queue when sl is nil, else the
// slot's). unitEnd marks b's end as a message boundary. It reports whether a
// run task must be scheduled.
func (c *conn) enqueueLocked(q *deque, sl *slot, b []byte, unitEnd bool) (bool, error) {
	if c.mu.closing {
		return false, ErrClosed
	}
	if len(b) == 0 {
		return false, nil
	}
	if c.budgetLocked()+int64(len(b)) > c.s.maxPendingBytes() {
		return c.cutLocked(nil), ErrSlowConsumer
	}
	if c.tc == nil && q.len() == 0 && c.mu.inflight == 0 && c.mu.gnetOut == 0 &&
		(sl == nil && c.mu.q.len() == 0 || sl != nil && c.atHeadLocked(sl)) {
		n, err := c.writeDirectLocked(b)
		if err != nil {
			c.failLocked(fmt.Errorf("netpoll: write: %w", err))
			return c.needScheduleLocked(), ErrClosed
		}
		if n > 0 && sl != nil {
			sl.started = true
		}
		if n == len(b) {
			c.mu.midUnit = !unitEnd
			return false, nil
		}
		c.mu.midUnit = c.mu.midUnit || n > 0
		b = b[n:]
	}
	if c.mu.spilled == 0 && c.mu.mem+c.mu.inflight+c.mu.gnetOut+int64(len(b)) <= c.s.watermarkBytes() {
		c.appendMemLocked(q, b, unitEnd)
	} else if err := c.appendSpillLocked(q, b, unitEnd); err != nil {
		return c.cutLocked(err), ErrSlowConsumer
	}
	return c.needScheduleLocked(), nil
}

// writeDirectLocked performs one non-blocking write(2) of b on the socket. It
// returns how many bytes the kernel took; EAGAIN is not an error.
func (c *conn) writeDirectLocked(b []byte) (int, error) {
	for {
		n, err := unix.Write(c.fd, b)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, nil
		default:
			return 0, err
		}
	}
}

// atHeadLocked reports whether sl is the first item of the main queue.
func (c *conn) atHeadLocked(sl *slot) bool {
	f := c.mu.q.front()
	return f != nil && f.kind == itemSlot && f.slot == sl
}

// budgetLocked is what counts against MaxPending.
func (c *conn) budgetLocked() int64 {
	return c.mu.mem + c.mu.spilled + c.mu.inflight + c.mu.gnetOut
}

// needScheduleLocked marks a run task as scheduled and reports whether the
// caller must schedule it (false when one is queued and not yet started: that
// one reads the state when it starts, so it will see what the caller set).
func (c *conn) needScheduleLocked() bool {
	if c.mu.scheduled || c.mu.gone {
		return false
	}
	c.mu.scheduled = true
	return true
}

// appendMemLocked copies b into pooled chunks at the tail of q, filling the
// tail chunk first.
func (c *conn) appendMemLocked(q *deque, b []byte, unitEnd bool) {
	c.mu.mem += int64(len(b))
	if t := q.back(); t != nil && t.kind == itemMem && !t.staged && len(t.ch.b) < chunkSize {
		n := min(len(b), chunkSize-len(t.ch.b))
		t.ch.b = append(t.ch.b, b[:n]...)
		b = b[n:]
		t.unitEnd = unitEnd && len(b) == 0
		if t.unitEnd {
			t.end = len(t.ch.b)
		}
	}
	for len(b) > 0 {
		ch := c.s.chunks.get()
		n := min(len(b), chunkSize)
		ch.b = append(ch.b, b[:n]...)
		b = b[n:]
		it := item{kind: itemMem, ch: ch, unitEnd: unitEnd && len(b) == 0}
		if it.unitEnd {
			it.end = len(ch.b)
		}
		q.push(it)
	}
}

// spillSegment is the size past which staged bytes start a new queue item at
// the next unit boundary, so that the rest of a unit is never far from a
// boundary the slow-consumer cut can stop at (see trimToUnitLocked).
const spillSegment = 1 << 20

// appendSpillLocked stages b behind everything queued: bytes reserved in
// the Server's Staging budget, then gathered in a staged in-memory chunk at
// the tail of q, which goes to the spill file with one pwrite once full (a
// slow subscriber of small messages costs one pwrite per chunk, not one per
// message), and a write of a chunk or more goes to the file directly.
// Extents are created on first use of the file, and queued or extended at
// the tail of q. An error (budget, free space, the file system) leaves the
// queue as it was: every queued byte is still readable.
func (c *conn) appendSpillLocked(q *deque, b []byte, unitEnd bool) error {
	n := int64(len(b))
	st := c.s.staging
	if err := st.acquire(n); err != nil {
		return err
	}
	t := q.back()
	if t != nil && t.kind == itemMem && t.staged && (len(t.ch.b)+len(b) > chunkSize || len(b) >= chunkSize) {
		if err := c.writeStagedLocked(q); err != nil {
			st.release(n)
			return err
		}
		t = q.back()
	}
	if len(b) < chunkSize {
		if t == nil || t.kind != itemMem || !t.staged {
			q.push(item{kind: itemMem, staged: true, ch: c.s.chunks.get()})
			t = q.back()
		}
		t.ch.b = append(t.ch.b, b...)
		t.unitEnd = unitEnd
		if unitEnd {
			t.end = len(t.ch.b)
		}
		c.mu.spilled += n
		st.buffered.Add(n)
		return nil
	}
	if err := c.spillWriteLocked(b); err != nil {
		st.release(n)
		return err
	}
	c.pushExtentLocked(q, n, unitEnd)
	c.mu.spilled += n
	return nil
}

// writeStagedLocked writes the staged chunk at the tail of q to the spill
// file and turns it into an extent there (joined to the extent before it
// when they are adjacent). On an error the chunk stays queued as it was.
func (c *conn) writeStagedLocked(q *deque) error {
	t := q.back()
	b := t.ch.b[t.off:]
	if err := c.spillWriteLocked(b); err != nil {
		return err
	}
	n, unitEnd, ch := int64(len(b)), t.unitEnd, t.ch
	q.truncate(len(q.items) - 1)
	c.s.staging.buffered.Add(-n)
	c.s.chunks.put(ch)
	c.pushExtentLocked(q, n, unitEnd)
	return nil
}

// spillWriteLocked writes b at the spill file's end, creating the file on
// first use; the caller advances spillEnd with pushExtentLocked.
func (c *conn) spillWriteLocked(b []byte) error {
	if c.mu.spill == nil {
		f, err := c.s.staging.fs.Create(c.s.staging.dir)
		if err != nil {
			return fmt.Errorf("staging: creating spill file: %w", err)
		}
		c.mu.spill = f
		c.mu.spillEnd = 0
	}
	if _, err := c.mu.spill.WriteAt(b, c.mu.spillEnd); err != nil {
		return fmt.Errorf("staging: writing spill file: %w", err)
	}
	return nil
}

// pushExtentLocked queues the n bytes just written at spillEnd as an
// extent at the tail of q, extending the tail extent when it ends there.
func (c *conn) pushExtentLocked(q *deque, n int64, unitEnd bool) {
	if t := q.back(); t != nil && t.kind == itemSpill && t.foff+t.n == c.mu.spillEnd &&
		(t.n < spillSegment || !t.unitEnd) {
		t.n += n
		t.unitEnd = unitEnd
	} else {
		q.push(item{kind: itemSpill, unitEnd: unitEnd, f: c.mu.spill, foff: c.mu.spillEnd, n: n})
	}
	c.mu.spillEnd += n
}

// uncountMemLocked uncounts n bytes of in-memory item it that were taken
// for the socket or dropped: mem bytes, or staged ones returned to the
// Staging budget.
func (c *conn) uncountMemLocked(it *item, n int64) {
	if it.staged {
		c.unspillLocked(n)
		c.s.staging.buffered.Add(-n)
		return
	}
	c.mu.mem -= n
}

// unspillLocked uncounts n staged bytes that were taken for the socket or
// dropped, returning them to the Staging budget.
func (c *conn) unspillLocked(n int64) {
	c.mu.spilled -= n
	c.s.staging.release(n)
}

// dropLocked empties the queue, returning chunks to the pool and zeroing the
// counters of what it held. Bytes taken by a running drain are its own.
func (c *conn) dropLocked() {
	c.dropFromLocked(c.mu.q.head)
}

// dropFromLocked drops the main queue's items from index i (of q.items) on.
func (c *conn) dropFromLocked(i int) {
	q := &c.mu.q
	for j := i; j < len(q.items); j++ {
		it := &q.items[j]
		if it.kind == itemSlot {
			sl := it.slot
			sl.done = true
			for sl.q.len() > 0 {
				p := sl.q.popFront()
				c.freeItemLocked(&p)
			}
			*it = item{}
			continue
		}
		c.freeItemLocked(it)
	}
	q.truncate(i)
}

// freeItemLocked releases one non-slot item and uncounts its bytes.
func (c *conn) freeItemLocked(it *item) {
	switch it.kind {
	case itemMem:
		c.uncountMemLocked(it, it.size())
		c.s.chunks.put(it.ch)
	case itemSpill:
		c.unspillLocked(it.n)
	case itemFile:
		c.mu.ext -= it.n
	}
	*it = item{}
}

// failLocked closes the connection at once for reason.
func (c *conn) failLocked(reason error) {
	c.dropLocked()
	c.closeLocked(reason, time.Time{})
	c.mu.closeNow = true
}

// closeLocked marks the connection closing with reason (the first reason
// wins) and a flush deadline, and puts it on the ticker's watch list.
func (c *conn) closeLocked(reason error, deadline time.Time) {
	if c.mu.closing {
		return
	}
	c.mu.closing = true
	c.mu.deadline = deadline
	if !c.mu.reasonSet {
		c.mu.reason, c.mu.reasonSet = reason, true
	}
	c.watchLocked()
}

// beginClose is Close with an explicit deadline (zero: flush for as long as
// it takes).
func (c *conn) beginClose(reason error, deadline time.Time) {
	c.mu.Lock()
	c.closeLocked(reason, deadline)
	sched := c.needScheduleLocked()
	c.mu.Unlock()
	if sched {
		c.schedule()
	}
}

// forceClose closes the connection without flushing, keeping an earlier
// reason if there is one.
func (c *conn) forceClose(reason error) {
	c.mu.Lock()
	c.closeLocked(reason, time.Time{})
	c.mu.closeNow = true
	sched := c.needScheduleLocked()
	c.mu.Unlock()
	if c.tc != nil {
		// A TLS writer may be blocked on the socket with a run already
		// scheduled: closing the socket is what stops it.
		c.tc.closeRaw()
	}
	if sched {
		c.schedule()
	}
}

// watchLocked adds the connection to the ticker's set (lock order: conn.mu
// before Server.mu).
func (c *conn) watchLocked() {
	if c.mu.watched || c.mu.gone {
		return
	}
	c.mu.watched = true
	c.s.watch(c)
}

// unwatchLocked removes the connection from the ticker's set.
func (c *conn) unwatchLocked() {
	if !c.mu.watched {
		return
	}
	c.mu.watched = false
	c.s.unwatch(c)
}

// schedule queues a run task on the connection's loop. If the engine is
// stopping the task cannot be queued; the engine closes the connection.
func (c *conn) schedule() {
	if c.tc != nil {
		c.tc.schedule(c)
		return
	}
	if err := c.el.Execute(context.Background(), c.task); err != nil {
		c.mu.Lock()
		c.mu.scheduled = false
		c.mu.Unlock()
	}
}

// run is the loop task: close if asked, drain, and close once a flushing
// close has flushed. Loop-only.
func (c *conn) run(context.Context) error {
	c.mu.Lock()
	if c.mu.gone {
		c.mu.Unlock()
		return nil
	}
	c.mu.scheduled = false
	now := c.mu.closeNow
	c.mu.Unlock()
	if now {
		return c.el.Close(c.gc)
	}
	if c.drain() {
		return c.el.Close(c.gc)
	}
	return nil
}

// tick is the ticker's visit: give up a flush past its deadline, else drain.
func (c *conn) tick(now time.Time) {
	c.mu.Lock()
	if c.mu.gone {
		c.unwatchLocked()
		c.mu.Unlock()
		return
	}
	cut := c.mu.closing && !c.mu.closeNow && !c.mu.deadline.IsZero() && now.After(c.mu.deadline)
	if cut {
		c.mu.closeNow = true
	}
	sched := c.needScheduleLocked()
	c.mu.Unlock()
	if cut && c.tc != nil {
		c.tc.closeRaw() // as in forceClose
	}
	if sched {
		c.schedule()
	}
}

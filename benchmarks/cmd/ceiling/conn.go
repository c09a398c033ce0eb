package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

const (
	readBufSize    = 1 << 20  // one read takes up to this much
	maxControlLine = 4096     // nats-server's max_control_line
	bigMsg         = 32 << 10 // payloads from this size are written with writev, not copied
	flushAt        = 1 << 20  // a connection's buffered output is written once this large
	keepWbuf       = 4 << 20  // a larger output buffer is dropped after a flush
	crlf           = "\r\n"
	pongLine       = "PONG\r\n"
	okLine         = "+OK\r\n"
	noRespHdr      = "NATS/1.0 503\r\n\r\n"
	maxPayloadErr  = "Maximum Payload Violation"
	unknownOpErr   = "Unknown Protocol Operation"
	controlLineErr = "Maximum Control Line Exceeded"
)

// conn is one client connection. One goroutine (run) reads and parses it;
// any goroutine may write to it through an outbox.
type conn struct {
	s  *server
	nc net.Conn
	id uint64

	// Owned by the reading goroutine.
	echo, verbose, noResponders bool
	subs                        map[string]*sub // by sid
	out                         outbox          // what this reader's batch wrote to
	matches                     []*sub          // reused match result
	line                        msgLine         // reused MSG line parts
	scratch                     []byte          // reused for PubAcks and API replies

	wmu    sync.Mutex // guards wbuf, werr and writing to nc
	wbuf   []byte     // output not yet written
	werr   error      // the first write error; later writes are dropped
	closed atomic.Bool

	// For /connz (nb-core waits there for its subscriber): the CONNECT
	// name and the number of subscriptions, written by the reader.
	name  atomic.Pointer[string]
	nsubs atomic.Int32
}

func newConn(s *server, nc net.Conn, id uint64) *conn {
	return &conn{s: s, nc: nc, id: id, echo: true, subs: map[string]*sub{}}
}

// msgLine is a MSG/HMSG line without the sid: "MSG " + pre + sid + post.
type msgLine struct {
	hmsg bool
	pre  []byte // "<subject> "
	post []byte // " [reply] <size>\r\n" or " [reply] <hdrlen> <total>\r\n"
}

// set fills the line for a message on subj with reply (may be empty) and
// hdrLen header bytes (-1: no headers) out of total.
func (l *msgLine) set(subj, reply string, hdrLen, total int) {
	l.hmsg = hdrLen >= 0
	l.pre = append(append(l.pre[:0], subj...), ' ')
	l.post = l.post[:0]
	if reply != "" {
		l.post = append(append(append(l.post, ' '), reply...), ' ')
	} else {
		l.post = append(l.post, ' ')
	}
	if l.hmsg {
		l.post = append(strconv.AppendInt(l.post, int64(hdrLen), 10), ' ')
	}
	l.post = append(strconv.AppendInt(l.post, int64(total), 10), crlf...)
}

// setBytes is set for a subject and reply read off the wire.
func (l *msgLine) setBytes(subj, reply []byte, hdrLen, total int) {
	l.hmsg = hdrLen >= 0
	l.pre = append(append(l.pre[:0], subj...), ' ')
	l.post = append(l.post[:0], ' ')
	if len(reply) > 0 {
		l.post = append(append(l.post, reply...), ' ')
	}
	if l.hmsg {
		l.post = append(strconv.AppendInt(l.post, int64(hdrLen), 10), ' ')
	}
	l.post = append(strconv.AppendInt(l.post, int64(total), 10), crlf...)
}

// outbox remembers the connections a batch of work appended output to, so
// that each is written once per batch (one syscall for many messages).
type outbox struct{ dirty []*conn }

func (o *outbox) mark(c *conn) {
	if !slices.Contains(o.dirty, c) {
		o.dirty = append(o.dirty, c)
	}
}

func (o *outbox) flush() {
	for i, c := range o.dirty {
		c.wmu.Lock()
		c.flushLocked()
		c.wmu.Unlock()
		o.dirty[i] = nil
	}
	o.dirty = o.dirty[:0]
}

// send writes one message to subscription x. Small ones are appended to
// x's connection's buffer (written by o.flush); large ones go out at once
// with writev, straight from hdr and data.
func (o *outbox) send(x *sub, l *msgLine, hdr, data []byte) {
	c := x.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return
	}
	if l.hmsg {
		c.wbuf = append(c.wbuf, "HMSG "...)
	} else {
		c.wbuf = append(c.wbuf, "MSG "...)
	}
	c.wbuf = append(append(append(c.wbuf, l.pre...), x.sid...), l.post...)
	if len(hdr)+len(data) < bigMsg {
		c.wbuf = append(append(append(c.wbuf, hdr...), data...), crlf...)
		if len(c.wbuf) >= flushAt {
			c.flushLocked()
		} else {
			o.mark(c)
		}
		return
	}
	c.wbuf = append(c.wbuf, hdr...)
	c.writevLocked(c.wbuf, data, []byte(crlf))
}

// queue appends raw protocol bytes (PONG, +OK, INFO) to c's output.
func (o *outbox) queue(c *conn, b string) {
	c.wmu.Lock()
	c.wbuf = append(c.wbuf, b...)
	c.wmu.Unlock()
	o.mark(c)
}

func (c *conn) flushLocked() {
	if len(c.wbuf) == 0 {
		return
	}
	if c.werr == nil {
		if _, err := c.nc.Write(c.wbuf); err != nil {
			c.failLocked(err)
		}
	}
	c.resetWbufLocked()
}

// writevLocked writes the buffers in one writev (net.Buffers) and empties
// wbuf, which may be the first of them.
func (c *conn) writevLocked(b ...[]byte) {
	if c.werr == nil {
		bufs := net.Buffers(b)
		if _, err := bufs.WriteTo(c.nc); err != nil {
			c.failLocked(err)
		}
	}
	c.resetWbufLocked()
}

func (c *conn) resetWbufLocked() {
	if cap(c.wbuf) > keepWbuf {
		c.wbuf = nil
	} else {
		c.wbuf = c.wbuf[:0]
	}
}

func (c *conn) failLocked(err error) {
	c.werr = err
	_ = c.nc.Close() // the reader sees it and cleans up
}

func (c *conn) close() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	_ = c.nc.Close()
	c.s.removeConn(c)
}

// run serves the connection until it closes: INFO, then read and parse,
// writing what each read produced before the next read.
func (c *conn) run() {
	defer c.close()
	c.wmu.Lock()
	c.wbuf = append(c.wbuf, c.s.info...)
	c.flushLocked()
	c.wmu.Unlock()
	buf := make([]byte, readBufSize)
	r, w := 0, 0
	for {
		n, rerr := c.nc.Read(buf[w:])
		w += n
		var perr error
		r, w, perr = c.parse(buf, r, w)
		c.out.flush()
		if perr != nil {
			c.wmu.Lock()
			c.wbuf = append(append(append(c.wbuf, "-ERR '"...), perr.Error()...), "'\r\n"...)
			c.flushLocked()
			c.wmu.Unlock()
			return
		}
		if rerr != nil {
			return
		}
		if r == w {
			r, w = 0, 0
		} else if r > 0 {
			w = copy(buf, buf[r:w])
			r = 0
		}
	}
}

// parse handles every complete operation in buf[r:w] and returns where the
// unconsumed bytes start and end.
func (c *conn) parse(buf []byte, r, w int) (int, int, error) {
	for r < w {
		i := bytes.IndexByte(buf[r:w], '\n')
		if i < 0 {
			if w-r > maxControlLine {
				return r, w, errors.New(controlLineErr)
			}
			return r, w, nil
		}
		line := buf[r : r+i]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		p := r + i + 1 // first byte after the control line
		var args [6][]byte
		op, a := splitOp(line, &args)
		switch {
		case eqFold(op, "PUB") || eqFold(op, "HPUB"):
			hpub := len(op) == 4
			subj, reply, hdrLen, size, ok := pubArgs(a, hpub)
			if !ok {
				return r, w, errors.New(unknownOpErr)
			}
			if int64(size) > c.s.opts.MaxPayload {
				return r, w, errors.New(maxPayloadErr)
			}
			if w-p >= size+2 {
				c.processMsg(subj, reply, hdrLen, buf[p:p+size], false)
				r = p + size + 2
			} else if p-r+size+2 <= len(buf) {
				return r, w, nil // wait for the rest
			} else {
				if err := c.processBig(buf, subj, reply, hdrLen, size, p, w); err != nil {
					return 0, 0, err
				}
				return 0, 0, nil
			}
			if c.verbose {
				c.out.queue(c, okLine)
			}
			continue
		case eqFold(op, "PING"):
			c.out.queue(c, pongLine)
		case eqFold(op, "PONG"):
		case eqFold(op, "SUB"):
			if len(a) < 2 || len(a) > 3 {
				return r, w, errors.New(unknownOpErr)
			}
			x := &sub{c: c, subject: string(a[0]), sid: string(a[len(a)-1])}
			if len(a) == 3 {
				x.queue = string(a[1])
			}
			x.lit = isLiteral(x.subject)
			if _, dup := c.subs[x.sid]; !dup {
				c.nsubs.Add(1)
			}
			c.subs[x.sid] = x
			c.s.addSub(x)
		case eqFold(op, "UNSUB"):
			if len(a) < 1 {
				return r, w, errors.New(unknownOpErr)
			}
			x := c.subs[string(a[0])]
			if x == nil {
				break
			}
			if len(a) > 1 {
				if m, ok := atoi(a[1]); ok && m > 0 && int64(m) > x.n.Load() {
					x.max.Store(int64(m))
					break
				}
			}
			delete(c.subs, x.sid)
			c.nsubs.Add(-1)
			c.s.removeSubs(func(y *sub) bool { return y == x })
		case eqFold(op, "CONNECT"):
			var o struct {
				Verbose      bool   `json:"verbose"`
				Echo         *bool  `json:"echo"`
				NoResponders bool   `json:"no_responders"`
				Name         string `json:"name"`
			}
			if len(line) > 8 {
				_ = json.Unmarshal(line[8:], &o)
			}
			c.verbose, c.noResponders = o.Verbose, o.NoResponders
			c.name.Store(&o.Name)
			if o.Echo != nil {
				c.echo = *o.Echo
			}
		case len(op) == 0:
		default:
			return r, w, errors.New(unknownOpErr)
		}
		if c.verbose && !eqFold(op, "PING") && !eqFold(op, "PONG") {
			c.out.queue(c, okLine)
		}
		r = p
	}
	return r, w, nil
}

// processBig takes a message too large for the read buffer, of which
// buf[p:w] has arrived. One that a stream stores, or that goes twice to
// one connection, is read into its own slice; any other is cut through to
// its subscribers as it arrives, a read buffer at a time.
func (c *conn) processBig(buf []byte, subj, reply []byte, hdrLen, size, p, w int) error {
	// subj and reply point into buf, which the cut-through reuses.
	subjB, replyB := slices.Clone(subj), slices.Clone(reply)
	var targets []*sub
	whole := c.s.js.captures(subjB) || bytes.HasPrefix(subjB, []byte("$JS."))
	if !whole {
		c.matches = c.s.match(c.matches[:0], subjB)
		targets = c.deliverable(c.matches)
		slices.SortFunc(targets, func(a, b *sub) int { return cmpID(a.c, b.c) })
		for i := 1; i < len(targets); i++ {
			whole = whole || targets[i].c == targets[i-1].c
		}
	}
	if whole {
		msg := make([]byte, size)
		have := copy(msg, buf[p:w])
		if _, err := io.ReadFull(c.nc, msg[have:]); err != nil {
			return err
		}
		if err := c.readCRLF(buf); err != nil {
			return err
		}
		c.processMsg(subjB, replyB, hdrLen, msg, true)
		return nil
	}
	c.line.setBytes(subjB, replyB, hdrLen, size)
	c.out.flush() // what this batch queued for these connections goes first
	for _, x := range targets {
		x.c.wmu.Lock()
		if c.line.hmsg {
			x.c.wbuf = append(x.c.wbuf, "HMSG "...)
		} else {
			x.c.wbuf = append(x.c.wbuf, "MSG "...)
		}
		x.c.wbuf = append(append(append(x.c.wbuf, c.line.pre...), x.sid...), c.line.post...)
	}
	defer func() {
		for _, x := range targets {
			x.c.wbuf = append(x.c.wbuf, crlf...)
			x.c.flushLocked()
			x.c.wmu.Unlock()
		}
	}()
	part := buf[p:w]
	left := size - len(part)
	for {
		for _, x := range targets {
			x.c.writevLocked(x.c.wbuf, part)
		}
		if left == 0 {
			break
		}
		n, err := c.nc.Read(buf[:min(left, len(buf))])
		if err != nil && n == 0 {
			return err
		}
		part, left = buf[:n], left-n
	}
	return c.readCRLF(buf)
}

func cmpID(a, b *conn) int {
	switch {
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// readCRLF consumes the CRLF that ends a payload.
func (c *conn) readCRLF(buf []byte) error {
	_, err := io.ReadFull(c.nc, buf[:2])
	return err
}

// deliverable filters matches down to those that take this message: not
// this connection's own when it asked for no echo, not past an
// auto-unsubscribe limit.
func (c *conn) deliverable(ms []*sub) []*sub {
	out := ms[:0]
	for _, x := range ms {
		if x.c == c && !c.echo {
			continue
		}
		if mx := x.max.Load(); mx > 0 {
			if n := x.n.Add(1); n > mx {
				continue
			} else if n == mx {
				c.s.removeSubs(func(y *sub) bool { return y == x })
			}
		}
		out = append(out, x)
	}
	return out
}

// processMsg routes one complete message: JetStream API, acks and flow
// control replies to the JetStream side; anything else to its
// subscribers, then to the stream that captures it. owned says payload
// may be kept (otherwise it lies in the read buffer).
func (c *conn) processMsg(subj, reply []byte, hdrLen int, payload []byte, owned bool) {
	if bytes.HasPrefix(subj, []byte("$JS.")) {
		c.s.js.request(c, subj, reply, hdrLen, payload)
		return
	}
	c.matches = c.s.match(c.matches[:0], subj)
	targets := c.deliverable(c.matches)
	if len(targets) > 0 {
		c.line.setBytes(subj, reply, hdrLen, len(payload))
		hdr, data := splitHdr(payload, hdrLen)
		for _, x := range targets {
			c.out.send(x, &c.line, hdr, data)
		}
	}
	stored := c.s.js.publish(c, subj, reply, hdrLen, payload, owned)
	if len(targets) == 0 && !stored && len(reply) > 0 && c.noResponders {
		c.s.publishTo(&c.out, reply, "", []byte(noRespHdr), nil)
	}
}

func splitHdr(payload []byte, hdrLen int) (hdr, data []byte) {
	if hdrLen < 0 {
		return nil, payload
	}
	return payload[:hdrLen], payload[hdrLen:]
}

// publishTo sends a server-made message (API reply, PubAck, status) to the
// subscribers of subj. hdr, when not nil, is a full NATS/1.0 header block.
func (s *server) publishTo(o *outbox, subj []byte, reply string, hdr, data []byte) {
	var arr [4]*sub
	ms := s.match(arr[:0], subj)
	if len(ms) == 0 {
		return
	}
	var l msgLine
	var pre, post [128]byte
	l.pre, l.post = pre[:0], post[:0]
	hl := -1
	if hdr != nil {
		hl = len(hdr)
	}
	l.setBytes(subj, []byte(reply), hl, len(hdr)+len(data))
	for _, x := range ms {
		o.send(x, &l, hdr, data)
	}
}

// splitOp splits a control line into its operation and up to len(args)
// arguments, separated by spaces or tabs.
func splitOp(line []byte, args *[6][]byte) (op []byte, a [][]byte) {
	n, start := 0, -1
	var first []byte
	for i := 0; i <= len(line); i++ {
		if i == len(line) || line[i] == ' ' || line[i] == '\t' {
			if start >= 0 {
				if first == nil {
					first = line[start:i]
					if eqFold(first, "CONNECT") {
						return first, nil
					}
				} else if n < len(args) {
					args[n] = line[start:i]
					n++
				}
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	return first, args[:n]
}

// pubArgs reads PUB <subj> [reply] <size> or HPUB <subj> [reply] <hdr> <total>.
func pubArgs(a [][]byte, hpub bool) (subj, reply []byte, hdrLen, size int, ok bool) {
	hdrLen = -1
	need := 2
	if hpub {
		need = 3
	}
	if len(a) != need && len(a) != need+1 {
		return nil, nil, 0, 0, false
	}
	subj = a[0]
	if len(a) == need+1 {
		reply = a[1]
	}
	if size, ok = atoi(a[len(a)-1]); !ok {
		return
	}
	if hpub {
		if hdrLen, ok = atoi(a[len(a)-2]); !ok || hdrLen > size {
			return nil, nil, 0, 0, false
		}
	}
	return subj, reply, hdrLen, size, true
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	return n, true
}

// eqFold compares an operation name case-insensitively (ASCII).
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if b[i]|0x20 != s[i]|0x20 {
			return false
		}
	}
	return true
}

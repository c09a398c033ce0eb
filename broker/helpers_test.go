package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
)

// errTestClosed is what testTransport returns once closed.
var errTestClosed = errors.New("test transport closed")

// testTransport is an in-memory Transport that records what reaches the
// "socket". Writes made while a Stream is open queue behind it, as the
// Transport contract says; an aborted stream that never reached the head of
// the queue vanishes, one that did closes the transport.
type testTransport struct {
	addr string
	mu   struct {
		sync.Mutex
		out         bytes.Buffer // bytes that reached the socket
		queue       []*testSlot  // not yet flushed, in order
		closed      bool
		closeReason error
		writes      int // Write calls
		pieces      int // Stream.Write calls
		aborts      int
		pending     int64
	}
}

type testSlot struct {
	t    *testTransport
	buf  []byte
	open bool
}

func newTestTransport(addr string) *testTransport { return &testTransport{addr: addr} }

func (t *testTransport) Write(b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return errTestClosed
	}
	t.mu.writes++
	if len(t.mu.queue) == 0 {
		t.mu.out.Write(b)
		return nil
	}
	t.mu.queue = append(t.mu.queue, &testSlot{t: t, buf: bytes.Clone(b)})
	return nil
}

// WriteExtents reads the extents at once and writes the unit like Write.
func (t *testTransport) WriteExtents(head []byte, ext []Extent, tail []byte) error {
	b := bytes.Clone(head)
	for _, e := range ext {
		p := make([]byte, e.Len)
		if _, err := e.R.ReadAt(p, e.Off); err != nil {
			return err
		}
		b = append(b, p...)
	}
	return t.Write(append(b, tail...))
}

func (t *testTransport) BeginStream() (Stream, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, errTestClosed
	}
	s := &testSlot{t: t, open: true}
	t.mu.queue = append(t.mu.queue, s)
	return s, nil
}

func (t *testTransport) Close(reason error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.mu.closed {
		t.mu.closed = true
		t.mu.closeReason = reason
	}
}

func (t *testTransport) Pending() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.pending
}

func (t *testTransport) RemoteAddr() string { return t.addr }

// flushLocked moves completed slots at the head of the queue to out; the
// head stream's bytes count as sent even while it is open.
func (t *testTransport) flushLocked() {
	for len(t.mu.queue) > 0 {
		head := t.mu.queue[0]
		t.mu.out.Write(head.buf)
		head.buf = nil
		if head.open {
			return
		}
		t.mu.queue = t.mu.queue[1:]
	}
}

func (s *testSlot) Write(piece []byte) error {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return errTestClosed
	}
	t.mu.pieces++
	s.buf = append(s.buf, piece...)
	if t.mu.queue[0] == s {
		t.flushLocked()
	}
	return nil
}

func (s *testSlot) End() {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	s.open = false
	if len(t.mu.queue) > 0 && t.mu.queue[0] == s {
		t.flushLocked()
	}
}

func (s *testSlot) Abort() {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.aborts++
	for i, q := range t.mu.queue {
		if q != s {
			continue
		}
		if i == 0 {
			// Part of it may have reached the peer: cut the connection.
			t.mu.closed = true
			t.mu.closeReason = errors.New("stream aborted")
			t.mu.queue = nil
			return
		}
		t.mu.queue = append(t.mu.queue[:i], t.mu.queue[i+1:]...)
		return
	}
}

// take returns and forgets what reached the socket so far.
func (t *testTransport) take() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.mu.out.String()
	t.mu.out.Reset()
	return s
}

func (t *testTransport) closed() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.closed, t.mu.closeReason
}

func (t *testTransport) counts() (writes, pieces, aborts int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.writes, t.mu.pieces, t.mu.aborts
}

// harness is a server on a fake clock with a fixed random seed.
type harness struct {
	t     testing.TB
	srv   *Server
	clock *clocktest.Manual
	port  int
}

func newHarness(t testing.TB, o Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: clocktest.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)), port: 50000}
	o.Clock = h.clock
	if o.Rand == nil {
		o.Rand = rand.NewPCG(7, 11)
	}
	h.srv = NewServer(o)
	t.Cleanup(h.srv.Shutdown)
	return h
}

// conn is one test client: its transport and session.
type conn struct {
	t  testing.TB
	tr *testTransport
	s  Session
}

// accept opens a connection and returns it with the INFO line consumed.
func (h *harness) accept() *conn {
	h.t.Helper()
	h.port++
	tr := newTestTransport("127.0.0.1:" + strconv.Itoa(h.port))
	c := &conn{t: h.t, tr: tr, s: h.srv.Accept(tr)}
	if info := tr.take(); !strings.HasPrefix(info, "INFO {") {
		h.t.Fatalf("first line is not INFO: %q", info)
	}
	return c
}

// connect opens a connection and sends CONNECT with the given JSON object
// followed by PING, expecting PONG (and +OK when verbose).
func (h *harness) connect(opts string) *conn {
	h.t.Helper()
	c := h.accept()
	c.send("CONNECT " + opts + "\r\nPING\r\n")
	got := c.tr.take()
	var o struct{ Verbose bool }
	_ = json.Unmarshal([]byte(opts), &o)
	want := "PONG\r\n"
	if o.Verbose {
		want = "+OK\r\nPONG\r\n"
	}
	if got != want {
		h.t.Fatalf("CONNECT %s: got %q, want %q", opts, got, want)
	}
	return c
}

// send feeds raw protocol bytes and fails the test on an error.
func (c *conn) send(s string) {
	c.t.Helper()
	if err := c.s.Data([]byte(s)); err != nil {
		c.t.Fatalf("Data(%q): %v", s, err)
	}
}

// expect checks what the connection received since the last take.
func (c *conn) expect(want string) {
	c.t.Helper()
	if got := c.tr.take(); got != want {
		c.t.Fatalf("received %q, want %q", got, want)
	}
}

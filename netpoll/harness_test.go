package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
)

// testSession is a broker.Session that records what it is fed and when it is
// closed.
type testSession struct {
	tr     broker.Transport
	c      *conn
	onData func(b []byte) error // optional; runs on the loop

	mu      sync.Mutex
	in      []byte
	closes  atomic.Int32
	closedC chan error // receives the Closed reason once
}

func (ts *testSession) Data(b []byte) error {
	ts.mu.Lock()
	ts.in = append(ts.in, b...)
	ts.mu.Unlock()
	if ts.onData != nil {
		return ts.onData(b)
	}
	return nil
}

func (ts *testSession) Closed(err error) {
	if ts.closes.Add(1) == 1 {
		ts.closedC <- err
	}
}

// waitClosed waits for Session.Closed and returns its reason.
func (ts *testSession) waitClosed(t testing.TB) error {
	t.Helper()
	select {
	case err := <-ts.closedC:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Session.Closed was not called")
		return nil
	}
}

type harness struct {
	s        *Server
	accepted chan *testSession
	onData   func(ts *testSession, b []byte) error
	// greet, if set, is written by every session as it is accepted (as
	// the broker writes INFO).
	greet []byte
}

// startServer starts a Server on 127.0.0.1:0 with o and shuts it down when
// the test ends.
func startServer(t testing.TB, o Options) *harness {
	t.Helper()
	return startServerData(t, o, nil)
}

// startServerData is startServer with an onData hook for every session.
func startServerData(t testing.TB, o Options, onData func(ts *testSession, b []byte) error) *harness {
	t.Helper()
	return startServerGreet(t, o, onData, nil)
}

// startServerGreet is startServerData with a greeting every session writes
// as it is accepted.
func startServerGreet(t testing.TB, o Options, onData func(ts *testSession, b []byte) error, greet []byte) *harness {
	t.Helper()
	h := &harness{accepted: make(chan *testSession, 64), onData: onData, greet: greet}
	o.Addr = "127.0.0.1:0"
	if o.Loops == 0 {
		o.Loops = 2
	}
	if o.SpillDir == "" {
		o.SpillDir = t.TempDir()
	}
	s, err := Listen(o, func(tr broker.Transport) broker.Session {
		ts := &testSession{tr: tr, c: tr.(*conn), closedC: make(chan error, 1)}
		if h.onData != nil {
			ts.onData = func(b []byte) error { return h.onData(ts, b) }
		}
		if h.greet != nil {
			_ = tr.Write(h.greet)
		}
		h.accepted <- ts
		return ts
	})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return h
}

// dial connects a raw client and waits for its server-side session.
func (h *harness) dial(t testing.TB) (*net.TCPConn, *testSession) {
	t.Helper()
	nc, err := net.Dial("tcp", h.s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	select {
	case ts := <-h.accepted:
		return nc.(*net.TCPConn), ts
	case <-time.After(10 * time.Second):
		t.Fatal("connection was not accepted")
		return nil, nil
	}
}

// readN reads exactly n bytes from nc, failing the test on error or if they
// do not arrive within the deadline.
func readN(t testing.TB, nc net.Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return buf
}

// readAll reads nc until EOF (or a reset after EOF-worthy data).
func readAll(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(nc)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("reading to EOF: %v (after %d bytes)", err, len(b))
	}
	return b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-time.After(time.Millisecond):
		}
	}
}

// memBytes is the connection's in-memory outbound: queued chunks, bytes
// being handed to gnet, and gnet's outbound buffer as last seen on the loop.
func (c *conn) memBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.mem + c.mu.inflight + c.mu.gnetOut
}

// stagedBytes is the connection's staged outbound.
func (c *conn) stagedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.spilled
}

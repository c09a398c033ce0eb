package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// echoServer listens on loopback and echoes every connection until the
// test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// newFabric returns a Fabric closed when the test ends.
func newFabric(t *testing.T, o Options) *Fabric {
	t.Helper()
	f := New(o)
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

func listen(t *testing.T, f *Fabric, node, target string) *Proxy {
	t.Helper()
	p, err := f.Listen(node, "127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func dial(t *testing.T, addr string, local net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back within 5 s.
func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
}

// expectClosed waits (up to 5 s) for c to fail a read: it was closed or
// reset by the proxy.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection still open (read: %v)", err)
	}
}

// expectSilent checks that nothing arrives on c for a short while: a stall
// holds the bytes. A negative check needs a bound; 200 ms is far above
// loopback delivery.
func expectSilent(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("stalled link delivered: n=%d err=%v", n, err)
	}
}

func TestForwardBothWays(t *testing.T) {
	f := newFabric(t, Options{})
	p := listen(t, f, "b", echoServer(t))
	c := dial(t, p.Addr(), nil)
	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	roundTrip(t, c, msg)
	roundTrip(t, c, []byte("small"))
	if s := p.Stats(); s.Accepted != 1 || s.Anonymous != 1 || s.Refused != 0 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
	if p.Node() != "b" {
		t.Fatalf("node %q", p.Node())
	}
}

func TestDropResetsAndRefuses(t *testing.T) {
	f := newFabric(t, Options{})
	p := listen(t, f, "b", echoServer(t))
	c := dial(t, p.Addr(), nil)
	roundTrip(t, c, []byte("before"))

	f.Cut("b", Drop)
	if m := f.Cuts(); m["b"] != Drop || len(m) != 1 {
		t.Fatalf("cuts %v", m)
	}
	expectClosed(t, c)
	refused := dial(t, p.Addr(), nil)
	expectClosed(t, refused)
	if s := p.Stats(); s.Dropped != 1 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}

	f.Heal("b")
	if len(f.Cuts()) != 0 {
		t.Fatalf("cuts after heal %v", f.Cuts())
	}
	roundTrip(t, dial(t, p.Addr(), nil), []byte("after"))
}

func TestStallHoldsThenResumes(t *testing.T) {
	f := newFabric(t, Options{})
	p := listen(t, f, "b", echoServer(t))
	c := dial(t, p.Addr(), nil)
	roundTrip(t, c, []byte("before"))

	f.Cut("b", Stall)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, c)
	fresh := dial(t, p.Addr(), nil) // accepted, not forwarded
	if _, err := fresh.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, fresh)

	f.Heal("b")
	// The held bytes arrive on the same connections: they were not cut.
	for _, tc := range []struct {
		c    net.Conn
		want string
	}{{c, "held"}, {fresh, "new"}} {
		_ = tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(tc.want))
		if _, err := io.ReadFull(tc.c, got); err != nil || string(got) != tc.want {
			t.Fatalf("after heal: %q, %v", got, err)
		}
	}
	roundTrip(t, c, []byte("after"))
	if s := p.Stats(); s.Dropped != 0 || s.Refused != 0 || s.Accepted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A cut of node a stops the links a dialed to other nodes, not the ones
// clients dialed to the same proxies.
func TestCutBySource(t *testing.T) {
	fromA := &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}
	f := newFabric(t, Options{Source: func(a net.Addr) string {
		if a.(*net.TCPAddr).IP.Equal(fromA.IP) {
			return "a"
		}
		return ""
	}})
	p := listen(t, f, "b", echoServer(t))
	ab := dial(t, p.Addr(), fromA)
	client := dial(t, p.Addr(), nil)
	roundTrip(t, ab, []byte("a→b"))
	roundTrip(t, client, []byte("c→b"))

	f.Cut("a", Drop)
	expectClosed(t, ab)
	roundTrip(t, client, []byte("still"))
	expectClosed(t, dial(t, p.Addr(), fromA))
	roundTrip(t, dial(t, p.Addr(), nil), []byte("new client"))
	if s := p.Stats(); s.Dropped != 1 || s.Refused != 1 || s.Anonymous != 2 {
		t.Fatalf("stats %+v", s)
	}

	f.Heal("a")
	roundTrip(t, dial(t, p.Addr(), fromA), []byte("healed"))
}

// A stall of the source holds the bytes a sends to b, and b's answers.
func TestStallBySource(t *testing.T) {
	fromA := &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}
	f := newFabric(t, Options{Source: func(a net.Addr) string {
		if a.(*net.TCPAddr).IP.Equal(fromA.IP) {
			return "a"
		}
		return ""
	}})
	p := listen(t, f, "b", echoServer(t))
	ab := dial(t, p.Addr(), fromA)
	roundTrip(t, ab, []byte("x"))
	f.Cut("a", Stall)
	if _, err := ab.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, ab)
	f.Heal("a")
	_ = ab.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(ab, b[:]); err != nil || b[0] != 'y' {
		t.Fatalf("held byte after heal: %q, %v", b, err)
	}
	roundTrip(t, ab, []byte("z"))
}

// A target that cannot be reached closes the accepted connection.
func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	f := newFabric(t, Options{})
	p := listen(t, f, "b", dead)
	expectClosed(t, dial(t, p.Addr(), nil))
	if s := p.Stats(); s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Close ends stalled links and refuses new proxies.
func TestCloseEndsStalledLinks(t *testing.T) {
	f := New(Options{})
	p, err := f.Listen("b", "127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr(), nil)
	roundTrip(t, c, []byte("x"))
	f.Cut("b", Stall)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	if _, err := f.Listen("b", "127.0.0.1:0", "127.0.0.1:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("listen after close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPIDSourceSelf(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := dial(t, ln.Addr().String(), nil)
	_ = c
	in, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	self := PIDSource(func() map[int]string { return map[int]string{os.Getpid(): "me"} })
	if got := self(in.RemoteAddr()); got != "me" {
		t.Fatalf("source %q, want me", got)
	}
	none := PIDSource(func() map[int]string { return map[int]string{} })
	if got := none(in.RemoteAddr()); got != "" {
		t.Fatalf("source %q, want none", got)
	}
	// A process added to pids just after it dialed is still found.
	calls := 0
	late := PIDSource(func() map[int]string {
		calls++
		if calls == 1 {
			return map[int]string{}
		}
		return map[int]string{os.Getpid(): "late"}
	})
	if got := late(in.RemoteAddr()); got != "late" || calls != 2 {
		t.Fatalf("source %q after %d looks, want late after 2", got, calls)
	}
}

// Cuts and heals while connections are being accepted and named: no data
// race (run with -race), and Close still ends everything.
func TestCutWhileAccepting(t *testing.T) {
	f := New(Options{Source: func(net.Addr) string { return "a" }})
	p, err := f.Listen("b", "127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second}
			if c, err := d.Dial("tcp", p.Addr()); err == nil {
				_, _ = c.Write([]byte("x"))
				c.Close()
			}
		}()
		go func(i int) {
			defer wg.Done()
			modes := []Mode{Drop, Stall}
			f.Cut([]string{"a", "b"}[i%2], modes[i%2])
			f.Heal("a")
			f.Heal("b")
		}(i)
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Accepted == 0 {
		t.Fatalf("stats %+v", s)
	}
}

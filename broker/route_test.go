package broker

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// clusterHarness is a server with a cluster and one peer, "P1", that has
// dialed it (a routeOut on a test transport). Nothing is dialed.
type clusterHarness struct {
	*harness
	cl  *Cluster
	out *testTransport // what we send to P1
	ro  Session
}

func newClusterHarness(t *testing.T, o Options, before func(h *harness)) *clusterHarness {
	t.Helper()
	h := newHarness(t, o)
	cl := NewCluster(h.srv, ClusterOptions{Name: "t", RouteURL: "127.0.0.1:1"})
	t.Cleanup(cl.Shutdown)
	cl.Start()
	if before != nil {
		before(h)
	}
	out := newTestTransport("127.0.0.1:7001")
	ro := cl.AcceptRoute(out)
	if info := out.take(); !strings.HasPrefix(info, "INFO {") || !strings.Contains(info, `"cluster":"t"`) {
		t.Fatalf("route INFO: %q", info)
	}
	if err := ro.Data([]byte(`CONNECT {"server_id":"P1","server_name":"p1","cluster":"t","client_url":"127.0.0.1:4999"}` + "\r\n")); err != nil {
		t.Fatal(err)
	}
	return &clusterHarness{harness: h, cl: cl, out: out, ro: ro}
}

// routeLines returns what was sent to the peer since the last call, INFO
// lines (gossip) left out.
func (ch *clusterHarness) routeLines() string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(ch.out.take(), "\r\n") {
		if !strings.HasPrefix(l, "INFO ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// remoteSub records interest of P1 as if its RS+ had arrived.
func (ch *clusterHarness) remoteSub(subject, queue string) {
	ch.t.Helper()
	ch.cl.mu.Lock()
	pe := ch.cl.mu.peers["P1"]
	ch.cl.mu.Unlock()
	if err := ch.srv.sl.Insert(&Subscription{Subject: subject, Queue: queue, peer: pe, acc: ch.srv.global}); err != nil {
		ch.t.Fatal(err)
	}
}

func TestRouteInterestPropagation(t *testing.T) {
	var early *conn
	ch := newClusterHarness(t, Options{}, func(h *harness) {
		early = h.connect("{}")
		early.send("SUB before.connect 1\r\n")
	})
	if got := ch.routeLines(); got != "RS+ $G before.connect\r\n" {
		t.Fatalf("snapshot at CONNECT: %q", got)
	}
	c := ch.connect("{}")
	c.send("SUB foo.* 1\r\nSUB foo.* 2\r\n")
	if got := ch.routeLines(); got != "RS+ $G foo.*\r\n" {
		t.Fatalf("plain subs: %q", got)
	}
	c.send("SUB work q 3\r\nSUB work q 4\r\nUNSUB 3\r\n")
	if got := ch.routeLines(); got != "RS+ $G work q 1\r\nRS+ $G work q 2\r\nRS+ $G work q 1\r\n" {
		t.Fatalf("queue subs: %q", got)
	}
	c.send("UNSUB 1\r\n")
	if got := ch.routeLines(); got != "" {
		t.Fatalf("one of two plain subs left: %q", got)
	}
	c.s.Closed(nil)
	got := ch.routeLines()
	if !strings.Contains(got, "RS- $G foo.*\r\n") || !strings.Contains(got, "RS- $G work q\r\n") || len(got) != len("RS- $G foo.*\r\nRS- $G work q\r\n") {
		t.Fatalf("client closed: %q", got)
	}
	// Internal subscriptions are not advertised.
	if _, err := ch.srv.SubscribeInternal("$JS.API.>", "", func(*InternalMsg) {}); err != nil {
		t.Fatal(err)
	}
	if got := ch.routeLines(); got != "" {
		t.Fatalf("internal subscription advertised: %q", got)
	}
	if urls := ch.srv.ConnectURLs(); len(urls) != 2 || urls[1] != "127.0.0.1:4999" {
		t.Fatalf("connect_urls %v", urls)
	}
}

func TestRouteForwardOncePerPeer(t *testing.T) {
	ch := newClusterHarness(t, Options{}, nil)
	ch.routeLines()
	ch.remoteSub("orders.*", "")
	ch.remoteSub("orders.>", "")
	ch.remoteSub("orders.new", "workers")
	pub := ch.connect("{}")
	pub.send("PUB orders.new _INBOX.1 5\r\nhello\r\n")
	if got := ch.routeLines(); got != "RMSG $G orders.new + _INBOX.1 workers 5\r\nhello\r\n" {
		t.Fatalf("forwarded %q", got)
	}
	// A local member of the queue group is preferred.
	local := ch.connect("{}")
	local.send("SUB orders.new workers 1\r\n")
	ch.routeLines()
	pub.send("HPUB orders.new 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
	if got := ch.routeLines(); got != "HRMSG $G orders.new 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" {
		t.Fatalf("forwarded %q", got)
	}
	local.expect("MSG orders.new 1 2\r\nhi\r\n")
}

func TestRouteForwardLargeChunkedAndAbort(t *testing.T) {
	ch := newClusterHarness(t, Options{StreamThreshold: 8}, nil)
	ch.routeLines()
	ch.remoteSub("big", "")
	pub := ch.connect("{}")
	pub.send("PUB big 20\r\n0123456789")
	pub.send("abcdefghij\r\n")
	if got := ch.routeLines(); got != "LMSG $G big 20\r\n10\r\n012345678910\r\nabcdefghij0\r\n" {
		t.Fatalf("forwarded %q", got)
	}
	pub.send("PUB big 20\r\n0123")
	pub.s.Closed(nil)
	if got := ch.routeLines(); got != "LMSG $G big 20\r\n4\r\n0123-\r\n" {
		t.Fatalf("aborted message forwarded as %q", got)
	}
	if closed, _ := ch.out.closed(); closed {
		t.Fatal("route closed by a publisher abort")
	}
}

func TestRouteForwardSmallAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	h := newHarness(t, Options{})
	cl := NewCluster(h.srv, ClusterOptions{RouteURL: "127.0.0.1:1"})
	t.Cleanup(cl.Shutdown)
	cl.Start()
	out := &discardTransport{}
	ro := cl.AcceptRoute(out)
	if err := ro.Data([]byte(`CONNECT {"server_id":"P1"}` + "\r\n")); err != nil {
		t.Fatal(err)
	}
	cl.mu.Lock()
	pe := cl.mu.peers["P1"]
	cl.mu.Unlock()
	for _, s := range []struct{ subj, q string }{{"bench.subject", ""}, {"bench.subject", "q1"}} {
		if err := h.srv.sl.Insert(&Subscription{Subject: s.subj, Queue: s.q, peer: pe, acc: h.srv.global}); err != nil {
			t.Fatal(err)
		}
	}
	pub := h.srv.Accept(&discardTransport{})
	msg := []byte("CONNECT {}\r\nPUB bench.subject reply.x 11\r\nhello world\r\n")
	if err := pub.Data(msg); err != nil {
		t.Fatal(err)
	}
	msg = msg[len("CONNECT {}\r\n"):]
	before := out.n.Load()
	n := testing.AllocsPerRun(1000, func() {
		if err := pub.Data(msg); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("forwarding to a route allocates %v times per message", n)
	}
	if out.n.Load() == before {
		t.Fatal("nothing forwarded")
	}
}

// TestRouteInboundDelivery drives a routeIn over a pipe as the peer would:
// INFO, then interest and messages; local subscribers get the messages,
// queue groups only when named, internal subscriptions never.
func TestRouteInboundDelivery(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 8})
	cl := NewCluster(h.srv, ClusterOptions{Name: "t", RouteURL: "127.0.0.1:1"})
	t.Cleanup(cl.Shutdown)
	cl.Start()
	plain := h.connect("{}")
	plain.send("SUB news.* 1\r\n")
	member := h.connect("{}")
	member.send("SUB news.x workers 7\r\n")
	internal := 0
	if _, err := h.srv.SubscribeInternal("news.x", "", func(*InternalMsg) { internal++ }); err != nil {
		t.Fatal(err)
	}

	ours, theirs := net.Pipe()
	ri := newRouteIn(cl, "127.0.0.1:2", ours)
	done := make(chan error, 1)
	go func() { done <- ri.run() }()
	br := bufio.NewReader(theirs)
	fmt.Fprintf(theirs, "INFO {\"server_id\":\"P2\",\"server_name\":\"p2\",\"cluster\":\"t\"}\r\n")
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "CONNECT {") {
		t.Fatalf("expected CONNECT, got %q %v", l, err)
	}
	fmt.Fprintf(theirs, "RS+ $G a.b\r\nRMSG $G news.x 2\r\nhi\r\nRMSG $G news.x | workers 3\r\nall\r\n"+
		"LMSG $G news.x | workers 10\r\n5\r\n012345\r\n567890\r\nLMSG $G news.x 10\r\n3\r\nabc-\r\nPING\r\n")
	if l, err := br.ReadString('\n'); err != nil || l != "PONG\r\n" {
		t.Fatalf("expected PONG, got %q %v", l, err)
	}
	plain.expect("MSG news.x 1 2\r\nhi\r\nMSG news.x 1 3\r\nall\r\nMSG news.x 1 10\r\n0123456789\r\nMSG news.x 1 10\r\nabc")
	if closed, _ := plain.tr.closed(); !closed {
		t.Fatal("subscriber holding part of an aborted message not cut")
	}
	member.expect("MSG news.x 7 3\r\nall\r\nMSG news.x 7 10\r\n0123456789\r\n")
	if internal != 0 {
		t.Fatalf("internal subscription got %d routed messages", internal)
	}
	if h.srv.RemoteInterest("a.b") != 1 {
		t.Fatal("remote interest not recorded")
	}
	theirs.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("routeIn did not end when the peer closed")
	}
	if h.srv.RemoteInterest("a.b") != 0 || len(cl.Peers()) != 0 {
		t.Fatal("remote interest or peer left behind")
	}
}

// BenchmarkRouteForward publishes to one remote subscriber: the message is
// forwarded whole (RMSG) up to the stream threshold, in frames above it.
func BenchmarkRouteForward(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			h := newHarness(b, Options{})
			cl := NewCluster(h.srv, ClusterOptions{RouteURL: "127.0.0.1:1"})
			b.Cleanup(cl.Shutdown)
			cl.Start()
			out := &discardTransport{}
			if err := cl.AcceptRoute(out).Data([]byte(`CONNECT {"server_id":"P1"}` + "\r\n")); err != nil {
				b.Fatal(err)
			}
			cl.mu.Lock()
			pe := cl.mu.peers["P1"]
			cl.mu.Unlock()
			if err := h.srv.sl.Insert(&Subscription{Subject: "bench.subject", peer: pe, acc: h.srv.global}); err != nil {
				b.Fatal(err)
			}
			pub := h.srv.Accept(&discardTransport{})
			msg := append(fmt.Appendf(nil, "CONNECT {}\r\nPUB bench.subject %d\r\n", size), strings.Repeat("x", size)...)
			msg = append(msg, "\r\n"...)
			if err := pub.Data(msg); err != nil {
				b.Fatal(err)
			}
			msg = msg[len("CONNECT {}\r\n"):]
			const read = 64 << 10
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				for off := 0; off < len(msg); off += read {
					if err := pub.Data(msg[off:min(off+read, len(msg))]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestRouteKeepalive: the acceptor closes a route whose dialer neither
// answers its PINGs nor sends its own, and keeps one whose dialer PINGs
// (its own PINGs may be stuck behind a large message).
func TestRouteKeepalive(t *testing.T) {
	ch := newClusterHarness(t, Options{}, nil)
	ch.routeLines()
	tick := DefaultRoutePingInterval
	for range 2 * DefaultRouteMaxPingsOut {
		ch.clock.Advance(tick)
		if err := ch.ro.Data([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	if closed, _ := ch.out.closed(); closed {
		t.Fatal("route closed although the dialer kept PINGing")
	}
	for range DefaultRouteMaxPingsOut + 1 {
		ch.clock.Advance(tick)
	}
	if closed, reason := ch.out.closed(); !closed || reason != errRouteStale {
		t.Fatalf("silent route not closed as stale: %v %v", closed, reason)
	}
}

// redirectingCapture redirects orders.* to the peer interested in fwd.x
// and records what it captures itself.
type redirectingCapture struct{ recordingCapture }

type testRedirect struct{ recordingCapture }

func (*testRedirect) Via() [][]byte { return [][]byte{[]byte("fwd.none"), []byte("fwd.x")} }

func (r *redirectingCapture) Capture(subject, reply []byte, hdrLen, size int) Capture {
	if strings.HasPrefix(string(subject), "orders.") {
		return &testRedirect{}
	}
	return r.recordingCapture.Capture(append([]byte("orders."), subject...), reply, hdrLen, size)
}

// TestRouteRedirectCapture: a publish the Capturer redirects goes to the
// peer interested in the first reachable Via subject, small or chunked,
// with the capture token (once even when the peer also has subscribers);
// a routed message is captured only when it carries the token, and never
// redirected again.
func TestRouteRedirectCapture(t *testing.T) {
	rc := &redirectingCapture{}
	ch := newClusterHarness(t, Options{StreamThreshold: 8}, func(h *harness) { h.srv.SetCapturer(rc) })
	ch.routeLines()
	ch.remoteSub("fwd.>", "")
	pub := ch.connect(`{"headers":true,"no_responders":true}`)
	pub.send("PUB orders.1 _INBOX.1 3\r\nabc\r\n")
	if got := ch.routeLines(); got != "RMSG $G orders.1 + _INBOX.1 $BARGE.CAP 3\r\nabc\r\n" {
		t.Fatalf("redirected %q", got)
	}
	pub.send("PING\r\n")
	pub.expect("PONG\r\n") // the peer took the request: no 503
	ch.remoteSub("orders.*", "")
	pub.send("PUB orders.2 12\r\n0123456789ab\r\n")
	if got := ch.routeLines(); got != "LMSG $G orders.2 | $BARGE.CAP 12\r\n12\r\n0123456789ab0\r\n" {
		t.Fatalf("redirected %q", got)
	}

	// Receiving side: only a message with the token is captured.
	ours, theirs := net.Pipe()
	ri := newRouteIn(ch.cl, "127.0.0.1:2", ours)
	done := make(chan error, 1)
	go func() { done <- ri.run() }()
	br := bufio.NewReader(theirs)
	fmt.Fprintf(theirs, "INFO {\"server_id\":\"P2\",\"server_name\":\"p2\",\"cluster\":\"t\"}\r\n")
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "CONNECT {") {
		t.Fatalf("expected CONNECT, got %q %v", l, err)
	}
	fmt.Fprintf(theirs, "RMSG $G s.a 2\r\nno\r\nRMSG $G s.b | $BARGE.CAP 3\r\nyes\r\nRMSG $G orders.3 | $BARGE.CAP 5\r\nagain\r\nPING\r\n")
	if l, err := br.ReadString('\n'); err != nil || l != "PONG\r\n" {
		t.Fatalf("expected PONG, got %q %v", l, err)
	}
	rc.mu.Lock()
	got := strings.Join(rc.events, ";")
	rc.mu.Unlock()
	if got != "start orders.s.b;data yes;end" {
		t.Fatalf("captured %q", got)
	}
	if ch.routeLines() != "" {
		t.Fatal("a routed message was redirected again")
	}
	theirs.Close()
	<-done
}

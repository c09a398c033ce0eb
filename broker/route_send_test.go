package broker

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSendRoutesToPeers: a server delivery goes to a peer with interest
// once, as a routed message; one shown under another subject than it is
// routed by names that subject in the deliver-as token; a queue group goes
// to the peer only when no local member takes it.
func TestSendRoutesToPeers(t *testing.T) {
	ch := newClusterHarness(t, Options{}, nil)
	ch.routeLines()
	ch.remoteSub("_INBOX.a.*", "")
	ch.remoteSub("_INBOX.>", "")
	if n := ch.srv.Send(&Delivery{To: []byte("_INBOX.a.1"), Body: []byte("hi")}); n != 1 {
		t.Fatalf("receivers: %d", n)
	}
	if got := ch.routeLines(); got != "RMSG $G _INBOX.a.1 2\r\nhi\r\n" {
		t.Fatalf("plain: %q", got)
	}
	n := ch.srv.Send(&Delivery{To: []byte("_INBOX.a.1"), Subject: []byte("orders.1"), Reply: []byte("$JS.ACK.S.C.1.1.1.0.0"),
		Hdr: []byte("NATS/1.0\r\n\r\n"), Body: []byte("hi")})
	if n != 1 {
		t.Fatalf("receivers: %d", n)
	}
	if got, want := ch.routeLines(), "HRMSG $G _INBOX.a.1 + $JS.ACK.S.C.1.1.1.0.0 $BARGE.AS:orders.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"; got != want {
		t.Fatalf("deliver-as:\n got %q\nwant %q", got, want)
	}

	ch.remoteSub("jobs", "workers")
	ch.srv.Deliver([]byte("jobs"), nil, nil, []byte("j1"))
	if got := ch.routeLines(); got != "RMSG $G jobs | workers 2\r\nj1\r\n" {
		t.Fatalf("remote queue member: %q", got)
	}
	local := ch.connect("{}")
	local.send("SUB jobs workers 1\r\nPING\r\n")
	local.expect("PONG\r\n")
	ch.routeLines()
	ch.srv.Deliver([]byte("jobs"), nil, nil, []byte("j2"))
	local.expect("MSG jobs 1 2\r\nj2\r\n")
	if got := ch.routeLines(); got != "" {
		t.Fatalf("queue group with a local member went to the peer: %q", got)
	}
}

// TestRouteRoutedInternal: SubscribeInternalRouted advertises its interest
// (and withdraws it); a routed message reaches it, unlike a plain internal
// subscription; a delivery routed with a deliver-as token reaches local
// clients under the subject it names.
func TestRouteRoutedInternal(t *testing.T) {
	h := newHarness(t, Options{})
	cl := NewCluster(h.srv, ClusterOptions{Name: "t", RouteURL: "127.0.0.1:1"})
	t.Cleanup(cl.Shutdown)
	cl.Start()
	var mu sync.Mutex
	var got []string
	sub, err := h.srv.SubscribeInternalRouted("fwd.>", func(m *InternalMsg) {
		mu.Lock()
		got = append(got, string(m.Subject)+" "+string(m.Reply)+" "+string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	inbox := h.connect("{}")
	inbox.send("SUB _INBOX.q.* 9\r\nPING\r\n")
	inbox.expect("PONG\r\n")

	ours, theirs := net.Pipe()
	ri := newRouteIn(cl, "127.0.0.1:2", ours)
	done := make(chan error, 1)
	go func() { done <- ri.run() }()
	br := bufio.NewReader(theirs)
	fmt.Fprintf(theirs, "INFO {\"server_id\":\"P2\",\"server_name\":\"p2\",\"cluster\":\"t\"}\r\n")
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "CONNECT {") {
		t.Fatalf("expected CONNECT, got %q %v", l, err)
	}
	fmt.Fprintf(theirs, "RMSG $G fwd.x r.1 2\r\nhi\r\nRMSG $G _INBOX.q.1 + ack.1 $BARGE.AS:orders.7 3\r\nabc\r\nPING\r\n")
	if l, err := br.ReadString('\n'); err != nil || l != "PONG\r\n" {
		t.Fatalf("expected PONG, got %q %v", l, err)
	}
	inbox.expect("MSG orders.7 9 ack.1 3\r\nabc\r\n")
	mu.Lock()
	if len(got) != 1 || got[0] != "fwd.x r.1 hi" {
		t.Fatalf("routed internal subscription got %q", got)
	}
	mu.Unlock()

	// Interest: advertised to a peer that connects, withdrawn on unsubscribe.
	out := newTestTransport("127.0.0.1:7001")
	ro := cl.AcceptRoute(out)
	out.take()
	if err := ro.Data([]byte(`CONNECT {"server_id":"P2","server_name":"p2","cluster":"t"}` + "\r\n")); err != nil {
		t.Fatal(err)
	}
	if lines := out.take(); !strings.Contains(lines, "RS+ $G fwd.>\r\n") {
		t.Fatalf("routed internal interest not advertised: %q", lines)
	}
	if err := h.srv.UnsubscribeInternal(sub); err != nil {
		t.Fatal(err)
	}
	if lines := out.take(); !strings.Contains(lines, "RS- $G fwd.>\r\n") {
		t.Fatalf("routed internal interest not withdrawn: %q", lines)
	}
	theirs.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("routeIn did not end when the peer closed")
	}
}

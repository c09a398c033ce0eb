package broker

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
)

func TestInfoOnAccept(t *testing.T) {
	h := newHarness(t, Options{JetStream: true, MaxPayload: 8 << 20, Host: "127.0.0.1", Port: 4333, ServerName: "b1"})
	tr := newTestTransport("10.1.2.3:5555")
	h.srv.Accept(tr)
	line := tr.take()
	if !strings.HasPrefix(line, "INFO ") || !strings.HasSuffix(line, "\r\n") {
		t.Fatalf("INFO line = %q", line)
	}
	var info codec.Info
	if err := json.Unmarshal([]byte(strings.TrimSuffix(line[5:], "\r\n")), &info); err != nil {
		t.Fatal(err)
	}
	if info.ServerID != h.srv.ID() || len(info.ServerID) != 56 || info.ServerID[0] != 'N' {
		t.Errorf("server_id = %q", info.ServerID)
	}
	if info.Version != NATSVersion || info.Proto != 1 || !info.Headers || !info.JetStream || info.JSAPILevel != jsapi.BargeAPILevel {
		t.Errorf("info = %+v", info)
	}
	if info.MaxPayload != 8<<20 || info.ClientID == 0 || info.ClientIP != "10.1.2.3" {
		t.Errorf("info = %+v", info)
	}
	if info.Host != "127.0.0.1" || info.Port != 4333 || info.ServerName != "b1" {
		t.Errorf("info = %+v", info)
	}
}

func TestPingPong(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.accept()
	c.send("PING\r\nPI")
	c.expect("PONG\r\n")
	c.send("NG\r\n")
	c.expect("PONG\r\n")
}

func TestSubPubBasic(t *testing.T) {
	h := newHarness(t, Options{})
	sub := h.connect(`{}`)
	pub := h.connect(`{}`)
	sub.send("SUB foo.* 1\r\nSUB foo.bar 2\r\nSUB other 3\r\n")
	pub.send("PUB foo.bar 5\r\nhello\r\n")
	sub.expect("MSG foo.bar 2 5\r\nhello\r\nMSG foo.bar 1 5\r\nhello\r\n")
	pub.send("PUB foo.baz reply.to 0\r\n\r\n")
	sub.expect("MSG foo.baz 1 reply.to 0\r\n\r\n")
	pub.send("PUB nobody 3\r\nabc\r\n")
	sub.expect("")
	pub.expect("")
}

func TestRequestReply(t *testing.T) {
	h := newHarness(t, Options{})
	svc := h.connect(`{}`)
	req := h.connect(`{}`)
	svc.send("SUB svc.echo 1\r\n")
	req.send("SUB _INBOX.abc.* 9\r\nPUB svc.echo _INBOX.abc.1 2\r\nhi\r\n")
	svc.expect("MSG svc.echo 1 _INBOX.abc.1 2\r\nhi\r\n")
	svc.send("PUB _INBOX.abc.1 3\r\nyes\r\n")
	req.expect("MSG _INBOX.abc.1 9 3\r\nyes\r\n")
}

func TestVerbose(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(`{"verbose":true}`)
	c.send("SUB foo 1\r\n")
	c.expect("+OK\r\n")
	c.send("PUB foo 2\r\nhi\r\n")
	// nats-server acknowledges before delivering (client.go, processInboundClientMsg).
	c.expect("+OK\r\nMSG foo 1 2\r\nhi\r\n")
	c.send("UNSUB 1\r\n")
	c.expect("+OK\r\n")
	c.send("PING\r\n")
	c.expect("PONG\r\n")
	c.send("SUB foo..bar 2\r\n")
	c.expect("-ERR 'Invalid Subject'\r\n")
}

func TestInvalidSubjectNotFatal(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(`{}`)
	for _, bad := range []string{"SUB foo. 1\r\n", "SUB foo.>.bar 1\r\n", "SUB .x 1\r\n"} {
		c.send(bad)
		c.expect("-ERR 'Invalid Subject'\r\n")
	}
	c.send("SUB ok 1\r\nPUB ok 1\r\nx\r\n")
	c.expect("MSG ok 1 1\r\nx\r\n")
	if n := h.srv.Varz().Subscriptions; n != 1 {
		t.Fatalf("subscriptions = %d", n)
	}
}

func TestPedantic(t *testing.T) {
	h := newHarness(t, Options{})
	sub := h.connect(`{}`)
	sub.send("SUB > 1\r\n")
	ped := h.connect(`{"pedantic":true,"verbose":true}`)
	ped.send("PUB foo.* 2\r\nhi\r\n")
	ped.expect("-ERR 'Invalid Publish Subject'\r\n")
	sub.expect("")
	ped.send("PUB foo.bar 2\r\nhi\r\n")
	ped.expect("+OK\r\n")
	sub.expect("MSG foo.bar 1 2\r\nhi\r\n")
	// Without pedantic the subject is matched as it is.
	loose := h.connect(`{}`)
	loose.send("PUB foo.* 1\r\nx\r\n")
	sub.expect("MSG foo.* 1 1\r\nx\r\n")
}

func TestEcho(t *testing.T) {
	h := newHarness(t, Options{})
	def := h.connect(`{}`)
	def.send("SUB foo 1\r\nPUB foo 1\r\na\r\n")
	def.expect("MSG foo 1 1\r\na\r\n")

	noEcho := h.connect(`{"echo":false}`)
	noEcho.send("SUB foo 5\r\nPUB foo 1\r\nb\r\n")
	noEcho.expect("")
	def.expect("MSG foo 1 1\r\nb\r\n")
	def.send("PUB foo 1\r\nc\r\n")
	def.expect("MSG foo 1 1\r\nc\r\n")
	noEcho.expect("MSG foo 5 1\r\nc\r\n")
}

func TestUnsubMax(t *testing.T) {
	h := newHarness(t, Options{})
	sub := h.connect(`{}`)
	pub := h.connect(`{}`)
	sub.send("SUB foo 1\r\nUNSUB 1 3\r\n")
	for range 5 {
		pub.send("PUB foo 1\r\nx\r\n")
	}
	sub.expect(strings.Repeat("MSG foo 1 1\r\nx\r\n", 3))
	if n := h.srv.Sublist().Count(); n != 0 {
		t.Fatalf("subscription still there: %d", n)
	}
	// A max at or below what was delivered unsubscribes at once.
	sub.send("SUB bar 2\r\n")
	pub.send("PUB bar 1\r\ny\r\nPUB bar 1\r\ny\r\n")
	sub.expect(strings.Repeat("MSG bar 2 1\r\ny\r\n", 2))
	sub.send("UNSUB 2 2\r\n")
	pub.send("PUB bar 1\r\ny\r\n")
	sub.expect("")
	// Plain UNSUB, and UNSUB of an unknown sid.
	sub.send("SUB baz 3\r\nUNSUB 3\r\nUNSUB 99\r\n")
	pub.send("PUB baz 1\r\nz\r\n")
	sub.expect("")
	if n := h.srv.Sublist().Count(); n != 0 {
		t.Fatalf("subscriptions left: %d", n)
	}
}

func TestDuplicateSidIgnored(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(`{}`)
	c.send("SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\n")
	c.expect("MSG foo 1 1\r\ny\r\n")
}

func TestQueueGroups(t *testing.T) {
	h := newHarness(t, Options{})
	members := []*conn{h.connect(`{}`), h.connect(`{}`), h.connect(`{}`)}
	for _, m := range members {
		m.send("SUB work.* workers 1\r\n")
	}
	plain := h.connect(`{}`)
	plain.send("SUB work.> 7\r\n")
	pub := h.connect(`{}`)
	const n = 300
	for range n {
		pub.send("PUB work.item 1\r\nx\r\n")
	}
	total := 0
	for i, m := range members {
		got := strings.Count(m.tr.take(), "MSG work.item 1 1\r\n")
		if got < n/10 {
			t.Errorf("member %d got %d of %d: not spread", i, got, n)
		}
		total += got
	}
	if total != n {
		t.Fatalf("queue members got %d messages, want exactly %d", total, n)
	}
	if got := strings.Count(plain.tr.take(), "MSG work.item 7 1\r\n"); got != n {
		t.Fatalf("plain subscriber got %d, want %d", got, n)
	}
}

func TestQueueGroupEchoFalseSkipsSelf(t *testing.T) {
	h := newHarness(t, Options{})
	self := h.connect(`{"echo":false}`)
	other := h.connect(`{}`)
	self.send("SUB q g 1\r\n")
	other.send("SUB q g 1\r\n")
	for range 20 {
		self.send("PUB q 1\r\nx\r\n")
	}
	self.expect("")
	other.expect(strings.Repeat("MSG q 1 1\r\nx\r\n", 20))
}

func TestQueueGroupUnsubMax(t *testing.T) {
	h := newHarness(t, Options{})
	a := h.connect(`{}`)
	b := h.connect(`{}`)
	a.send("SUB q g 1\r\nUNSUB 1 1\r\n")
	b.send("SUB q g 1\r\n")
	pub := h.connect(`{}`)
	for range 10 {
		pub.send("PUB q 1\r\nx\r\n")
	}
	got := strings.Count(a.tr.take(), "MSG") + strings.Count(b.tr.take(), "MSG")
	if got != 10 {
		t.Fatalf("delivered %d of 10", got)
	}
}

func TestHeadersDelivery(t *testing.T) {
	h := newHarness(t, Options{})
	withHdr := h.connect(`{"headers":true}`)
	noHdr := h.connect(`{}`)
	withHdr.send("SUB foo 1\r\n")
	noHdr.send("SUB foo 2\r\n")
	pub := h.connect(`{"headers":true}`)
	hdr := "NATS/1.0\r\nA: b\r\n\r\n"
	pub.send("HPUB foo 18 23\r\n" + hdr + "hello\r\n")
	withHdr.expect("HMSG foo 1 18 23\r\n" + hdr + "hello\r\n")
	noHdr.expect("MSG foo 2 5\r\nhello\r\n")
	// Several receivers of each kind, with a reply subject.
	withHdr.send("SUB foo 3\r\n")
	noHdr.send("SUB foo 4\r\n")
	pub.send("HPUB foo r.1 18 20\r\n" + hdr + "xy\r\n")
	withHdr.expect("HMSG foo 1 r.1 18 20\r\n" + hdr + "xy\r\nHMSG foo 3 r.1 18 20\r\n" + hdr + "xy\r\n")
	noHdr.expect("MSG foo 2 r.1 2\r\nxy\r\nMSG foo 4 r.1 2\r\nxy\r\n")
}

func TestNoResponders(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(`{"headers":true,"no_responders":true}`)
	c.send("SUB _INBOX.x.* 4\r\nPUB svc.none _INBOX.x.1 2\r\nhi\r\n")
	hdr := "NATS/1.0 503\r\nNats-Subject: svc.none\r\n\r\n"
	if len(hdr) != 32+len("svc.none") {
		t.Fatalf("header length %d differs from nats-server's", len(hdr))
	}
	c.expect("HMSG _INBOX.x.1 4 40 40\r\n" + hdr + "\r\n")
	// With a responder there is no notice.
	svc := h.connect(`{}`)
	svc.send("SUB svc.none 1\r\n")
	c.send("PUB svc.none _INBOX.x.2 2\r\nhi\r\n")
	c.expect("")
	svc.expect("MSG svc.none 1 _INBOX.x.2 2\r\nhi\r\n")
	// A client that did not ask gets nothing.
	plain := h.connect(`{"headers":true}`)
	plain.send("SUB _INBOX.y.* 1\r\nPUB nobody _INBOX.y.1 0\r\n\r\n")
	plain.expect("")
}

func TestNoRespondersRequiresHeaders(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.accept()
	err := c.s.Data([]byte(`CONNECT {"no_responders":true}` + "\r\n"))
	if err == nil {
		t.Fatal("CONNECT accepted no_responders without headers")
	}
	c.expect("-ERR 'no responders requires headers support'\r\n")
}

func TestBadConnect(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.accept()
	if err := c.s.Data([]byte("CONNECT {nope\r\n")); err == nil {
		t.Fatal("malformed CONNECT accepted")
	}
	c2 := h.accept()
	if err := c2.s.Data([]byte(`CONNECT {"protocol":2}` + "\r\n")); err == nil {
		t.Fatal("protocol 2 accepted")
	}
	c2.expect("-ERR 'invalid client protocol'\r\n")
}

func TestParserErrorsAreSentAndFatal(t *testing.T) {
	h := newHarness(t, Options{MaxPayload: 1024})
	c := h.connect(`{}`)
	err := c.s.Data([]byte("FOO\r\n"))
	var pe *codec.ProtoError
	if !errors.As(err, &pe) || !pe.Fatal {
		t.Fatalf("Data = %v, want a fatal ProtoError", err)
	}
	c.expect("-ERR 'Unknown Protocol Operation'\r\n")

	c2 := h.connect(`{}`)
	if err := c2.s.Data([]byte("PUB foo 2000\r\n")); !errors.Is(err, codec.ErrMaxPayload) {
		t.Fatalf("Data = %v, want ErrMaxPayload", err)
	}
	c2.expect("-ERR 'Maximum Payload Violation'\r\n")
}

func TestStaleConnection(t *testing.T) {
	h := newHarness(t, Options{PingInterval: time.Minute, MaxPingsOut: 2})
	c := h.connect(`{}`)
	h.clock.Advance(time.Minute)
	c.expect("PING\r\n")
	h.clock.Advance(time.Minute)
	c.expect("PING\r\n")
	if closed, _ := c.tr.closed(); closed {
		t.Fatal("closed too early")
	}
	h.clock.Advance(time.Minute)
	c.expect("-ERR 'Stale Connection'\r\n")
	closed, reason := c.tr.closed()
	if !closed || !errors.Is(reason, codec.ErrStaleConnection) {
		t.Fatalf("closed=%v reason=%v", closed, reason)
	}
	c.s.Closed(reason)
	if v := h.srv.Varz(); v.StaleConnections != 1 || v.Connections != 0 {
		t.Fatalf("varz = %+v", v)
	}
	// No further PINGs once closed.
	h.clock.Advance(10 * time.Minute)
	c.expect("")
}

func TestPongKeepsConnectionAlive(t *testing.T) {
	h := newHarness(t, Options{PingInterval: time.Minute, MaxPingsOut: 2})
	c := h.connect(`{}`)
	for range 10 {
		h.clock.Advance(time.Minute)
		c.expect("PING\r\n")
		c.send("PONG\r\n")
	}
	if closed, _ := c.tr.closed(); closed {
		t.Fatal("answered keepalives closed the connection")
	}
}

func TestClosedRemovesSubscriptions(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(`{}`)
	c.send("SUB a 1\r\nSUB b 2\r\nSUB c q 3\r\n")
	other := h.connect(`{}`)
	other.send("SUB a 1\r\n")
	if n := h.srv.Sublist().Count(); n != 4 {
		t.Fatalf("count = %d", n)
	}
	c.s.Closed(nil)
	if n := h.srv.Sublist().Count(); n != 1 {
		t.Fatalf("count after close = %d", n)
	}
	other.send("PUB a 1\r\nx\r\n")
	other.expect("MSG a 1 1\r\nx\r\n")
	c.expect("")
}

func TestShutdownClosesClients(t *testing.T) {
	h := newHarness(t, Options{})
	a, b := h.connect(`{}`), h.connect(`{}`)
	h.srv.Shutdown()
	for _, c := range []*conn{a, b} {
		closed, reason := c.tr.closed()
		if !closed || !errors.Is(reason, ErrServerShutdown) {
			t.Fatalf("closed=%v reason=%v", closed, reason)
		}
		c.s.Closed(reason)
	}
	tr := newTestTransport("127.0.0.1:1")
	s := h.srv.Accept(tr)
	if closed, _ := tr.closed(); !closed {
		t.Fatal("Accept after Shutdown left the transport open")
	}
	if err := s.Data([]byte("PING\r\n")); err == nil {
		t.Fatal("refused session accepted data")
	}
	if v := h.srv.Varz(); v.Connections != 0 {
		t.Fatalf("connections = %d", v.Connections)
	}
}

func TestSlowConsumerCounted(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(`{}`)
	c.s.Closed(codec.ErrSlowConsumer)
	if v := h.srv.Varz(); v.SlowConsumers != 1 {
		t.Fatalf("slow_consumers = %d", v.SlowConsumers)
	}
}

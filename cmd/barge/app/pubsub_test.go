package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

func TestInfoAdvertisesCapabilities(t *testing.T) {
	a := startServer(t, func(c *app.Config) { c.MaxPayload = 64 << 20 })
	nc := connect(t, a)
	if !nc.HeadersSupported() {
		t.Fatal("headers not advertised")
	}
	if got := nc.MaxPayload(); got != 64<<20 {
		t.Fatalf("max_payload %d, want %d", got, 64<<20)
	}
	raw := dialRaw(t, a).info
	var info map[string]any
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		t.Fatalf("INFO json: %v", err)
	}
	if info["proto"].(float64) != 1 || info["headers"] != true || info["jetstream"] != true {
		t.Fatalf("INFO %s", raw)
	}
	var major, minor, patch int
	if _, err := fmt.Sscanf(nc.ConnectedServerVersion(), "%d.%d.%d", &major, &minor, &patch); err != nil || major < 2 || (major == 2 && minor < 10) {
		t.Fatalf("version %q below 2.10.0", nc.ConnectedServerVersion())
	}
}

func TestPubSubWildcards(t *testing.T) {
	a := startServer(t, nil)
	sub := connect(t, a)
	pub := connect(t, a)
	star, _ := sub.SubscribeSync("orders.*.created")
	full, _ := sub.SubscribeSync("orders.>")
	exact, _ := sub.SubscribeSync("orders.eu.created")
	sub.Flush()
	for _, s := range []string{"orders.eu.created", "orders.us.created", "orders.us.deleted", "other"} {
		if err := pub.Publish(s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	pub.Flush()
	expectMsgs(t, star, "orders.eu.created", "orders.us.created")
	expectMsgs(t, full, "orders.eu.created", "orders.us.created", "orders.us.deleted")
	expectMsgs(t, exact, "orders.eu.created")
	for _, s := range []*nats.Subscription{star, full, exact} {
		if m, err := s.NextMsg(50 * time.Millisecond); err == nil {
			t.Fatalf("unexpected message %q on %q", m.Subject, s.Subject)
		}
	}
}

func expectMsgs(t *testing.T, s *nats.Subscription, subjects ...string) {
	t.Helper()
	for _, want := range subjects {
		m, err := s.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", s.Subject, want, err)
		}
		if m.Subject != want || string(m.Data) != want {
			t.Fatalf("%s: got %s %q, want %s", s.Subject, m.Subject, m.Data, want)
		}
	}
}

func TestQueueGroupDeliversToOneMember(t *testing.T) {
	a := startServer(t, nil)
	const n = 400
	var mu sync.Mutex
	counts := map[int]int{}
	total := 0
	done := make(chan struct{})
	for i := 0; i < 3; i++ {
		nc := connect(t, a)
		i := i
		if _, err := nc.QueueSubscribe("work", "workers", func(m *nats.Msg) {
			mu.Lock()
			counts[i]++
			total++
			if total == n {
				close(done)
			}
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	}
	plain := connect(t, a)
	all, _ := plain.SubscribeSync("work")
	plain.Flush()
	pub := connect(t, a)
	for i := 0; i < n; i++ {
		pub.Publish("work", []byte("x"))
	}
	pub.Flush()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("queue group got %d of %d", total, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if total != n {
		t.Fatalf("queue group got %d, want exactly %d", total, n)
	}
	for i := 0; i < 3; i++ {
		if counts[i] == 0 {
			t.Fatalf("member %d got nothing: %v", i, counts)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := all.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("plain subscriber got %d of %d", i, n)
		}
	}
}

func TestRequestReplyAndNoResponders(t *testing.T) {
	a := startServer(t, nil)
	srv := connect(t, a)
	srv.Subscribe("echo", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
	srv.Flush()
	cli := connect(t, a)
	m, err := cli.Request("echo", []byte("hi"), 5*time.Second)
	if err != nil || string(m.Data) != "re:hi" {
		t.Fatalf("request: %v %v", err, m)
	}
	_, err = cli.Request("nobody.home", []byte("hi"), 5*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request without responders: %v, want ErrNoResponders", err)
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	a := startServer(t, nil)
	nc := connect(t, a)
	s, _ := nc.SubscribeSync("h")
	nc.Flush()
	msg := nats.NewMsg("h")
	msg.Header.Set("X-Trace", "abc")
	msg.Header.Add("X-Multi", "1")
	msg.Header.Add("X-Multi", "2")
	msg.Data = []byte("body")
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	got, err := s.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Get("X-Trace") != "abc" || strings.Join(got.Header.Values("X-Multi"), ",") != "1,2" || string(got.Data) != "body" {
		t.Fatalf("got header %v data %q", got.Header, got.Data)
	}
}

func TestAutoUnsubscribeAndEcho(t *testing.T) {
	a := startServer(t, nil)
	nc := connect(t, a)
	s, _ := nc.SubscribeSync("limited")
	s.AutoUnsubscribe(2)
	nc.Flush()
	for i := 0; i < 5; i++ {
		nc.Publish("limited", []byte("x"))
	}
	nc.Flush()
	for i := 0; i < 2; i++ {
		if _, err := s.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := s.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatal("third message delivered after UNSUB max 2")
	}

	quiet := connect(t, a, nats.NoEcho())
	own, _ := quiet.SubscribeSync("echoed")
	quiet.Flush()
	other := connect(t, a)
	quiet.Publish("echoed", []byte("mine"))
	quiet.Flush()
	other.Publish("echoed", []byte("theirs"))
	other.Flush()
	m, err := own.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "theirs" {
		t.Fatalf("no-echo subscriber got %v %v, want only theirs", err, m)
	}
}

func TestVerboseAndPing(t *testing.T) {
	a := startServer(t, nil)
	r := dialRaw(t, a)
	r.send("CONNECT {\"verbose\":true}\r\n")
	r.expect("+OK")
	r.send("SUB foo 1\r\n")
	r.expect("+OK")
	r.send("PUB foo 2\r\nhi\r\n")
	r.expect("+OK")
	r.expect("MSG foo 1 2")
	r.expect("hi")
	r.send("PING\r\n")
	r.expect("PONG")
}

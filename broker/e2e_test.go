package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/netpoll"
	"github.com/nats-io/nats.go"
)

// e2e starts a broker behind netpoll on a free loopback port and returns
// its URL; everything is shut down when the test ends.
func e2e(t *testing.T, o broker.Options) (string, *broker.Server) {
	t.Helper()
	srv := broker.NewServer(o)
	np, err := netpoll.Listen(netpoll.Options{Addr: "127.0.0.1:0", Loops: 2, SpillDir: t.TempDir()},
		func(tr broker.Transport) broker.Session { return srv.Accept(tr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = np.Shutdown(ctx)
	})
	return "nats://" + np.Addr().String(), srv
}

func dial(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestE2EPubSubAndRequest(t *testing.T) {
	url, srv := e2e(t, broker.Options{})
	nc := dial(t, url, nats.Name("e2e"))
	if v := nc.ConnectedServerVersion(); v != broker.NATSVersion {
		t.Fatalf("server version %q", v)
	}
	if !nc.HeadersSupported() {
		t.Fatal("headers not supported")
	}
	sub, err := nc.SubscribeSync("greet.*")
	if err != nil {
		t.Fatal(err)
	}
	other := dial(t, url)
	if _, err := other.Subscribe("svc.echo", func(m *nats.Msg) {
		_ = m.Respond(append([]byte("echo:"), m.Data...))
	}); err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("greet.joe", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "hi" || m.Subject != "greet.joe" {
		t.Fatalf("got %v, %v", m, err)
	}
	resp, err := nc.Request("svc.echo", []byte("ping"), 5*time.Second)
	if err != nil || string(resp.Data) != "echo:ping" {
		t.Fatalf("request: %v, %v", resp, err)
	}
	if _, err := nc.Request("svc.nobody", nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request to nobody: %v, want ErrNoResponders", err)
	}
	if z := srv.Connz(); z.NumConns != 2 {
		t.Fatalf("connz: %d conns", z.NumConns)
	}
}

func TestE2EHeadersQueueAndAutoUnsub(t *testing.T) {
	url, _ := e2e(t, broker.Options{})
	nc := dial(t, url)
	hsub, err := nc.SubscribeSync("hdr")
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("hdr")
	msg.Header.Set("X-Test", "yes")
	msg.Data = []byte("body")
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	got, err := hsub.NextMsg(5 * time.Second)
	if err != nil || got.Header.Get("X-Test") != "yes" || string(got.Data) != "body" {
		t.Fatalf("header message: %v, %v", got, err)
	}

	q1, _ := nc.QueueSubscribeSync("work", "g")
	q2, _ := nc.QueueSubscribeSync("work", "g")
	limited, _ := nc.SubscribeSync("work")
	if err := limited.AutoUnsubscribe(3); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := nc.Publish("work", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Flush's PONG comes after every MSG the server queued for this
	// connection, so all deliveries are already in the subscriptions.
	total := 0
	for _, q := range []*nats.Subscription{q1, q2} {
		n, _, err := q.Pending()
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 20 {
		t.Fatalf("queue group got %d of 20", total)
	}
	for i := range 3 {
		if _, err := limited.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("auto-unsubscribed subscription: message %d: %v", i, err)
		}
	}
	if limited.IsValid() {
		t.Fatal("subscription still valid after its 3 messages")
	}
}

func TestE2ELargeMessageStreamed(t *testing.T) {
	url, srv := e2e(t, broker.Options{MaxPayload: 64 << 20})
	nc := dial(t, url)
	if mp := nc.MaxPayload(); mp != 64<<20 {
		t.Fatalf("max payload %d", mp)
	}
	sub, err := nc.SubscribeSync("big")
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	pub := dial(t, url)
	payload := bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16)
	if err := pub.Publish("big", payload); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data, payload) {
		t.Fatalf("got %d bytes, want %d identical", len(m.Data), len(payload))
	}
	if v := srv.Varz(); v.InBytes < int64(len(payload)) {
		t.Fatalf("in_bytes = %d", v.InBytes)
	}
}

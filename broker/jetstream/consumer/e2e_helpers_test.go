package consumer_test

import (
	"github.com/bargemq/barge/internal/procmem"

	"context"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer runs barge with JetStream in-process on a free 127.0.0.1
// port, storing in dir (a fresh temp dir when "").
func startServer(t testing.TB, dir string) *app.App {
	t.Helper()
	cfg := app.Defaults()
	cfg.Port = 0
	cfg.HTTPPort = 0
	if dir == "" {
		dir = t.TempDir()
	}
	cfg.StoreDir = dir
	cfg.LogFile = dir + "/barge.log"
	a, err := app.Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { stop(a) })
	return a
}

func stop(a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Shutdown(ctx)
}

func connect(t testing.TB, a *app.App) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(a.ClientURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func legacyJS(t testing.TB, nc *nats.Conn) nats.JetStreamContext {
	t.Helper()
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func newJS(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// nextMsgs reads n messages from a sync subscription.
func nextMsgs(t testing.TB, sub *nats.Subscription, n int) []string {
	t.Helper()
	var out []string
	for range n {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		out = append(out, string(m.Data))
	}
	return out
}

func join(s []string) string { return strings.Join(s, " ") }

// rssKB is this process's resident set size in KiB, 0 where unknown.
func rssKB() int64 {
	n, _ := procmem.RSS()
	return n >> 10
}

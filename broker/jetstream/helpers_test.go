package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// startServer runs a barge server with JetStream in-process on a free
// 127.0.0.1 port, storing in dir (a fresh temp dir when "").
func startServer(t testing.TB, dir string, mod func(*app.Config)) *app.App {
	t.Helper()
	cfg := app.Defaults()
	cfg.Port = 0
	cfg.HTTPPort = 0
	if dir == "" {
		dir = t.TempDir()
	}
	cfg.StoreDir = dir
	cfg.LogFile = dir + "/barge.log"
	if mod != nil {
		mod(&cfg)
	}
	a, err := app.Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { stop(a) })
	return a
}

// stop shuts a down (idempotent enough for cleanup after an explicit stop).
func stop(a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Shutdown(ctx)
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// legacy returns a connection and its legacy JetStreamContext.
func legacy(t testing.TB, a *app.App) (*nats.Conn, nats.JetStreamContext) {
	t.Helper()
	nc := connect(t, a.ClientURL())
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// wantCode fails unless err is a JetStream API error with err_code code.
func wantCode(t testing.TB, err error, code int) {
	t.Helper()
	var ae *nats.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want API error %d", err, err, code)
	}
	if int(ae.ErrorCode) != code {
		t.Fatalf("err_code = %d (%v), want %d", ae.ErrorCode, ae, code)
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

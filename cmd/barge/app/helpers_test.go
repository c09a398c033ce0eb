package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// startServer runs a barge server in-process on free 127.0.0.1 ports.
func startServer(t testing.TB, mod func(*app.Config)) *app.App {
	t.Helper()
	cfg := app.Defaults()
	cfg.Port = 0
	cfg.HTTPPort = -1
	cfg.StoreDir = t.TempDir()
	cfg.LogFile = cfg.StoreDir + "/barge.log"
	if mod != nil {
		mod(&cfg)
	}
	a, err := app.Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return a
}

func connect(t testing.TB, a *app.App, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(a.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// rawConn is a protocol-level client for the cases nats.go would never send.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	info string // the JSON of the server's INFO line
}

func dialRaw(t testing.TB, a *app.App) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(a.ClientURL(), "nats://"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
	line := r.line()
	if !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("first line %q, want INFO", line)
	}
	r.info = strings.TrimPrefix(line, "INFO ")
	return r
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// line reads one protocol line, failing the test after a deadline.
func (r *rawConn) line() string {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read line: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// expect reads lines until one equals want, skipping PINGs it answers.
func (r *rawConn) expect(want string) {
	r.t.Helper()
	for {
		l := r.line()
		if l == want {
			return
		}
		if l == "PING" {
			r.send("PONG\r\n")
			continue
		}
		r.t.Fatalf("got %q, want %q", l, want)
	}
}

// expectClosed waits for the server to close the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r.br)
	if err != nil {
		r.t.Fatalf("connection not closed by server: %v", err)
	}
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
}

// eventually polls cond until it holds or the deadline passes.
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

package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A client over max_connections gets INFO, then nats-server's
// -ERR 'maximum connections exceeded' (nats.go fails the connect with it),
// and is counted; once a client leaves another may connect.
func TestMaxConnections(t *testing.T) {
	a := startServer(t, func(c *app.Config) { c.MaxConnections = 2 })
	first := connect(t, a)
	connect(t, a)

	_, err := nats.Connect(a.ClientURL(), nats.MaxReconnects(0))
	if err == nil || !strings.Contains(err.Error(), "maximum connections exceeded") {
		t.Fatalf("third connect: %v, want 'maximum connections exceeded'", err)
	}
	r := dialRaw(t, a) // dialRaw checks that INFO comes first
	if l := r.line(); l != "-ERR 'maximum connections exceeded'" {
		t.Fatalf("after INFO: %q", l)
	}
	r.send("CONNECT {}\r\nPING\r\n") // no PONG: the first input closes it
	r.expectClosed()

	var varz map[string]any
	getJSON(t, a.MonitorURL()+"/varz", &varz)
	if varz["max_connections"] != 2.0 || varz["refused_connections"] != 2.0 {
		t.Fatalf("varz max_connections %v refused_connections %v, want 2 and 2",
			varz["max_connections"], varz["refused_connections"])
	}
	if log := readAppLog(t, a); !strings.Contains(log, "maximum connections exceeded") {
		t.Fatalf("the log does not mention the refused clients:\n%s", log)
	}

	first.Close()
	eventually(t, 10*time.Second, "a free connection slot", func() bool {
		nc, err := nats.Connect(a.ClientURL(), nats.MaxReconnects(0))
		if err != nil {
			return false
		}
		nc.Close()
		return true
	})
}

// readLog returns the server's log file (startServer logs to
// <store_dir>/barge.log).
func readAppLog(t *testing.T, a *app.App) string {
	t.Helper()
	var varz map[string]any
	getJSON(t, a.MonitorURL()+"/varz", &varz)
	return readLog(t, varz["store_dir"].(string)+"/barge.log")
}

// healthz returns /healthz's HTTP status and document.
func healthz(t *testing.T, a *app.App) (int, app.HealthStatus) {
	t.Helper()
	resp, err := http.Get(a.MonitorURL() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	var hs app.HealthStatus
	if err := json.NewDecoder(resp.Body).Decode(&hs); err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	return resp.StatusCode, hs
}

// A client listener that no longer accepts shows in /healthz as an error
// (HTTP 503), while the clients already connected keep being served.
func TestHealthzReportsDeadListener(t *testing.T) {
	a := startServer(t, nil)
	nc := connect(t, a)
	if code, hs := healthz(t, a); code != 200 || hs.Status != "ok" {
		t.Fatalf("healthz on a fresh server: %d %+v", code, hs)
	}
	port, _ := strconv.Atoi(a.ClientURL()[strings.LastIndex(a.ClientURL(), ":")+1:])
	// shutdown(2) on the listening socket makes every accept fail with
	// EINVAL: the listener is dead for good.
	if err := unix.Shutdown(listeningFD(t, port), unix.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	var hs app.HealthStatus
	eventually(t, 10*time.Second, "/healthz to report the dead listener", func() bool {
		var code int
		code, hs = healthz(t, a)
		return code == http.StatusServiceUnavailable
	})
	if hs.Status != "error" || !strings.Contains(hs.Error, "client listener") {
		t.Fatalf("healthz %+v, want status error naming the client listener", hs)
	}
	sub, err := nc.SubscribeSync("still")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("still", []byte("served")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "served" {
		t.Fatalf("connected client after the listener died: %v %v", m, err)
	}
}

// listeningFD finds this process's listening TCP socket on port.
func listeningFD(t *testing.T, port int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
			continue
		}
		switch sa := must(unix.Getsockname(fd)).(type) {
		case *unix.SockaddrInet4:
			if sa.Port == port {
				return fd
			}
		case *unix.SockaddrInet6:
			if sa.Port == port {
				return fd
			}
		}
	}
	t.Fatalf("no listening socket on port %d", port)
	return -1
}

func must[T any](v T, _ error) T { return v }

// helperNofile names the environment variable that makes
// TestHelperServerProcess run a server whose soft RLIMIT_NOFILE leaves it
// that many descriptors beyond those it holds once started.
const helperNofile = "BARGE_TEST_HELPER_NOFILE"

// TestHelperServerProcess is not a test of its own: TestAcceptSurvivesFd-
// Exhaustion runs the test binary again with helperNofile set, and this
// starts a server in that process with its descriptor limit lowered (it
// applies to the whole process, so it cannot share one with other tests),
// prints its URLs and serves until its stdin closes.
func TestHelperServerProcess(t *testing.T) {
	extra, err := strconv.ParseUint(os.Getenv(helperNofile), 10, 64)
	if err != nil {
		t.Skip("helper process of TestAcceptSurvivesFdExhaustion")
	}
	cfg := app.Defaults()
	cfg.Port, cfg.HTTPPort = 0, -1
	cfg.JetStream = false
	cfg.StoreDir = t.TempDir()
	a, err := app.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	rl.Cur = uint64(len(open)) + extra
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %s %s\n", a.ClientURL(), a.MonitorURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Shutdown(ctx)
}

// A server out of file descriptors keeps its listener: it serves the
// clients it has, closes the connections it cannot take at once (none hangs
// in the backlog), logs it, and accepts again once descriptors are free.
// With gnet's own acceptor the first EMFILE stopped the whole engine.
func TestAcceptSurvivesFdExhaustion(t *testing.T) {
	if os.Getenv(helperNofile) != "" {
		t.Skip("inside the helper process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperNofile+"=40")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "READY" {
				ready <- f[1:]
			}
		}
		close(ready)
	}()
	var url, murl string
	select {
	case f, ok := <-ready:
		if !ok {
			t.Fatalf("helper exited:\n%s", stderr.String())
		}
		url, murl = f[0], f[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("helper did not start:\n%s", stderr.String())
	}

	sub, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	s, err := sub.SubscribeSync("live")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	// Far more connections than the helper has descriptors for.
	addr := strings.TrimPrefix(url, "nats://")
	var served, closed []net.Conn
	for range 300 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err == nil && strings.HasPrefix(line, "INFO "):
			served = append(served, c)
		case errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET):
			closed = append(closed, c)
		default:
			t.Fatalf("connection %d: %q, %v: neither served nor closed", len(served)+len(closed), line, err)
		}
	}
	if len(served) == 0 || len(closed) == 0 {
		t.Fatalf("%d connections served, %d closed: the limit was not reached", len(served), len(closed))
	}

	for i := range 3 {
		msg := fmt.Sprintf("still served %d", i)
		if err := pub.Publish("live", []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if m, err := s.NextMsg(10 * time.Second); err != nil || string(m.Data) != msg {
			t.Fatalf("existing clients while out of descriptors: %v %v", m, err)
		}
	}

	for _, c := range served {
		_ = c.Close()
	}
	eventually(t, 20*time.Second, "a new client once descriptors are free", func() bool {
		nc, err := nats.Connect(url, nats.MaxReconnects(0), nats.Timeout(2*time.Second))
		if err != nil {
			return false
		}
		defer nc.Close()
		return nc.Flush() == nil
	})
	resp, err := http.Get(murl + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after the descriptor shortage: %v %v", resp, err)
	}
	resp.Body.Close()
	if !strings.Contains(stderr.String(), "out of file descriptors") {
		t.Fatalf("the helper's log does not mention the shortage:\n%s", stderr.String())
	}
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A subscriber that never reads is cut once the server-wide staging budget
// (max_staging) is used up: it gets the messages that reached its socket
// whole, then -ERR 'Slow Consumer'; the cut is logged and counted in /varz
// slow_consumers, the staged bytes are given back, and a stream on the same
// disk keeps taking publishes.
func TestStagingBudgetCutsSlowSubscriber(t *testing.T) {
	a := startServer(t, func(c *app.Config) {
		c.WriteWatermark = 256 << 10
		c.MaxStaging = 4 << 20
	})
	nc := connect(t, a)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}

	slow := dialRaw(t, a)
	_ = slow.c.(*net.TCPConn).SetReadBuffer(32 << 10)
	slow.send("CONNECT {\"verbose\":false}\r\nSUB big 1\r\nPING\r\n")
	slow.expect("PONG")

	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(i % 251)
	}
	for range 32 {
		if err := nc.Publish("big", msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// The subscriber reads at last: whole messages, then the -ERR line.
	got := 0
	for {
		l := slow.line()
		if l == "-ERR 'Slow Consumer'" {
			break
		}
		if l != "MSG big 1 1048576" {
			t.Fatalf("after %d messages: %q", got, l)
		}
		body := make([]byte, len(msg)+2)
		if _, err := io.ReadFull(slow.br, body); err != nil {
			t.Fatalf("message %d: %v", got, err)
		}
		if string(body[:len(msg)]) != string(msg) || string(body[len(msg):]) != "\r\n" {
			t.Fatalf("message %d is corrupt", got)
		}
		got++
	}
	if got == 0 || got >= 32 {
		t.Fatalf("subscriber got %d of 32 messages before the cut", got)
	}
	slow.expectClosed()

	var varz map[string]any
	eventually(t, 10*time.Second, "slow_consumers in /varz", func() bool {
		getJSON(t, a.MonitorURL()+"/varz", &varz)
		return varz["slow_consumers"] == 1.0
	})
	if varz["staging_bytes"] != 0.0 || varz["max_staging"] != float64(4<<20) {
		t.Fatalf("varz staging_bytes %v max_staging %v, want 0 and 4 MiB", varz["staging_bytes"], varz["max_staging"])
	}
	log := readAppLog(t, a)
	if !strings.Contains(log, "slow consumer") || !strings.Contains(log, "staging budget exhausted") ||
		!strings.Contains(log, slow.c.LocalAddr().String()) {
		t.Fatalf("the log lacks the cut, its reason or the subscriber's address:\n%s", log)
	}

	if _, err := js.Publish(ctx, "other.x", []byte("still stored")); err != nil {
		t.Fatalf("publish to an unrelated stream after the cut: %v", err)
	}
}

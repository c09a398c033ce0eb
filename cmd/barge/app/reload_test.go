package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// confServer starts a server from a configuration file, as barge -c does,
// with test ports and folders over it; reload reads the rewritten file the
// same way.
type confServer struct {
	t    testing.TB
	a    *app.App
	path string
	dir  string
}

func startFromFile(t testing.TB, file string) *confServer {
	t.Helper()
	s := &confServer{t: t, dir: t.TempDir()}
	s.path = filepath.Join(s.dir, "barge.conf")
	cfg := s.config(file)
	a, err := app.Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	s.a = a
	return s
}

// config writes file and reads it back over the defaults, then puts the
// test's ports and folders over it.
func (s *confServer) config(file string) app.Config {
	s.t.Helper()
	if err := os.WriteFile(s.path, []byte(file), 0o644); err != nil {
		s.t.Fatal(err)
	}
	cfg := app.Defaults()
	if err := cfg.LoadFile(s.path); err != nil {
		s.t.Fatalf("load: %v", err)
	}
	cfg.Port, cfg.HTTPPort = 0, -1
	cfg.StoreDir = filepath.Join(s.dir, "data")
	if cfg.LogFile == "" {
		cfg.LogFile = filepath.Join(s.dir, "barge.log")
	}
	return cfg
}

func (s *confServer) reload(file string) error { return s.a.Reload(s.config(file)) }

// log returns what the server logged to path so far.
func readLog(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func infoMaxPayload(t testing.TB, r *rawConn) int64 {
	t.Helper()
	var info struct {
		MaxPayload int64 `json:"max_payload"`
	}
	if err := json.Unmarshal([]byte(r.info), &info); err != nil {
		t.Fatal(err)
	}
	return info.MaxPayload
}

// TestReloadMaxPayload: a reloaded max_payload is announced to and enforced
// on new connections; a connection made before keeps the limit its INFO
// announced; the change is logged and shown in /varz.
func TestReloadMaxPayload(t *testing.T) {
	s := startFromFile(t, "max_payload: 1MB\n")
	before := dialRaw(t, s.a)
	before.send("CONNECT {\"verbose\":false}\r\n")

	if err := s.reload("max_payload: 1KB\n"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	after := dialRaw(t, s.a)
	if got := infoMaxPayload(t, after); got != 1024 {
		t.Fatalf("INFO max_payload after reload = %d, want 1024", got)
	}
	after.send("CONNECT {}\r\nPUB big 2000\r\n")
	after.expect("-ERR 'Maximum Payload Violation'")

	if got := infoMaxPayload(t, before); got != 1<<20 {
		t.Fatalf("INFO max_payload before reload = %d", got)
	}
	before.send("PUB big 2000\r\n" + strings.Repeat("x", 2000) + "\r\nPING\r\n")
	before.expect("PONG")

	var varz map[string]any
	getJSON(t, s.a.MonitorURL()+"/varz", &varz)
	if varz["max_payload"].(float64) != 1024 {
		t.Fatalf("varz max_payload %v", varz["max_payload"])
	}
	log := readLog(t, filepath.Join(s.dir, "barge.log"))
	if !strings.Contains(log, "msg=reloaded key=max_payload old=1048576 new=1024") {
		t.Fatalf("no reload line for max_payload in the log:\n%s", log)
	}
	if !strings.Contains(log, "msg=\"configuration reloaded\" changes=1") {
		t.Fatalf("no summary line in the log:\n%s", log)
	}
}

// TestReloadRefusesFixedSetting: a reload that changes a setting fixed at
// start is refused whole, naming it; the reloadable change in the same file
// does not happen either, and the server runs on.
func TestReloadRefusesFixedSetting(t *testing.T) {
	s := startFromFile(t, "max_payload: 1MB\nserver_name: a\n")
	err := s.reload("max_payload: 2MB\nserver_name: b\n")
	if err == nil || !strings.Contains(err.Error(), "config reload not supported for server_name: old=a, new=b") {
		t.Fatalf("reload error %v, want server_name refused", err)
	}
	r := dialRaw(t, s.a)
	if got := infoMaxPayload(t, r); got != 1<<20 {
		t.Fatalf("max_payload %d after a refused reload", got)
	}
	// The refused reload did not become the base of the next one: the same
	// file with the old name goes through.
	if err := s.reload("max_payload: 2MB\nserver_name: a\n"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := infoMaxPayload(t, dialRaw(t, s.a)); got != 2<<20 {
		t.Fatalf("max_payload %d after reload", got)
	}
}

// TestReloadRefusesInvalidConfig: a configuration that does not validate
// changes nothing.
func TestReloadRefusesInvalidConfig(t *testing.T) {
	s := startFromFile(t, "ping_max: 3\n")
	cfg := s.config("ping_max: 4\n")
	cfg.MaxControlLine = 10
	if err := s.a.Reload(cfg); err == nil || !strings.Contains(err.Error(), "max_control_line") {
		t.Fatalf("reload error %v, want max_control_line refused", err)
	}
	var varz map[string]any
	getJSON(t, s.a.MonitorURL()+"/varz", &varz)
	if varz["ping_max"].(float64) != 3 || varz["max_control_line"].(float64) != 4096 {
		t.Fatalf("varz after a refused reload: ping_max %v max_control_line %v", varz["ping_max"], varz["max_control_line"])
	}
}

// TestReloadLogging: debug and trace switch the level of the running
// logger, log_file moves it to another file, and ReopenLog follows a
// rotated file.
func TestReloadLogging(t *testing.T) {
	s := startFromFile(t, "")
	if s.a.Logger().Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug enabled before reload")
	}
	if err := s.reload("debug: true\n"); err != nil {
		t.Fatal(err)
	}
	if !s.a.Logger().Enabled(context.Background(), slog.LevelDebug) || s.a.Logger().Enabled(context.Background(), app.LevelTrace) {
		t.Fatal("debug (only) not enabled after reload")
	}
	if err := s.reload("trace: true\n"); err != nil {
		t.Fatal(err)
	}
	if !s.a.Logger().Enabled(context.Background(), app.LevelTrace) {
		t.Fatal("trace not enabled after reload")
	}

	other := filepath.Join(s.dir, "other.log")
	if err := s.reload("log_file: " + other + "\n"); err != nil {
		t.Fatal(err)
	}
	if log := readLog(t, other); !strings.Contains(log, "key=log_file") || !strings.Contains(log, "key=trace old=true new=false") {
		t.Fatalf("new log file lacks the reload lines:\n%s", log)
	}

	// logrotate: the file is renamed, then SIGUSR1 (ReopenLog).
	rotated := other + ".1"
	if err := os.Rename(other, rotated); err != nil {
		t.Fatal(err)
	}
	if err := s.a.ReopenLog(); err != nil {
		t.Fatal(err)
	}
	if log := readLog(t, other); !strings.Contains(log, "log file reopened") {
		t.Fatalf("reopened log file:\n%s", log)
	}
	if log := readLog(t, rotated); strings.Contains(log, "log file reopened") {
		t.Fatal("the rotated file still gets new lines")
	}

	// A log file that cannot be opened refuses the reload whole.
	err := s.reload("debug: true\nlog_file: " + filepath.Join(s.dir, "missing", "x.log") + "\n")
	if err == nil || !strings.Contains(err.Error(), "log_file") {
		t.Fatalf("reload error %v, want log_file refused", err)
	}
	if s.a.Logger().Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug applied by a refused reload")
	}
}

// TestReloadPingInterval: new keepalive settings reach the connections.
func TestReloadPingInterval(t *testing.T) {
	s := startFromFile(t, "")
	if err := s.reload("ping_interval: 20ms\nping_max: 1\n"); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, s.a)
	r.send("CONNECT {}\r\n")
	for {
		l := r.line()
		if l == "PING" {
			continue // never answered
		}
		if l != "-ERR 'Stale Connection'" {
			t.Fatalf("got %q, want stale connection error", l)
		}
		break
	}
}

// TestReloadMaxPending: a lower max_pending applies to a connection made
// before the reload from its next write.
func TestReloadMaxPending(t *testing.T) {
	s := startFromFile(t, "write_watermark: 256KB\n")
	r := dialRaw(t, s.a)
	r.send("CONNECT {}\r\nSUB flood 1\r\nPING\r\n")
	r.expect("PONG")
	if err := s.reload("write_watermark: 256KB\nmax_pending: 4MB\n"); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, s.a)
	payload := make([]byte, 64<<10)
	var varz map[string]any
	eventually(t, 30*time.Second, "slow consumer cut", func() bool {
		for range 64 {
			pub.Publish("flood", payload)
		}
		pub.Flush()
		getJSON(t, s.a.MonitorURL()+"/varz", &varz)
		return varz["slow_consumers"].(float64) >= 1
	})
	if !pub.IsConnected() {
		t.Fatal("publisher disconnected")
	}
}

// TestReloadPidFile: the pid file is written at start, moved by a reload
// and removed at shutdown.
func TestReloadPidFile(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.pid"), filepath.Join(dir, "b.pid")
	s := startFromFile(t, "pid_file: "+first+"\n")
	pid := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("pid file: %v", err)
		}
		return string(b)
	}
	if got := pid(first); got != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", got)
	}
	if err := s.reload("pid_file: " + second + "\n"); err != nil {
		t.Fatal(err)
	}
	if got := pid(second); got != strconv.Itoa(os.Getpid()) {
		t.Fatalf("new pid file holds %q", got)
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("old pid file kept: %v", err)
	}
	if err := s.a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(second); !os.IsNotExist(err) {
		t.Fatalf("pid file kept after shutdown: %v", err)
	}
	if err := s.reload("pid_file: " + first + "\n"); err == nil {
		t.Fatal("reload after shutdown accepted")
	}
}

// TestMonitorListensOnLoopback: monitoring does not follow --addr; --http
// (http_host) moves it.
func TestMonitorListensOnLoopback(t *testing.T) {
	a := startServer(t, func(c *app.Config) { c.Host = "0.0.0.0" })
	if !strings.HasPrefix(a.MonitorURL(), "http://127.0.0.1:") {
		t.Fatalf("monitoring on %s with --addr 0.0.0.0, want loopback", a.MonitorURL())
	}
	nc := connect(t, a, nats.MaxReconnects(0))
	if !nc.IsConnected() {
		t.Fatal("client not connected")
	}
	b := startServer(t, func(c *app.Config) { c.HTTPHost = "0.0.0.0" })
	u, err := url.Parse(b.MonitorURL())
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsUnspecified() {
		t.Fatalf("monitoring on %s with --http 0.0.0.0:port", b.MonitorURL())
	}
	var varz map[string]any
	getJSON(t, "http://127.0.0.1:"+u.Port()+"/varz", &varz)
	if varz["http_host"] != "0.0.0.0" {
		t.Fatalf("varz http_host %v", varz["http_host"])
	}
}

// TestReloadMaxConnectionsAndStaging: a reloaded max_connections refuses
// or admits the next client, and a reloaded max_staging is the budget
// /varz reports.
func TestReloadMaxConnectionsAndStaging(t *testing.T) {
	s := startFromFile(t, "max_connections: 1\nmax_staging: 8MB\n")
	connect(t, s.a)
	if nc, err := nats.Connect(s.a.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("second client admitted with max_connections 1")
	}
	if err := s.reload("max_connections: 2\nmax_staging: 16MB\n"); err != nil {
		t.Fatal(err)
	}
	connect(t, s.a)
	var varz map[string]any
	getJSON(t, s.a.MonitorURL()+"/varz", &varz)
	if varz["max_connections"].(float64) != 2 || varz["max_staging"].(float64) != 16<<20 {
		t.Fatalf("varz max_connections %v max_staging %v, want 2 and %d", varz["max_connections"], varz["max_staging"], 16<<20)
	}
}

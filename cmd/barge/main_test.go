package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	usage(&out)
	for _, want := range []string{"-a", "--addr", "-p", "--port", "-m", "--http_port", "--max_payload",
		"--max_pending", "-js", "--jetstream", "-sd", "--store_dir", "-c, --config", "-l", "--log",
		"-D", "-V", "--version", "--help", "--http <value>", "--http_host", "-P, --pid", "-sl, --signal", "reload"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

func TestFlagsOverrideConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "barge.conf")
	os.WriteFile(conf, []byte("# test\nport: 5000\nmax_payload = 64MB\nstore_dir: \"/tmp/x\"\njetstream: false\n"), 0o644)
	o, err := parseFlags([]string{"-c", conf, "--port", "6000", "-D"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Port != 6000 || c.MaxPayload != 64<<20 || c.StoreDir != "/tmp/x" || c.JetStream || !c.Debug {
		t.Fatalf("config %+v", c)
	}
	os.WriteFile(conf, []byte("prot: 5000\n"), 0o644)
	if _, err := parseFlags([]string{"-c", conf}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "prot") {
		t.Fatalf("unknown key not reported: %v", err)
	}
	if _, err := parseFlags([]string{"--max_payload", "lots"}, &bytes.Buffer{}); err == nil {
		t.Fatal("bad size accepted")
	}
	o, err = parseFlags([]string{"-a", "0.0.0.0", "--http", "10.1.2.3:9000", "-P", "/run/barge.pid"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.Host != "0.0.0.0" || c.HTTPHost != "10.1.2.3" || c.HTTPPort != 9000 || c.PidFile != "/run/barge.pid" {
		t.Fatalf("config %+v", c)
	}
	// Monitoring stays on loopback whatever --addr is; -m sets the port only.
	o, err = parseFlags([]string{"-a", "0.0.0.0", "-m", "9100"}, &bytes.Buffer{})
	if err != nil || o.cfg.HTTPHost != "127.0.0.1" || o.cfg.HTTPPort != 9100 {
		t.Fatalf("-a 0.0.0.0 -m 9100: http %s:%d, %v", o.cfg.HTTPHost, o.cfg.HTTPPort, err)
	}
}

// TestSignalShutdown runs the real binary, connects, and stops it with
// SIGTERM: it must exit 0.
func TestSignalShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, "-p", "0", "-m", "0", "-sd", filepath.Join(dir, "data"))
	addr := p.waitLine(`barge ready.* addr=(\S+)`)[1]
	nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestSignalReload runs the real binary with -c and -P: SIGHUP and
// `barge --signal reload` apply a rewritten file (new connections get the
// new max_payload) and the process stays up; a bad file and a change of a
// setting fixed at start are logged and change nothing; `--signal quit`
// stops it gracefully and the pid file goes away.
func TestSignalReload(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "barge.conf")
	pidFile := filepath.Join(dir, "barge.pid")
	base := "port: 0\nhttp_port: 0\nstore_dir: " + filepath.Join(dir, "data") + "\n"
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(base+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("max_payload: 1MB\n")
	p := startProc(t, "-c", conf, "-P", pidFile)
	addr := p.waitLine(`barge ready.* addr=(\S+)`)[1]
	b, err := os.ReadFile(pidFile)
	if err != nil || string(b) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("pid file %q, %v; want %d", b, err, p.cmd.Process.Pid)
	}
	maxPayload := func() int64 {
		t.Helper()
		nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(0))
		if err != nil {
			t.Fatalf("connect after reload: %v", err)
		}
		defer nc.Close()
		return nc.MaxPayload()
	}
	if got := maxPayload(); got != 1<<20 {
		t.Fatalf("max_payload %d at start", got)
	}

	write("max_payload: 2KB\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLine(`msg=reloaded key=max_payload old=1048576 new=2048`)
	if got := maxPayload(); got != 2048 {
		t.Fatalf("max_payload %d after SIGHUP", got)
	}

	write("max_payload: lots\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLine(`failed to reload server configuration.*max_payload`)
	write("max_payload: 4KB\nport: 1\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLine(`failed to reload server configuration.*config reload not supported for port`)
	if got := maxPayload(); got != 2048 {
		t.Fatalf("max_payload %d after refused reloads", got)
	}

	write("max_payload: 4KB\n")
	if out, err := exec.Command(bargeBin(t), "--signal", "reload", "-P", pidFile).CombinedOutput(); err != nil {
		t.Fatalf("--signal reload: %v\n%s", err, out)
	}
	p.waitLine(`msg=reloaded key=max_payload old=2048 new=4096`)
	if got := maxPayload(); got != 4096 {
		t.Fatalf("max_payload %d after --signal reload", got)
	}

	if out, err := exec.Command(bargeBin(t), "--signal", "quit="+pidFile).CombinedOutput(); err != nil {
		t.Fatalf("--signal quit: %v\n%s", err, out)
	}
	if err := p.wait(); err != nil {
		t.Fatalf("exit after --signal quit: %v", err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
}

// TestSignalStop: `--signal stop` kills the process named by the pid file
// (SIGKILL, as nats-server's stop); errors exit 1 with a message.
func TestSignalStop(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "barge.pid")
	p := startProc(t, "-p", "0", "-m", "0", "-sd", filepath.Join(dir, "data"), "--pid", pidFile)
	p.waitLine(`barge ready`)
	if out, err := exec.Command(bargeBin(t), "-sl", "stop", "-P", pidFile).CombinedOutput(); err != nil {
		t.Fatalf("--signal stop: %v\n%s", err, out)
	}
	var exit *exec.ExitError
	if err := p.wait(); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit after --signal stop: %v, want killed", err)
	}
	for _, tc := range []struct{ args, want string }{
		// SIGKILL left the pid file behind, naming a dead process.
		{"--signal=reload=" + pidFile, "no such process"},
		{"--signal=ldm=1", "no lame duck mode"},
		{"--signal=restart=1", `unknown signal "restart"`},
		{"--signal=reload=notapid", "invalid pid: notapid"},
	} {
		out, err := exec.Command(bargeBin(t), tc.args).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: %v %s, want exit 1 and %q", tc.args, err, out, tc.want)
		}
	}
}

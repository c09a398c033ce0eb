package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	usage(&out)
	for _, want := range []string{"-a", "--addr", "-p", "--port", "-m", "--http_port", "--max_payload",
		"--max_pending", "-js", "--jetstream", "-sd", "--store_dir", "-c, --config", "-l", "--log",
		"-D", "-V", "--version", "--help"} {
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
}

// TestSignalShutdown runs the real binary, connects, and stops it with
// SIGTERM: it must exit 0.
func TestSignalShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "barge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", "0", "-m", "0", "-sd", filepath.Join(dir, "data"))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addrRE := regexp.MustCompile(`barge ready.* addr=(\S+)`)
	lines := bufio.NewScanner(stderr)
	found := make(chan string, 1)
	go func() {
		sent := false
		for lines.Scan() {
			if m := addrRE.FindStringSubmatch(lines.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		close(found)
	}()
	var addr string
	select {
	case addr = <-found:
	case <-time.After(30 * time.Second):
	}
	if addr == "" {
		t.Fatal("server did not report its address")
	}
	nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
}

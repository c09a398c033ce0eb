package jetstream_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bargemq/barge/broker"
)

// TestAPILevelWithNatsCLI drives the real `nats` CLI (natscli v0.5.0; its
// path in BARGE_NATS_CLI, else the test is skipped), which gates features
// on the server's API level and sends Nats-Required-Api-Level with every
// config that uses them: the streams of levels 1 to 3 are created,
// `nats pub --atomic` and `nats bench js pub atomic` and `async
// --persistasync` (with --create: its streams set allow_batched, which the
// CLI marks level 3) run, `nats consumer pause` pauses, and `nats bench js
// pub fast --create`, which the CLI allows from level 4 (nats-server 2.14)
// on, publishes its fast batches.
func TestAPILevelWithNatsCLI(t *testing.T) {
	cli := os.Getenv("BARGE_NATS_CLI")
	if cli == "" {
		t.Skip("BARGE_NATS_CLI names no nats CLI binary")
	}
	a := startServer(t, "", nil)
	home := t.TempDir()
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--server", a.ClientURL()}, args...)...)
		cmd.Env = append(os.Environ(), "NATS_CONTEXT=", "HOME="+home)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("", "account", "info"); !strings.Contains(out, "Connected Server Version: "+broker.NATSVersion) {
		t.Fatalf("account info:\n%s", out)
	}
	for _, c := range []struct {
		name  string
		flags []string
		field string // the config field the flag sets
	}{
		{"TTL", []string{"--allow-msg-ttl"}, "allow_msg_ttl"},
		{"CNT", []string{"--allow-counter"}, "allow_msg_counter"},
		{"SCHED", []string{"--allow-schedules"}, "allow_msg_schedules"},
		{"ATOM", []string{"--allow-batch"}, "allow_atomic"},
		{"FAST", []string{"--allow-fast"}, "allow_batched"},
		{"ASYNC", []string{"--persist-mode=async"}, "persist_mode"},
	} {
		args := append([]string{"stream", "add", c.name, "--subjects", strings.ToLower(c.name) + ".>", "--defaults"}, c.flags...)
		run("", args...)
		var info struct {
			Config map[string]any `json:"config"`
		}
		if err := json.Unmarshal([]byte(run("", "stream", "info", c.name, "--json")), &info); err != nil {
			t.Fatal(err)
		}
		if v := info.Config[c.field]; v != true && v != "async" {
			t.Fatalf("%s: %s = %v", c.name, c.field, v)
		}
	}

	if out := run("a\nb\nc\n", "pub", "atom.x", "--send-on=newline", "--atomic"); !strings.Contains(out, "Messages: 3") {
		t.Fatalf("pub --atomic:\n%s", out)
	}
	out := run("", "bench", "js", "pub", "atomic", "bench.a", "--create", "--stream", "BA", "--msgs", "500", "--batch", "50", "--no-progress")
	if !strings.Contains(out, "atomic batch publisher stats") {
		t.Fatalf("bench atomic:\n%s", out)
	}
	out = run("", "bench", "js", "pub", "async", "bench.p", "--create", "--persistasync", "--stream", "BP", "--msgs", "500", "--no-progress")
	if !strings.Contains(out, "asynchronous publisher stats") {
		t.Fatalf("bench async:\n%s", out)
	}
	for stream, want := range map[string]string{"BA": `"messages": 500`, "BP": `"messages": 500`} {
		if out := run("", "stream", "info", stream, "--json"); !strings.Contains(out, want) {
			t.Fatalf("%s:\n%s", stream, out)
		}
	}

	run("", "consumer", "add", "TTL", "W", "--pull", "--defaults")
	run("", "consumer", "pause", "TTL", "W", "1h", "-f")
	if out := run("", "consumer", "info", "TTL", "W"); !strings.Contains(out, "Paused Until") {
		t.Fatalf("consumer info:\n%s", out)
	}

	out = run("", "bench", "js", "pub", "fast", "bench.f", "--create", "--stream", "BF", "--msgs", "500", "--no-progress")
	if !strings.Contains(out, "publisher stats") {
		t.Fatalf("bench fast:\n%s", out)
	}
	if out := run("", "stream", "info", "BF", "--json"); !strings.Contains(out, `"messages": 500`) || !strings.Contains(out, `"allow_batched": true`) {
		t.Fatalf("BF:\n%s", out)
	}
}

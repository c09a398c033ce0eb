package jetstream_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// TestBackupWithNatsCLI drives the real `nats` CLI (natscli v0.5.0; its
// path in BARGE_NATS_CLI, else the test is skipped): `nats stream backup
// --consumers`, `nats backup validate` (the offline reader of the
// archive), `nats stream restore` of an existing stream (refused), and of
// the deleted one; `nats account backup` and `restore`. The restored
// stream has every message, the large one byte for byte, and the
// consumer's state.
func TestBackupWithNatsCLI(t *testing.T) {
	cli := os.Getenv("BARGE_NATS_CLI")
	if cli == "" {
		t.Skip("BARGE_NATS_CLI names no nats CLI binary")
	}
	a := startServer(t, "", func(c *app.Config) { c.MaxPayload = 32 << 20 })
	_, js := legacy(t, a)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(cli, append([]string{"--server", a.ClientURL()}, args...)...)
		cmd.Env = append(os.Environ(), "NATS_CONTEXT=", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	_, err := js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	must(t, err)
	for i := range 300 {
		_, err := js.Publish("orders."+[]string{"eu", "us", "asia"}[i%3], bytes.Repeat([]byte{byte(i)}, 50+i))
		must(t, err)
	}
	big := make([]byte, 20<<20)
	pattern(big, 5)
	_, err = js.Publish("orders.big", big)
	must(t, err)
	_, err = js.AddConsumer("ORDERS", &nats.ConsumerConfig{Durable: "W", AckPolicy: nats.AckExplicitPolicy})
	must(t, err)
	sub, err := js.PullSubscribe("", "W", nats.Bind("ORDERS", "W"))
	must(t, err)
	msgs, err := sub.Fetch(4)
	must(t, err)
	must(t, msgs[0].AckSync())
	must(t, msgs[1].AckSync())

	dir := filepath.Join(t.TempDir(), "bk")
	if out, err := run("stream", "backup", "ORDERS", dir, "--consumers", "--no-progress"); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if out, err := run("backup", "validate", dir); err != nil || !strings.Contains(out, "301 messages") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	if out, err := run("stream", "restore", dir, "--no-progress"); err == nil {
		t.Fatalf("restore over an existing stream succeeded:\n%s", out)
	}
	must(t, js.DeleteStream("ORDERS"))
	if out, err := run("stream", "restore", dir, "--no-progress"); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	si, err := js.StreamInfo("ORDERS")
	must(t, err)
	if si.State.Msgs != 301 || si.State.Consumers != 1 {
		t.Fatalf("restored %+v", si.State)
	}
	ci, err := js.ConsumerInfo("ORDERS", "W")
	must(t, err)
	if ci.AckFloor.Stream != 2 || ci.NumAckPending != 2 || ci.Delivered.Stream != 4 {
		t.Fatalf("restored consumer %+v %+v %d", ci.Delivered, ci.AckFloor, ci.NumAckPending)
	}
	m, err := js.GetMsg("ORDERS", 301)
	must(t, err)
	if !bytes.Equal(m.Data, big) {
		t.Fatal("large message differs after restore")
	}

	acct := filepath.Join(t.TempDir(), "acct")
	if out, err := run("account", "backup", acct, "--force", "--consumers"); err != nil {
		t.Fatalf("account backup: %v\n%s", err, out)
	}
	must(t, js.DeleteStream("ORDERS"))
	if out, err := run("account", "restore", acct); err != nil {
		t.Fatalf("account restore: %v\n%s", err, out)
	}
	si, err = js.StreamInfo("ORDERS")
	must(t, err)
	if si.State.Msgs != 301 {
		t.Fatalf("account restore %+v", si.State)
	}
}

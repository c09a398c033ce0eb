package jetstream_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestErrorsNameNoServerPaths: a consumer create and a stream create whose
// directories cannot be made (a file is in the way, which works as root
// too) are answered with nats-server's error and a reason, without the
// store directory's paths; the server's log has the whole error.
func TestErrorsNameNoServerPaths(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "S", Subjects: []string{"s"}})
	must(t, err)
	cons := filepath.Join(dir, "jetstream", "S", "consumers")
	must(t, os.RemoveAll(cons))
	must(t, os.WriteFile(cons, []byte("in the way"), 0o644))
	_, err = js.AddConsumer("S", &nats.ConsumerConfig{Durable: "D", AckPolicy: nats.AckExplicitPolicy})
	t.Logf("consumer create: %v", err)
	wantCode(t, err, 10104)
	if strings.Contains(err.Error(), "/") || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("consumer create error %q", err)
	}

	must(t, os.WriteFile(filepath.Join(dir, "jetstream", "T"), []byte("in the way"), 0o644))
	_, err = js.AddStream(&nats.StreamConfig{Name: "T", Subjects: []string{"t"}})
	t.Logf("stream create: %v", err)
	wantCode(t, err, 10049)
	if strings.Contains(err.Error(), "/") || strings.Contains(err.Error(), dir) {
		t.Fatalf("stream create error %q", err)
	}
	logged, err := os.ReadFile(filepath.Join(dir, "barge.log"))
	must(t, err)
	if !strings.Contains(string(logged), cons) {
		t.Fatalf("the server log lacks the consumer error's path:\n%s", logged)
	}
}

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestFaultsShort is the short form of the fault run: 14 s of publishing
// with the leader killed and restarted, a node paused and the live
// consumer's node restarted. No acked message may be lost, none stored out
// of order, no sequence missing.
func TestFaultsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds barge and runs three processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "barge")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bargemq/barge/cmd/barge").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Bin: bin, Dir: dir, Duration: 14 * time.Second, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	// NotConsumed is reported, not checked here (the long form checks
	// it): see README "Faults" for the consumer findings.
	if rep.Acked == 0 || rep.AckedLost != 0 || rep.Gaps != 0 || rep.OutOfOrder != 0 {
		t.Fatalf("fault run failed: %v", rep)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

package runner

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
)

// TestNatsBenchPoints runs nb-core and nb-js-fetch through Run against natsd
// (and bin/barge when built): the points come out measured, with server CPU,
// in the report's tables beside each other, and natscli's raw output stays
// in the work dir. Without natscli the points are skipped, not failed.
func TestNatsBenchPoints(t *testing.T) {
	cli, _ := filepath.Abs("../../bin/nats")
	if p := os.Getenv("BARGEBENCH_NATSCLI"); p != "" {
		cli = p
	}
	natsd := build(t, "../..", "./cmd/natsd", "natsd")
	if natsd == "" {
		t.Fatal("cmd/natsd does not build")
	}
	servers := []string{report.NATS}
	bargeBin, _ := filepath.Abs("../../../bin/barge")
	if _, err := os.Stat(bargeBin); err == nil {
		servers = append(servers, report.Barge)
	}
	cfg := Config{
		Servers: servers, Workloads: []string{"nb-core", "nb-js-fetch"}, Sizes: []int64{4 * units.KiB},
		Reps: 2, Warmup: 1, Msgs: 100, MinMsgs: 3, MaxMsgs: 100, Window: 256 * units.KiB, Seed: 1,
		NatsBin: natsd, BargeBin: bargeBin, NatsSync: "default", NatsMaxPayload: "64MiB", BargeMaxPayload: "64MiB",
		NatsCLI: cli, RepoDir: "../../..", Command: "test", Log: io.Discard,
	}
	if _, err := os.Stat(cli); err != nil {
		cfg.NatsCLI = filepath.Join(t.TempDir(), "nats") // absent
	}
	cfg.WorkDir, cfg.OutDir = t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, path, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Points) != 2*len(servers) {
		t.Fatalf("%d points", len(run.Points))
	}
	if cfg.NatsCLI != cli {
		for _, p := range run.Points {
			if p.Status != report.StatusSkipped || !strings.Contains(p.Err, "natscli") {
				t.Errorf("%s %s without natscli: %s %q", p.Server, p.Workload, p.Status, p.Err)
			}
		}
		t.Skipf("natscli not built (%s): the points were skipped", cli)
	}
	for _, p := range run.Points {
		if p.Status != report.StatusOK || p.Errors != 0 || p.Count != 100 || p.MsgsPerSec.Median <= 0 || p.BytesPerSec.Median <= 0 {
			t.Errorf("%s %s: %s %q, %d errors, %+v", p.Server, p.Workload, p.Status, p.Err, p.Errors, p.MsgsPerSec)
		}
		raw := filepath.Join(cfg.WorkDir, "nats-bench", p.Server+"-"+p.Workload+"-4KiB", "rep2.txt")
		if p.Workload == "nb-core" {
			raw = strings.TrimSuffix(raw, ".txt") + "-sub.txt"
		}
		if b, err := os.ReadFile(raw); err != nil || !strings.Contains(string(b), "stats:") {
			t.Errorf("raw output %s: %v", raw, err)
		}
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## nb-core", "## nb-js-fetch", "`nats bench sub`", "nb-* workloads run the real `nats bench` (natscli v0.5.0"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

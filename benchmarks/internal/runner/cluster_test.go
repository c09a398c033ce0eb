package runner

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
)

// build compiles pkg (run from dir) into bin and returns its path, or ""
// when it does not build.
func build(t *testing.T, dir, pkg, bin string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), bin)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Logf("%s does not build: %v\n%s", pkg, err, b)
		return ""
	}
	return out
}

// TestReplicatedPoints runs the r3 workloads end to end through Run: three
// natsd and three barge processes per point, readiness, the client on the
// stream leader, CPU and RSS summed, and a report that leaves latest.md
// alone.
func TestReplicatedPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six clusters of three processes")
	}
	natsd := build(t, "../..", "./cmd/natsd", "natsd")
	if natsd == "" {
		t.Fatal("cmd/natsd does not build")
	}
	servers := []string{report.NATS}
	// barge is another module, edited by others meanwhile: without it the
	// test still checks the nats-server cluster.
	bargeBin := build(t, "../../..", "./cmd/barge", "barge")
	if bargeBin != "" {
		servers = append(servers, report.Barge)
	}
	work, out := t.TempDir(), t.TempDir()
	cfg := Config{
		Servers: servers, Workloads: []string{"r3-pub", "r3-fetch"}, Sizes: []int64{units.KiB}, R3Sizes: []int64{4 * units.KiB},
		Reps: 2, Warmup: 0, Msgs: 50, MinMsgs: 3, MaxMsgs: 50, R3Bytes: units.MiB, R3MaxMsgs: 50,
		Window: 256 * units.KiB, Seed: 1,
		NatsBin: natsd, BargeBin: bargeBin, NatsSync: "default", NatsMaxPayload: "64MiB", BargeMaxPayload: "64MiB",
		WorkDir: work, OutDir: out, RepoDir: "../../..", Command: "test", Log: io.Discard,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, path, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Points) != 2*len(servers) { // at 4KiB only
		t.Fatalf("%d points", len(run.Points))
	}
	for _, p := range run.Points {
		if p.Status != report.StatusOK || p.Errors != 0 || p.Count != 50 || p.Size != 4*units.KiB {
			t.Errorf("%s %s: %s %q, %d errors, count %d", p.Server, p.Workload, p.Status, p.Err, p.Errors, p.Count)
		}
		// Three processes' peak RSS: well above any one server's few MiB.
		// (CPU seconds are counted in 10 ms ticks: too coarse for 50 messages.)
		if p.PeakRSS < 3*units.MiB || p.MsgsPerSec.Median <= 0 {
			t.Errorf("%s %s: rss %d rate %v", p.Server, p.Workload, p.PeakRSS, p.MsgsPerSec)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "latest.md")); !os.IsNotExist(err) {
		t.Errorf("latest.md written (%v) though Latest is off", err)
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## r3-pub") || !strings.Contains(string(md), "nats-server (r3-* workloads)") {
		t.Errorf("report lacks the r3 sections:\n%s", md)
	}
}

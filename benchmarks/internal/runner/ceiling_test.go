package runner

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
)

// TestCeilingPoints starts the ceiling binary through Run as it starts the
// other servers (same flags, /varz read for its version) for the workloads
// it serves, and records the ones it does not serve as n/a without
// starting anything.
func TestCeilingPoints(t *testing.T) {
	bin := build(t, "../..", "./cmd/ceiling", "ceiling")
	if bin == "" {
		t.Fatal("cmd/ceiling does not build")
	}
	work, out := t.TempDir(), t.TempDir()
	cfg := Config{
		Servers: []string{report.Ceiling}, Workloads: []string{"core", "js-pub", "js-fastpub", "js-fetch", "latency", "obj-put", "obj-get", "r3-pub", "tls-js-pub", "auth-core", "mirror"},
		Sizes: []int64{units.KiB, units.MiB}, R3Sizes: []int64{units.KiB}, Reps: 1, Warmup: 1, Msgs: 8, MinMsgs: 3, MaxMsgs: 8, MaxObjects: 8,
		R3Bytes: units.MiB, R3MaxMsgs: 8, Window: 2 * units.MiB, LatencyBps: 64 * units.MiB, LatencyRate: 400, LatencyDur: 20 * time.Millisecond,
		Seed: 1, CeilingBin: bin, BargeMaxPayload: "2GB", AuthUser: DefaultAuthUser, AuthPass: DefaultAuthPass,
		WorkDir: work, OutDir: out, RepoDir: "../../..", Command: "test", Log: io.Discard,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, path, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	na := map[string]bool{"r3-pub": true, "tls-js-pub": true, "auth-core": true, "mirror": true}
	for _, p := range run.Points {
		want := report.StatusOK
		if na[p.Workload] {
			want = report.StatusNA
		}
		if p.Status != want || p.Errors != 0 || (want == report.StatusOK && p.MsgsPerSec.Median <= 0) {
			t.Errorf("%s %s: %s %q, %d errors, %v msgs/s", p.Workload, units.FormatSize(p.Size), p.Status, p.Err, p.Errors, p.MsgsPerSec.Median)
		}
	}
	if v := run.Versions[report.Ceiling]; !strings.HasPrefix(v, "ceiling") {
		t.Errorf("version from /varz: %q", v)
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "ceiling (cmd/ceiling) is the yardstick") || !strings.Contains(string(md), "| 1MiB | ceiling |") {
		t.Errorf("report lacks the ceiling:\n%s", md)
	}
}

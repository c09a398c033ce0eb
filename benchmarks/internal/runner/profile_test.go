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

// TestProfileBothServers is a one-second `make profile` of core at 1 KiB
// against natsd and (when built) bin/barge, both with a profile rate: each
// capture yields CPU, allocs, heap, block and mutex profiles named by
// server, workload, size and kind, with a .top.txt beside each, and the
// block profile is filled.
func TestProfileBothServers(t *testing.T) {
	natsd := build(t, "../..", "./cmd/natsd", "natsd")
	if natsd == "" {
		t.Fatal("cmd/natsd does not build")
	}
	servers := []ProfileServer{{Name: report.NATS, Bin: natsd, MaxPayload: "64MiB"}}
	if bin, _ := filepath.Abs("../../../bin/barge"); fileExists(bin) {
		servers = append(servers, ProfileServer{Name: report.Barge, Bin: bin, MaxPayload: "64MiB"})
	}
	out := t.TempDir()
	c := ProfileConfig{Servers: servers, Workloads: []string{"core"}, Sizes: []int64{units.KiB}, CPUSeconds: 1, ProfileRate: 1,
		BytesPerRep: 256 * units.KiB, MaxMsgs: 1000, MaxObjects: 4, LatencyBps: units.MiB, LatencyRate: 100,
		Window: 256 * units.KiB, Seed: 1, WorkDir: t.TempDir(), OutDir: out, RepoDir: "../../..", Log: io.Discard, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := Profile(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	rev := gitRev(c.RepoDir)
	for _, s := range servers {
		for _, kind := range []string{"cpu", "allocs", "heap", "block", "mutex"} {
			f := filepath.Join(out, rev+"-"+s.Name+"-core-1KiB-"+kind+".pprof")
			fi, err := os.Stat(f)
			if err != nil || fi.Size() == 0 {
				t.Errorf("%s: %v", f, err)
				continue
			}
			top, err := os.ReadFile(f + ".top.txt")
			if err != nil {
				t.Errorf("%s.top.txt: %v", f, err)
				continue
			}
			if kind == "allocs" && !strings.Contains(string(top), "Type: alloc_space") {
				t.Errorf("%s.top.txt is not of the bytes allocated:\n%s", f, top)
			}
			// The profile rate reached the server: both block somewhere while
			// the workload loops (whether a lock was contended within one
			// second is up to the scheduler, so mutex is only checked for its
			// type).
			if kind == "block" && strings.Contains(string(top), "Total samples = 0 ") {
				t.Errorf("%s.top.txt is empty:\n%s", f, top)
			}
			if (kind == "mutex" || kind == "block") && !strings.Contains(string(top), "Type: delay") {
				t.Errorf("%s.top.txt:\n%s", f, top)
			}
		}
	}
	if len(files) != 5*len(servers) {
		t.Errorf("%d files: %v", len(files), files)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

package report

import (
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/stats"
)

// The README block is replaced between its markers only, and carries the
// ratio tables with level-4 headings and where they came from.
func TestReadmeSummary(t *testing.T) {
	r := &Run{Date: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), Rev: "abc1234", Command: "bargebench -workloads core",
		Machine: Machine{CPU: "AMD EPYC", Cores: 2, StoreFS: "/dev/vda (ext4)"}}
	for _, sv := range []string{NATS, Barge, Ceiling} {
		r.Points = append(r.Points, Point{Server: sv, Workload: "core", Size: 1024, Status: StatusOK,
			Count: 10, BytesPerSec: stats.Summary{Median: map[string]float64{NATS: 100, Barge: 120, Ceiling: 200}[sv]}, CPUSeconds: stats.Summary{Median: map[string]float64{NATS: 2, Barge: 1, Ceiling: 0.5}[sv]}})
	}
	block := r.ReadmeSummary("benchmarks/results/x.md")
	for _, want := range []string{"[results/x.md](benchmarks/results/x.md)", "`bargebench -workloads core`",
		"#### barge ÷ nats-server", "#### barge ÷ ceiling", "| core | 1.20× |", "| core | 0.60× |", "#### Server CPU per message", "| core | 0.50× |"} {
		if !strings.Contains(block, want) {
			t.Fatalf("summary lacks %q:\n%s", want, block)
		}
	}
	doc := "intro\n" + ReadmeStart + "\nold\n" + ReadmeEnd + "\nrest\n"
	got, err := ReplaceReadmeBlock(doc, block)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "intro\n"+ReadmeStart+"\n") || !strings.HasSuffix(got, ReadmeEnd+"\nrest\n") || strings.Contains(got, "old") {
		t.Fatalf("block not replaced in place:\n%s", got)
	}
	if _, err := ReplaceReadmeBlock("no markers", block); err == nil {
		t.Fatal("a README without markers was accepted")
	}
}

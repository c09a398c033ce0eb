package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/stats"
)

func fakeRun() *Run {
	ok := func(server string, size int64, mibps float64) Point {
		return Point{Server: server, Workload: "js-pub", Size: size, Count: 3, Status: StatusOK,
			BytesPerSec: stats.Summary{Median: mibps * (1 << 20), Min: mibps * (1 << 20), Max: mibps * (1 << 20), N: 1},
			PeakRSS:     64 << 20}
	}
	return &Run{
		Date: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Rev: "abc1234", Command: "bargebench -quick",
		Limits: Limits{LoopbackBps: 2000 << 20, DiskFsyncBps: 700 << 20, FsyncEvery: 4 << 20},
		Points: []Point{
			ok(NATS, 1<<20, 200), ok(Barge, 1<<20, 300),
			{Server: NATS, Workload: "js-pub", Size: 256 << 20, Status: StatusRefused, Err: "nats: maximum payload exceeded"},
			ok(Barge, 256<<20, 350),
		},
	}
}

func TestMarkdownHasRatiosAndRefusals(t *testing.T) {
	r := fakeRun()
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, map[string][]string{"js-pub": {"x.svg"}}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"1.50×", "barge only", "**refused**", "nats: maximum payload exceeded", "50%", "![x.svg](x.svg)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	tp, rss := fakeRun().Plots("js-pub")
	for _, c := range []*Chart{tp, rss} {
		var b bytes.Buffer
		if err := c.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		s := b.String()
		if !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(strings.TrimSpace(s), "</svg>") || strings.Contains(s, "NaN") {
			t.Errorf("bad svg:\n%s", s)
		}
	}
}

// TestMarkdownTLSTables: a run with tls-* workloads compares each with its
// plaintext run on the same server and gives CPU seconds per GiB.
func TestMarkdownTLSTables(t *testing.T) {
	r := fakeRun()
	pt := func(server, wl string, mibps, cpu float64) Point {
		return Point{Server: server, Workload: wl, Size: 1 << 20, Count: 1024, Status: StatusOK,
			BytesPerSec: stats.Summary{Median: mibps * (1 << 20), N: 1}, CPUSeconds: stats.Summary{Median: cpu, N: 1}}
	}
	r.Points = []Point{pt(NATS, "js-fetch", 400, 2), pt(Barge, "js-fetch", 1000, 1),
		pt(NATS, "tls-js-fetch", 300, 3), pt(Barge, "tls-js-fetch", 700, 1.5)}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, nil); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"| tls-js-fetch ÷ js-fetch / barge | 0.70× |", "| tls-js-fetch ÷ js-fetch / nats-server | 0.75× |",
		"| tls-js-fetch | 2.33× |", "| tls-js-fetch / barge | 1.50 |", "Over TLS"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestMarkdownAuthTables: a run with auth-* workloads compares each with
// its run without authentication on the same server, and the barge ÷
// nats-server table has the auth rows.
func TestMarkdownAuthTables(t *testing.T) {
	r := fakeRun()
	pt := func(server, wl string, mibps float64) Point {
		return Point{Server: server, Workload: wl, Size: 1024, Count: 1024, Status: StatusOK,
			BytesPerSec: stats.Summary{Median: mibps * (1 << 20), N: 1}, CPUSeconds: stats.Summary{Median: 1, N: 1}}
	}
	r.Points = []Point{pt(NATS, "core", 400), pt(Barge, "core", 500),
		pt(NATS, "auth-core", 300), pt(Barge, "auth-core", 480)}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, nil); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"## Auth ÷ no auth, same server", "| auth-core ÷ core / barge | 0.96× |",
		"| auth-core ÷ core / nats-server | 0.75× |", "| auth-core | 1.60× |", "With authentication"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestMarkdownCeilingTable: with the ceiling in the run, the report has a
// barge ÷ ceiling table beside barge ÷ nats-server, the ceiling's rows in
// the fraction and per-point tables, its n/a points explained and kept out
// of the ratio tables; the terminal summary has both ratios.
func TestMarkdownCeilingTable(t *testing.T) {
	r := fakeRun()
	pt := func(server, wl string, mibps float64) Point {
		return Point{Server: server, Workload: wl, Size: 1 << 20, Count: 64, Status: StatusOK,
			BytesPerSec: stats.Summary{Median: mibps * (1 << 20), N: 1}, CPUSeconds: stats.Summary{Median: 0.5, N: 1}}
	}
	lat := func(server string, p99 time.Duration) Point {
		p := pt(server, "latency", 10)
		p.Latency = stats.Percentiles{P50: p99 / 2, P99: p99, P999: p99}
		return p
	}
	r.Points = []Point{pt(NATS, "js-pub", 200), pt(Barge, "js-pub", 300), pt(Ceiling, "js-pub", 1200),
		lat(NATS, 4*time.Millisecond), lat(Barge, 2*time.Millisecond), lat(Ceiling, time.Millisecond),
		pt(NATS, "r3-pub", 100), pt(Barge, "r3-pub", 50),
		{Server: Ceiling, Workload: "r3-pub", Size: 1 << 20, Status: StatusNA, Err: "the ceiling is a single process: no replicated workloads"}}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, nil); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"## barge ÷ nats-server", "## barge ÷ ceiling", "| js-pub | 0.25× |", "| latency | p99 2.00× |",
		"| js-pub / ceiling (÷ disk write+fsync) | 171% |", "| 1MiB | ceiling | 64 |", "**n/a**", "no replicated workloads"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	ceil := md[strings.Index(md, "## barge ÷ ceiling"):]
	ceil = ceil[:strings.Index(ceil[3:], "## ")+3]
	if strings.Contains(ceil, "r3-pub") {
		t.Errorf("barge ÷ ceiling has a row for a workload the ceiling does not run:\n%s", ceil)
	}
	var sum bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"barge ÷ nats-server", "barge ÷ ceiling", "1.50×", "0.25×", "p99 0.50×"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

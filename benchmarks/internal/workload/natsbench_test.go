package workload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/proc"

	"github.com/nats-io/nats-server/v2/server"
)

// Captured from natscli v0.5.0 (`nats bench js pub sync … --csv`, `nats
// bench sub … --csv`, `nats bench js pub async`) against nats-server.
const (
	syncPubStdout = `
NATS JetStream synchronous publisher stats: 26,661 msgs/sec ~ 26 MiB/sec ~ min: 15.54us ~ avg: 37.33us ~ max: 997.90us ~ P50: 34.76us ~ P90: 47.14us ~ P99: 73.78us ~ P99.9: 485.47us

Saved metric data in csv file /tmp/nbw/p.csv
`
	syncPubCSV = `#RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs,MinLatencyMicroSecs,AvgLatencyMicroSecs,MaxLatencyMicroSecs,P50LatencyMicroSecs,P90LatencyMicroSecs,P99LatencyMicroSecs,P99.9LatencyMicroSecs,StdDevLatencyMicroSecs
TEY79nYTxTVCV8nh4YC0Gj,P0,4000,2048000,26661,27301069.947327,0.075015,15.541000,37.330389,997.905000,34.763000,47.141000,73.782000,485.474000,47.810186
`
	subStdout = `
NATS Core NATS subscriber stats: 857,644 msgs/sec ~ 838 MiB/sec

Saved metric data in csv file /tmp/nbw/sub.csv
`
	subCSV = `#RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs
mNydzYXJj7tljZNtrFU7JU,S0,3000,3072000,857644,878228425.726947,0.003498
`
	asyncPubStdout = `
NATS JetStream asynchronous publisher stats: 161,603 msgs/sec ~ 2.3 GiB/sec ~ min: 2,208.70us ~ avg: 3,086.74us ~ max: 5,643.72us ~ P50: 2,542.60us ~ P90: 3,917.05us ~ P99: 5,643.72us ~ P99.9: 5,643.72us
`
	fetchStderr = `11:40:24 Starting JetStream durable consumer (fetch) benchmark [acks=explicit, batch=500, clients=1, consumer=nats-bench, double-acked=false, msg-size=1.0 KiB, msgs=20,000, purge=false, sleep=0s, stream=benchstream]
11:40:24 [1] Starting JetStream durable consumer (fetch), expecting 20,000 messages
11:40:54 Fetch  timeout!
11:40:54 WARNING: at least one of the pull consumer Fetch operation timed out. These results are not optimal!
`
)

func TestParseNatsBenchOutput(t *testing.T) {
	for _, c := range []struct {
		out      string
		mps, bps float64
	}{
		{syncPubStdout, 26661, 26 << 20},
		{subStdout, 857644, 838 << 20},
		{asyncPubStdout, 161603, 2.3 * (1 << 30)},
	} {
		mps, bps, err := ParseNatsBenchStats(c.out)
		if err != nil || mps != c.mps || bps != c.bps {
			t.Errorf("ParseNatsBenchStats(%.40q…) = %v, %v, %v; want %v, %v", c.out, mps, bps, err, c.mps, c.bps)
		}
	}
	if _, _, err := ParseNatsBenchStats("nats: error: nats: no servers available for connection\n"); err == nil {
		t.Error("no stats line: no error")
	}

	res, err := ParseNatsBenchCSV(syncPubCSV, 1024)
	if err != nil || res.Msgs != 2000 || res.Bytes != 2048000 || res.Elapsed != 75015*time.Microsecond {
		t.Errorf("sync pub csv: %+v, %v", res, err)
	}
	res, err = ParseNatsBenchCSV(subCSV, 1024)
	if err != nil || res.Msgs != 3000 || res.Bytes != 3072000 || res.Elapsed != 3498*time.Microsecond {
		t.Errorf("sub csv: %+v, %v", res, err)
	}
	for _, bad := range []string{"", "#RunID,ClientID\n", syncPubCSV[:40] + "\n", "#RunID,MsgBytes,DurationSecs\nx,abc,1\n"} {
		if _, err := ParseNatsBenchCSV(bad, 1024); err == nil {
			t.Errorf("ParseNatsBenchCSV(%q): no error", bad)
		}
	}

	w := Warnings(fetchStderr)
	if len(w) != 1 || !strings.HasPrefix(w[0], "WARNING: at least one of the pull consumer Fetch") {
		t.Errorf("warnings = %q", w)
	}
	if w := Warnings("11:40:24 Starting Core NATS subscriber benchmark\n"); len(w) != 0 {
		t.Errorf("warnings = %q", w)
	}
}

// natsCLI returns natscli's path ($BARGEBENCH_NATSCLI, else benchmarks/bin/nats
// as `make bench-suite` builds it), or skips the test.
func natsCLI(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BARGEBENCH_NATSCLI")
	if p == "" {
		p, _ = filepath.Abs("../../bin/nats")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("natscli not built (%v): cd benchmarks/natscli && go build -o ../bin/nats github.com/nats-io/natscli/nats", err)
	}
	return p
}

// runNatsBench runs every nb-* workload, two repetitions of count messages
// of size, against the server at url (monitoring at monitor).
func runNatsBench(t *testing.T, cli string, start func(t *testing.T) (url, monitor string)) {
	const count, size = 200, 2048
	for _, name := range NatsBenchNames() {
		t.Run(name, func(t *testing.T) {
			url, monitor := start(t)
			w, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var done atomic.Int64
			dir := t.TempDir()
			e := &Env{URL: url, Size: size, Count: count, Window: 64 << 10, Payload: Payload(size, 1),
				Idle: 15 * time.Second, Done: &done, Bench: NatsBench{CLI: cli, Monitor: monitor, Dir: dir}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := w.Prepare(ctx, e); err != nil {
				t.Fatal(err)
			}
			for rep := -1; rep < 1; rep++ {
				s, err := w.Rep(ctx, e, rep)
				if err != nil {
					t.Fatalf("rep %d: %v", rep, err)
				}
				if s.Msgs != count || s.Bytes != count*size || s.Elapsed <= 0 || s.Errors != 0 || done.Load() != count {
					t.Fatalf("rep %d: %+v", rep, s)
				}
			}
			// The raw output stays for the report's reader.
			raw := "rep1.txt"
			if name == "nb-core" {
				raw = "rep1-sub.txt"
			}
			b, err := os.ReadFile(filepath.Join(dir, raw))
			if err != nil || !strings.Contains(string(b), "stats:") || !strings.Contains(string(b), "--size "+strconv.Itoa(size)) {
				t.Errorf("raw output %s: %v\n%s", raw, err, b)
			}
		})
	}
}

func TestNatsBenchAgainstNATS(t *testing.T) {
	cli := natsCLI(t)
	runNatsBench(t, cli, func(t *testing.T) (string, string) {
		s := startNATSWith(t, &server.Options{HTTPHost: "127.0.0.1", HTTPPort: -1})
		return s.ClientURL(), "http://" + s.MonitorAddr().String()
	})
}

// TestNatsBenchAgainstBarge runs the same against the barge binary
// ($BARGEBENCH_BARGE, else bin/barge at the repository root).
func TestNatsBenchAgainstBarge(t *testing.T) {
	cli := natsCLI(t)
	bin := os.Getenv("BARGEBENCH_BARGE")
	if bin == "" {
		bin, _ = filepath.Abs("../../../bin/barge")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("barge not built (%v): go build -o bin/barge ./cmd/barge", err)
	}
	runNatsBench(t, cli, func(t *testing.T) (string, string) {
		port, err := proc.FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		mport, err := proc.FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		srv, err := proc.Start(context.Background(), proc.Spec{Name: "barge", Bin: bin, Host: "127.0.0.1", Port: port, HTTPPort: mport,
			Args:    []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport), "-js", "-sd", filepath.Join(dir, "store")},
			LogPath: filepath.Join(dir, "barge.log")}, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Stop(10 * time.Second) })
		return fmt.Sprintf("nats://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", mport)
	})
}

// TestNatsBenchRefusal: a size over the server's max_payload ends the run
// with natscli's error, which the runner records as refused.
func TestNatsBenchRefusal(t *testing.T) {
	cli := natsCLI(t)
	for _, name := range []string{"nb-core", "nb-js-pub"} {
		t.Run(name, func(t *testing.T) {
			s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1,
				JetStream: true, StoreDir: t.TempDir(), MaxPayload: 64 << 10, NoLog: true, NoSigs: true})
			if err != nil {
				t.Fatal(err)
			}
			s.Start()
			if !s.ReadyForConnections(10 * time.Second) {
				t.Fatal("nats-server not ready")
			}
			defer s.Shutdown()
			w, _ := New(name)
			defer w.Close()
			var done atomic.Int64
			e := &Env{URL: s.ClientURL(), Size: 128 << 10, Count: 3, Window: 1 << 20, Idle: 5 * time.Second, Done: &done,
				Bench: NatsBench{CLI: cli, Monitor: "http://" + s.MonitorAddr().String(), Dir: t.TempDir()}}
			if err := w.Prepare(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			_, err = w.Rep(context.Background(), e, 0)
			if !IsRefusal(err) {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
}

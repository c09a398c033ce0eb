package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// startCeiling runs the ceiling in process on a free port.
func startCeiling(t *testing.T) (string, *server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(options{Name: "ceiling-test", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, MaxPayload: 64 << 20})
	go s.serve(ln)
	t.Cleanup(s.shutdown)
	return fmt.Sprintf("nats://%s", ln.Addr()), s
}

type point struct {
	name string
	size int64
	n    int
}

// TestWorkloadsAgainstCeiling runs every workload the ceiling serves, as
// the runner does (fresh server, prepare, two repetitions), at a size that
// fits the read buffer and one that does not (cut-through for core, its own
// slice for stored messages); then a core message cut through over several
// reads and an object large enough for the ordered consumer's flow control.
func TestWorkloadsAgainstCeiling(t *testing.T) {
	var points []point
	for _, size := range []int64{units.KiB, units.MiB} {
		for _, name := range []string{"core", "js-pub", "js-fastpub", "js-fetch", "latency", "obj-put", "obj-get", "js-pubfetch"} {
			points = append(points, point{name, size, 6})
		}
	}
	points = append(points, point{"core", 5 * units.MiB, 3}, point{"obj-get", 3 * fcWindow, 1})
	for _, pt := range points {
		name, size, n := pt.name, pt.size, int64(pt.n)
		{
			t.Run(fmt.Sprintf("%s/%s", name, units.FormatSize(size)), func(t *testing.T) {
				w, err := workload.New(name)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				var done atomic.Int64
				url, srv := startCeiling(t)
				e := &workload.Env{URL: url, Size: size, Count: int(n), Window: 2 * size, Payload: workload.Payload(size, 1),
					Idle: 10 * time.Second, Done: &done, LatencyRate: 200}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := w.Prepare(ctx, e); err != nil {
					t.Fatal(err)
				}
				for rep := 0; rep < 2; rep++ {
					done.Store(0)
					s, err := w.Rep(ctx, e, rep)
					if err != nil {
						t.Fatalf("rep %d: %v", rep, err)
					}
					if s.Msgs != n || s.Bytes != n*size || s.Errors != 0 || s.Elapsed <= 0 {
						t.Fatalf("rep %d: %+v", rep, s)
					}
					if name == "latency" && int64(len(s.Latency)) != n {
						t.Fatalf("latency samples = %d", len(s.Latency))
					}
				}
				srv.js.mu.Lock()
				fcs := srv.js.nextFC
				srv.js.mu.Unlock()
				if name == "obj-get" && size > fcWindow && fcs < 2 {
					t.Errorf("%d flow-control requests for two gets of %s", fcs, units.FormatSize(size))
				}
			})
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		pat, subj string
		want      bool
	}{
		{"a.b", "a.b", true}, {"a.b", "a.c", false}, {"a.*", "a.b", true}, {"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true}, {"a.>", "a", false}, {"*", "a", true}, {"*", "a.b", false},
		{">", "a.b", true}, {"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false}, {"a.b.c", "a.b", false},
		{"_INBOX.x.*", "_INBOX.x.yz", true}, {"$O.B.C.>", "$O.B.C.nuid", true},
	} {
		if got := subjectMatches(c.pat, []byte(c.subj)); got != c.want {
			t.Errorf("subjectMatches(%q, %q) = %v", c.pat, c.subj, got)
		}
	}
	if isLiteral("a.*") || isLiteral("a.>") || !isLiteral("a.b*") {
		t.Error("isLiteral")
	}
}

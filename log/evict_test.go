package log

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
)

// newManualClock is the clock the log's tests move by hand: Move changes
// the time, Fire runs the timers then due.
func newManualClock() *clocktest.Manual { return clocktest.New(time.Unix(1_000_000, 0)) }

// liveSeqs lists the live sequences of l.
func liveSeqs(t testing.TB, l *Log) []uint64 {
	t.Helper()
	var out []uint64
	var sm StoredMsg
	for seq := uint64(1); ; seq++ {
		next, err := l.LoadNext(seq, "", &sm)
		if errors.Is(err, ErrNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("load next %d: %v", seq, err)
		}
		// Subjects "raw.*" carry payloads the test checks itself.
		if !strings.HasPrefix(sm.Subject, "raw.") {
			if err := verifyMsg(l, next, sm.Subject, []byte(sm.Subject), payloadFor(fmt.Sprint(sm.Subject, next), int(sm.Size))); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, next)
		seq = next
	}
}

// putMsg appends a message whose payload is derived from subject and seq.
func putMsg(t testing.TB, l *Log, subj string, size int) uint64 {
	t.Helper()
	next := l.State().LastSeq + 1
	seq, _, err := l.AppendMsg(subj, []byte(subj), payloadFor(fmt.Sprint(subj, next), size))
	if err != nil {
		t.Fatal(err)
	}
	if seq != next {
		t.Fatalf("seq %d, want %d", seq, next)
	}
	return seq
}

// waitEvictionsLogged waits until every eviction made so far is written and
// applied (synced with its batch). drain waits for a batch in progress; the
// loop covers the writer goroutine being between batches.
func waitEvictionsLogged(t testing.TB, l *Log) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.drain()
		l.w.Lock()
		l.mu.RLock()
		pending := l.mu.ev.pendingLocked() || len(l.mu.idx.removed) > 0
		l.mu.RUnlock()
		done := !pending && l.queueEmpty()
		l.w.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("evictions not logged in time")
		}
		runtime.Gosched()
	}
}

type evictCase struct {
	name  string
	cfg   Config
	write func(t *testing.T, l *Log, clk *clocktest.Manual)
}

var evictCases = []evictCase{
	{"max_msgs", Config{MaxMsgs: 5}, func(t *testing.T, l *Log, _ *clocktest.Manual) {
		for i := range 20 {
			putMsg(t, l, fmt.Sprint("s.", i%3), 100)
		}
	}},
	{"max_bytes", Config{MaxBytes: 5 * (3 + 3 + 100)}, func(t *testing.T, l *Log, _ *clocktest.Manual) {
		for i := range 20 {
			putMsg(t, l, fmt.Sprint("s.", i%3), 100)
		}
	}},
	{"max_msgs_per_subject", Config{MaxMsgsPerSubject: 1}, func(t *testing.T, l *Log, _ *clocktest.Manual) {
		for i := range 40 {
			putMsg(t, l, fmt.Sprint("kv.", i%4), 50+i)
		}
	}},
	{"max_age", Config{MaxAge: 5 * time.Second}, func(t *testing.T, l *Log, clk *clocktest.Manual) {
		for i := range 20 {
			putMsg(t, l, fmt.Sprint("s.", i%3), 100)
			clk.Move(time.Second)
		}
		// The expiry timer (not a commit) removes the rest.
		clk.Move(3 * time.Second)
		clk.Fire()
	}},
}

// TestEvictionsNotResurrected: after messages are evicted by a limit, no
// restart brings them back, whether the limit is then removed by
// UpdateConfig (before a crash) or by reopening with a higher one.
func TestEvictionsNotResurrected(t *testing.T) {
	for _, c := range evictCases {
		t.Run(c.name, func(t *testing.T) {
			for _, how := range []string{"crash_reopen_unlimited", "update_then_crash", "close_reopen_unlimited"} {
				t.Run(how, func(t *testing.T) {
					mfs := NewMemFS()
					clk := newManualClock()
					opts := Options{FS: mfs, Clock: clk, SegmentSize: 1 << 20}
					l := mustOpen(t, "/s", c.cfg, opts)
					c.write(t, l, clk)
					waitEvictionsLogged(t, l)
					want := liveSeqs(t, l)
					wantSt := l.State()
					if wantSt.Msgs == 0 || wantSt.Msgs == wantSt.LastSeq {
						t.Fatalf("the case evicts nothing or everything: %+v", wantSt)
					}
					var img *MemFS
					switch how {
					case "crash_reopen_unlimited":
						img = mfs.CrashClone(nil)
					case "update_then_crash":
						if err := l.UpdateConfig(Config{}); err != nil {
							t.Fatal(err)
						}
						if got := liveSeqs(t, l); !slices.Equal(got, want) {
							t.Fatalf("raising the limit changed the live set: %v, want %v", got, want)
						}
						img = mfs.CrashClone(nil)
					case "close_reopen_unlimited":
						if err := l.Close(); err != nil {
							t.Fatal(err)
						}
						img = mfs.CrashClone(nil)
					}
					l.Close()
					rl := mustOpen(t, "/s", Config{}, Options{FS: img, Clock: clk, SegmentSize: 1 << 20})
					defer rl.Close()
					if got := liveSeqs(t, rl); !slices.Equal(got, want) {
						t.Fatalf("recovered live %v, want %v", got, want)
					}
					st := rl.State()
					if st.FirstSeq != wantSt.FirstSeq || st.LastSeq != wantSt.LastSeq || st.Msgs != wantSt.Msgs ||
						st.Bytes != wantSt.Bytes || st.NumSubjects != wantSt.NumSubjects {
						t.Fatalf("recovered state %+v, want %+v", st, wantSt)
					}
				})
			}
		})
	}
}

// TestLoweredLimitAtOpenIsLogged: opening with a lower limit evicts, and a
// later Open with the old, higher limit keeps those messages evicted.
func TestLoweredLimitAtOpenIsLogged(t *testing.T) {
	mfs := NewMemFS()
	opts := Options{FS: mfs, SegmentSize: 1 << 20}
	l := mustOpen(t, "/s", Config{}, opts)
	for i := range 30 {
		putMsg(t, l, fmt.Sprint("kv.", i%5), 64)
	}
	l.Close()
	l = mustOpen(t, "/s", Config{MaxMsgsPerSubject: 2, MaxMsgs: 8}, opts)
	want := liveSeqs(t, l)
	if len(want) != 8 {
		t.Fatalf("live %v", want)
	}
	img := mfs.CrashClone(nil) // Open made its evictions durable
	l.Close()
	for _, fs := range []*MemFS{img, mfs} {
		rl := mustOpen(t, "/s", Config{}, Options{FS: fs, SegmentSize: 1 << 20})
		if got := liveSeqs(t, rl); !slices.Equal(got, want) {
			t.Fatalf("recovered live %v, want %v", got, want)
		}
		rl.Close()
	}
	// Reopening with the same limits writes no new eviction records.
	before := mfs.size(t, "/s")
	rl := mustOpen(t, "/s", Config{MaxMsgsPerSubject: 2, MaxMsgs: 8}, Options{FS: mfs, SegmentSize: 1 << 20})
	rl.Close()
	if after := mfs.size(t, "/s"); after != before {
		t.Fatalf("reopen with the same limits grew the log from %d to %d bytes", before, after)
	}
}

// size sums the sizes of the segment files under dir.
func (m *MemFS) size(t testing.TB, dir string) int64 {
	t.Helper()
	names, err := m.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, name := range names {
		f, err := m.OpenFile(dir+"/"+name, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		n += fi.Size()
		f.Close()
	}
	return n
}

// TestCrashDuringEvictions takes crash images (with a random part of the
// unsynced tail kept) of a KV-like stream with small segments while it
// evicts, each once the evictions so far are logged: reopened without
// limits, every image holds exactly the writer's live messages.
func TestCrashDuringEvictions(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			mfs := NewMemFS()
			cfg := Config{MaxMsgsPerSubject: 2, MaxMsgs: 25}
			opts := Options{FS: mfs, SegmentSize: 4 << 10}
			l := mustOpen(t, "/s", cfg, opts)
			defer l.Close()
			for i := range 12 {
				for range rng.IntN(20) + 1 {
					putMsg(t, l, fmt.Sprint("kv.", rng.IntN(10)), rng.IntN(600))
				}
				if i%3 == 2 {
					if _, err := l.Purge(PurgeRequest{Subject: fmt.Sprint("kv.", rng.IntN(10))}); err != nil {
						t.Fatal(err)
					}
				}
				waitEvictionsLogged(t, l)
				want := liveSeqs(t, l)
				img := mfs.CrashClone(func(_ string, n int64) int64 { return rng.Int64N(n + 1) })
				for _, reopen := range []Config{{}, cfg} {
					rl := mustOpen(t, "/s", reopen, Options{FS: img, SegmentSize: 4 << 10})
					if got := liveSeqs(t, rl); !slices.Equal(got, want) {
						t.Fatalf("image %d (reopened with %+v): live %v, want %v", i, reopen, got, want)
					}
					rl.Close()
				}
			}
		})
	}
}

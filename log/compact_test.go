package log

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// compactOpts: small segments and chunks, so a few hundred KiB make many
// segments and chunked messages.
// Compaction is explicit in these tests (no background runs).
func compactOpts(fs FS) Options {
	return Options{FS: fs, SegmentSize: 32 << 10, ChunkSize: 4096, CompactThreshold: -1}
}

// TestAutoCompact: by default, segment rolls compact in the
// background, so a KV stream whose first message never changes stays small.
func TestAutoCompact(t *testing.T) {
	mfs := NewMemFS()
	opts := Options{FS: mfs, SegmentSize: 32 << 10, ChunkSize: 4096}
	l := mustOpen(t, "/s", Config{MaxMsgsPerSubject: 1}, opts)
	kvWorkload(t, l, rand.New(rand.NewPCG(3, 4)), 600)
	want := snapshotLive(t, l)
	waitBackground(t, l)
	// About 1 MB was written (980 KB stay without compaction); how much
	// the background runs reclaim depends on where they found a commit in
	// flight, so the bound is loose.
	n := dirSize(t, mfs, "/s")
	t.Logf("on disk after background compaction: %d bytes", n)
	if n > 500<<10 {
		t.Fatalf("%d bytes on disk after background compaction", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rl := mustOpen(t, "/s", Config{}, opts)
	defer rl.Close()
	sameLive(t, "reopened", snapshotLive(t, rl), want)
	if st := rl.State(); len(st.Lost) != 0 {
		t.Fatalf("lost %v", st.Lost)
	}
}

// waitBackground waits until the background compaction and sidecar writer
// is idle.
func waitBackground(t testing.TB, l *Log) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.bg.Lock()
		busy := l.bg.compacting
		l.bg.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("background work still running")
		}
		runtime.Gosched()
	}
}

// kvWorkload writes one long-lived message, then updates of a few keys
// (MaxMsgsPerSubject 1 drops older versions), some large enough to be
// chunked, and deletes a few: the first segment stays pinned by the
// long-lived message, so only compaction can reclaim the rest.
func kvWorkload(t *testing.T, l *Log, rng *rand.Rand, n int) {
	t.Helper()
	if l.State().LastSeq == 0 {
		putMsg(t, l, "config", 300)
	}
	for range n {
		size := rng.IntN(1500)
		if rng.IntN(8) == 0 {
			size = 4096 + rng.IntN(9000) // chunked
		}
		seq := putMsg(t, l, fmt.Sprint("kv.", rng.IntN(6)), size)
		if rng.IntN(10) == 0 {
			if err := l.Delete(seq); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// snapshotLive loads every live message: seq -> payload.
func snapshotLive(t *testing.T, l *Log) map[uint64][]byte {
	t.Helper()
	out := map[uint64][]byte{}
	for _, seq := range liveSeqs(t, l) {
		var sm StoredMsg
		if err := l.LoadMsg(seq, &sm); err != nil {
			t.Fatal(err)
		}
		p, err := sm.ReadPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		out[seq] = p
	}
	return out
}

func sameLive(t *testing.T, what string, got, want map[uint64][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d live messages, want %d", what, len(got), len(want))
	}
	for seq, p := range want {
		if !bytes.Equal(got[seq], p) {
			t.Fatalf("%s: seq %d differs", what, seq)
		}
	}
}

func TestCompactReclaimsAndKeepsBytes(t *testing.T) {
	for _, k := range kinds[:2] { // the file store on the OS and on MemFS
		t.Run(k.name, func(t *testing.T) {
			var fs FS = OSFS{}
			if k.name == "memfs" {
				fs = NewMemFS()
			}
			rng := rand.New(rand.NewPCG(1, 2))
			cfg := Config{MaxMsgsPerSubject: 1}
			l, dir := k.open(t, "", cfg, compactOpts(fs))
			kvWorkload(t, l, rng, 300)
			waitEvictionsLogged(t, l) // no eviction records land while sizes are measured
			want := snapshotLive(t, l)
			wantSt := l.State()
			// Extents loaded before the compaction must stay readable.
			held := map[uint64]*StoredMsg{}
			for seq := range want {
				sm := &StoredMsg{}
				if err := l.LoadMsg(seq, sm); err != nil {
					t.Fatal(err)
				}
				held[seq] = sm
			}
			before := dirSize(t, fs, dir)
			st, err := l.Compact(0)
			if err != nil {
				t.Fatal(err)
			}
			after := dirSize(t, fs, dir)
			if st.Segments == 0 || st.Reclaimed <= 0 || before-after != st.Reclaimed || after > before/2 {
				t.Fatalf("compaction %+v: %d -> %d bytes", st, before, after)
			}
			sameLive(t, "after compaction", snapshotLive(t, l), want)
			for seq, sm := range held {
				p, err := sm.ReadPayload(nil)
				if err != nil || !bytes.Equal(p, want[seq]) {
					t.Fatalf("extent of seq %d loaded before compaction: %v", seq, err)
				}
			}
			if st := l.State(); st.FirstSeq != wantSt.FirstSeq || st.LastSeq != wantSt.LastSeq || st.Msgs != wantSt.Msgs || st.Bytes != wantSt.Bytes {
				t.Fatalf("state %+v, want %+v", st, wantSt)
			}
			// Nothing more to gain: a second run rewrites nothing.
			if st, err := l.Compact(0); err != nil || st.Segments != 0 {
				t.Fatalf("second compaction %+v %v", st, err)
			}
			// More writes, another compaction (skip records merge), reopen.
			kvWorkload(t, l, rng, 200)
			if _, err := l.Compact(0); err != nil {
				t.Fatal(err)
			}
			want = snapshotLive(t, l)
			wantSt = l.State()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, reopen := range []Config{cfg, {}} {
				rl := mustOpen(t, dir, reopen, compactOpts(fs))
				sameLive(t, "reopened", snapshotLive(t, rl), want)
				st := rl.State()
				if len(st.Lost) != 0 || st.FirstSeq != wantSt.FirstSeq || st.LastSeq != wantSt.LastSeq || st.Msgs != wantSt.Msgs {
					t.Fatalf("reopened state %+v, want %+v", st, wantSt)
				}
				// It takes writes and keeps them.
				seq := putMsg(t, rl, "after", 10)
				rl.Close()
				rl = mustOpen(t, dir, reopen, compactOpts(fs))
				if err := verifyMsg(rl, seq, "after", []byte("after"), payloadFor(fmt.Sprint("after", seq), 10)); err != nil {
					t.Fatal(err)
				}
				if err := rl.Delete(seq); err != nil {
					t.Fatal(err)
				}
				wantSt.LastSeq = seq
				rl.Close()
			}
		})
	}
}

// dirSize sums the sizes of the segment files in dir.
func dirSize(t testing.TB, fs FS, dir string) int64 {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, name := range names {
		if !strings.HasSuffix(name, segSuffix) {
			continue // index sidecars are counted apart
		}
		f, err := fs.OpenFile(dir+"/"+name, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
		f.Close()
	}
	return n
}

// TestCompactCrashPoints takes a crash image at every step of a compaction:
// each recovers to exactly the live messages, with nothing lost or
// duplicated and no temporary file left.
func TestCompactCrashPoints(t *testing.T) {
	steps := []string{"compact-written", "compact-synced", "compact-renamed"}
	for _, durableTemp := range []bool{false, true} {
		t.Run(fmt.Sprint("durable_temp=", durableTemp), func(t *testing.T) {
			mfs := NewMemFS()
			cfg := Config{MaxMsgsPerSubject: 1}
			l := mustOpen(t, "/s", cfg, compactOpts(mfs))
			defer l.Close()
			kvWorkload(t, l, rand.New(rand.NewPCG(5, 6)), 300)
			waitEvictionsLogged(t, l)
			want := snapshotLive(t, l)
			images := map[string][]*MemFS{}
			l.testHook = func(step string) {
				if durableTemp {
					mfs.SyncDir("/s")
				}
				images[step] = append(images[step], mfs.CrashClone(func(_ string, n int64) int64 { return n / 2 }))
			}
			st, err := l.Compact(0)
			if err != nil {
				t.Fatal(err)
			}
			if st.Segments < 2 {
				t.Fatalf("want several segments compacted, got %+v", st)
			}
			images["after"] = []*MemFS{mfs.CrashClone(nil)}
			for _, step := range append(steps, "after") {
				if len(images[step]) == 0 {
					t.Fatalf("no image at %s", step)
				}
				for i, img := range images[step] {
					rl := mustOpen(t, "/s", Config{}, compactOpts(img))
					sameLive(t, fmt.Sprint(step, " image ", i), snapshotLive(t, rl), want)
					if st := rl.State(); len(st.Lost) != 0 {
						t.Fatalf("%s image %d: lost %v", step, i, st.Lost)
					}
					rl.Close()
					names, _ := img.List("/s")
					for _, n := range names {
						if strings.HasSuffix(n, compactSuffix) {
							t.Fatalf("%s image %d: %s left behind", step, i, n)
						}
					}
				}
			}
		})
	}
}

// TestCompactSkipsPinned: a segment holding chunks of a message still
// being appended is not rewritten, and that message commits intact.
func TestCompactSkipsPinned(t *testing.T) {
	mfs := NewMemFS()
	l := mustOpen(t, "/s", Config{MaxMsgsPerSubject: 1}, compactOpts(mfs))
	defer l.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	kvWorkload(t, l, rng, 100)
	big := payloadFor("big", 40<<10)
	a, err := l.Append("raw.big", []byte("raw.big"), int64(len(big)))
	if err != nil {
		t.Fatal(err)
	}
	a.Write(big[:20<<10])
	kvWorkload(t, l, rng, 150) // rolls past the appender's segments
	segsBefore := l.State().Segments
	if _, err := l.Compact(0); err != nil {
		t.Fatal(err)
	}
	a.Write(big[20<<10:])
	seq, _, err := a.Commit()
	if err != nil {
		t.Fatal(err)
	}
	checkMsg(t, l, seq, "raw.big", []byte("raw.big"), big)
	kvWorkload(t, l, rng, 150)
	if st, err := l.Compact(0); err != nil || st.Segments == 0 {
		t.Fatalf("after commit: %+v %v (segments before %d)", st, err, segsBefore)
	}
	checkMsg(t, l, seq, "raw.big", []byte("raw.big"), big)
	want := snapshotLive(t, l)
	l.Close()
	rl := mustOpen(t, "/s", Config{}, compactOpts(mfs))
	defer rl.Close()
	sameLive(t, "reopened", snapshotLive(t, rl), want)
	if !slices.Contains(liveSeqs(t, rl), seq) {
		t.Fatal("big message lost")
	}
}

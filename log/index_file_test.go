package log

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// idxNames lists the index sidecars in dir.
func idxNames(t testing.TB, fs FS, dir string) []string {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if _, ok := isIdxFile(n); ok {
			out = append(out, n)
		}
	}
	return out
}

// indexedSegs counts the segments Open replayed from their sidecar.
func indexedSegs(l *Log) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, s := range l.mu.segs {
		if s.indexed.Load() {
			n++
		}
	}
	return n
}

// TestIndexSidecar: sealed segments get sidecars in the background; Open
// replays from them to the same state, and falls back to a scan when one is
// corrupt, stale or missing.
func TestIndexSidecar(t *testing.T) {
	mfs := NewMemFS()
	opts := Options{FS: mfs, SegmentSize: 32 << 10, ChunkSize: 4096, CompactThreshold: -1}
	l := mustOpen(t, "/s", Config{MaxMsgsPerSubject: 1}, opts)
	kvWorkload(t, l, rand.New(rand.NewPCG(11, 12)), 250)
	waitEvictionsLogged(t, l)
	want := snapshotLive(t, l)
	wantSt := l.State()
	waitBackground(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	idx := idxNames(t, mfs, "/s")
	names, _ := mfs.List("/s")
	if segs := len(names) - len(idx); len(idx) != segs-1 {
		t.Fatalf("%d sidecars for %d segments", len(idx), segs)
	}
	check := func(what string, wantIndexed int) {
		t.Helper()
		rl := mustOpen(t, "/s", Config{MaxMsgsPerSubject: 1}, opts)
		defer rl.Close()
		if got := indexedSegs(rl); got != wantIndexed {
			t.Fatalf("%s: %d segments replayed from sidecars, want %d", what, got, wantIndexed)
		}
		sameLive(t, what, snapshotLive(t, rl), want)
		st := rl.State()
		if st.FirstSeq != wantSt.FirstSeq || st.LastSeq != wantSt.LastSeq || st.Msgs != wantSt.Msgs ||
			st.Bytes != wantSt.Bytes || len(st.Lost) != 0 {
			t.Fatalf("%s: state %+v, want %+v", what, st, wantSt)
		}
	}
	check("sidecars", len(idx))
	// A flipped byte in one sidecar: that segment is scanned instead.
	mfs.Corrupt("/s/"+idx[2], 60)
	check("corrupt sidecar", len(idx)-1)
	// A missing sidecar: scanned.
	if err := mfs.Remove("/s/" + idx[3]); err != nil {
		t.Fatal(err)
	}
	check("missing sidecar", len(idx)-2)
}

// TestIndexSidecarPayloadStillChecked: with a sidecar, Open does not read
// payloads, but a corrupt payload is still never returned as data.
func TestIndexSidecarPayloadStillChecked(t *testing.T) {
	mfs := NewMemFS()
	opts := Options{FS: mfs, SegmentSize: 8 << 10, CompactThreshold: -1}
	l := mustOpen(t, "/s", Config{}, opts)
	for i := range 30 {
		putMsg(t, l, fmt.Sprint("s.", i), 900)
	}
	var sm StoredMsg
	if err := l.LoadMsg(1, &sm); err != nil {
		t.Fatal(err)
	}
	payloadOff := sm.Extents[0].Off
	waitBackground(t, l)
	l.Close()
	if len(idxNames(t, mfs, "/s")) == 0 {
		t.Fatal("no sidecars written")
	}
	mfs.Corrupt("/s/"+segName(1), payloadOff+5) // seq 1's payload, first segment
	opts.VerifyRate = -1                        // the read path's check, not the background pass's (verify_test.go)
	rl := mustOpen(t, "/s", Config{}, opts)
	defer rl.Close()
	if indexedSegs(rl) == 0 {
		t.Fatal("no sidecar used")
	}
	if err := rl.LoadMsg(1, &sm); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.ReadPayload(nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt payload read: %v", err)
	}
	if st := rl.State(); st.Msgs != 30 || len(st.Lost) != 0 {
		t.Fatalf("state %+v", st)
	}
}

// BenchmarkOpen measures Open of a log of N full segments of 4 KiB
// messages, replayed from index sidecars or by scanning every segment.
func BenchmarkOpen(b *testing.B) {
	for _, segs := range []int{8, 32} {
		for _, sidecar := range []bool{true, false} {
			b.Run(fmt.Sprintf("segments=%d/sidecar=%v", segs, sidecar), func(b *testing.B) {
				dir := filepath.Join(b.TempDir(), "s")
				opts := Options{SegmentSize: 1 << 20, CompactThreshold: -1, Sync: SyncInterval}
				l := mustOpen(b, dir, Config{}, opts)
				p := make([]byte, 4<<10)
				for l.State().Segments <= segs {
					if _, _, err := l.AppendMsg("bench.open", nil, p); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				var osfs OSFS
				if !sidecar {
					for _, n := range idxNames(b, osfs, dir) {
						if err := osfs.Remove(filepath.Join(dir, n)); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.SetBytes(dirSize(b, osfs, dir))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					rl, err := Open(dir, Config{}, opts)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					rl.Close()
					b.StartTimer()
				}
			})
		}
	}
}

// readCountingFile counts the bytes read through it.
type readCountingFile struct {
	File
	read int64
}

func (f *readCountingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.read += int64(n)
	return n, err
}

// TestIndexSidecarSkipsPayloads: building the sidecar of a segment of large
// (chunked) messages reads the record headers and metadata, not the
// payloads, and the log reopened from those sidecars reads every message
// back intact.
func TestIndexSidecarSkipsPayloads(t *testing.T) {
	mfs := NewMemFS()
	opts := Options{FS: mfs, SegmentSize: 1 << 20, ChunkSize: 128 << 10, CompactThreshold: -1}
	l := mustOpen(t, "/s", Config{}, opts)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 6 {
		p := make([]byte, 600<<10)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		a, err := l.Append(fmt.Sprint("raw.big.", i), []byte("NATS/1.0\r\nk: v\r\n\r\n"), int64(len(p)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write(p); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	waitBackground(t, l)
	want := snapshotLive(t, l)

	l.mu.RLock()
	s := l.mu.segs[0]
	l.mu.RUnlock()
	fi, err := s.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	cf := &readCountingFile{File: s.f}
	if err := l.buildIndexFile(s, cf, fi.Size()); err != nil {
		t.Fatal(err)
	}
	if cf.read*8 > fi.Size() {
		t.Fatalf("sidecar build read %d bytes of a %d-byte segment", cf.read, fi.Size())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rl := mustOpen(t, "/s", Config{}, opts)
	defer rl.Close()
	if indexedSegs(rl) == 0 {
		t.Fatal("no segment replayed from a sidecar")
	}
	sameLive(t, "reopened", snapshotLive(t, rl), want)
}

package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// recovered loads every live message of l, keyed by subject.
func recovered(t testing.TB, l *Log) map[string]StoredMsg {
	t.Helper()
	out := map[string]StoredMsg{}
	st := l.State()
	for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
		var sm StoredMsg
		err := l.LoadMsg(seq, &sm)
		if errors.Is(err, ErrDeleted) {
			continue
		}
		if err != nil {
			t.Fatalf("load %d: %v", seq, err)
		}
		p, err := sm.ReadPayload(nil)
		if err != nil {
			t.Fatalf("read %d: %v", seq, err)
		}
		if !bytes.Equal(p, payloadFor(sm.Subject, int(sm.Size))) || string(sm.Hdr) != sm.Subject {
			t.Fatalf("seq %d %q: recovered bytes are not what was written", seq, sm.Subject)
		}
		out[sm.Subject] = sm
	}
	return out
}

// TestCrashKeepsCommitted runs concurrent writers (some aborting halfway)
// and takes crash images at random moments: every message whose Commit had
// returned before the image must be there byte for byte, and no aborted
// message may appear.
func TestCrashKeepsCommitted(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			mfs := NewMemFS()
			opts := Options{FS: mfs, SegmentSize: 32 << 10, ChunkSize: 4096}
			l := mustOpen(t, "/s", Config{}, opts)
			var mu sync.Mutex
			committed := map[string]int{}
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(seed, uint64(w)))
					for i := range 25 {
						size := r.IntN(14000)
						abort := r.IntN(5) == 0
						subj := fmt.Sprintf("ok.%d.%d", w, i)
						if abort {
							subj = fmt.Sprintf("abort.%d.%d", w, i)
						}
						p := payloadFor(subj, size)
						a, err := l.Append(subj, []byte(subj), int64(size))
						if err != nil {
							t.Error(err)
							return
						}
						a.Write(p[:size/2])
						if abort {
							a.Abort()
							continue
						}
						a.Write(p[size/2:])
						if _, _, err := a.Commit(); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						committed[subj] = size
						mu.Unlock()
					}
				}()
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			type image struct {
				fs   *MemFS
				must map[string]int
			}
			var images []image
			for range 6 {
				mu.Lock()
				must := make(map[string]int, len(committed))
				for k, v := range committed {
					must[k] = v
				}
				mu.Unlock()
				images = append(images, image{mfs.CrashClone(func(_ string, n int64) int64 { return rng.Int64N(n + 1) }), must})
				for range rng.IntN(3) + 1 {
					select { // let the writers run a little between images
					case <-l.Changed():
					case <-finished:
					}
				}
			}
			wg.Wait()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			images = append(images, image{mfs.CrashClone(nil), committed})
			for i, im := range images {
				rl := mustOpen(t, "/s", Config{}, Options{FS: im.fs, SegmentSize: 32 << 10, ChunkSize: 4096})
				got := recovered(t, rl)
				for subj, size := range im.must {
					sm, ok := got[subj]
					if !ok || sm.Size != int64(size) {
						t.Fatalf("image %d: committed %s lost", i, subj)
					}
				}
				for subj := range got {
					if subj[:5] == "abort" {
						t.Fatalf("image %d: aborted %s appeared", i, subj)
					}
				}
				if st := rl.State(); len(st.Lost) != 0 {
					t.Fatalf("image %d: a crash is not corruption, lost %v", i, st.Lost)
				}
				// The recovered log takes writes and survives another reopen.
				if _, _, err := rl.AppendMsg("after", []byte("after"), payloadFor("after", 10)); err != nil {
					t.Fatal(err)
				}
				rl.Close()
				rl = mustOpen(t, "/s", Config{}, Options{FS: im.fs, SegmentSize: 32 << 10, ChunkSize: 4096})
				if _, ok := recovered(t, rl)["after"]; !ok {
					t.Fatalf("image %d: write after recovery lost", i)
				}
				rl.Close()
			}
		})
	}
}

// TestTornTailAtSampledBytes cuts the unsynced tail at sampled byte counts:
// recovery must give back a prefix of what was written, intact, and report
// nothing lost.
func TestTornTailAtSampledBytes(t *testing.T) {
	mfs := NewMemFS()
	// SyncInterval with the flusher far away: only rolls and Close sync.
	opts := Options{FS: mfs, SegmentSize: 1 << 20, ChunkSize: 4096, Sync: SyncInterval, SyncInterval: 1 << 62}
	l := mustOpen(t, "/s", Config{}, opts)
	var order []string
	for i := range 12 {
		subj := fmt.Sprintf("m.%d", i)
		size := []int{0, 10, 3000, 9000, 20000}[i%5]
		if _, err := appendPieces(l, subj, []byte(subj), payloadFor(subj, size), 2500); err != nil {
			t.Fatal(err)
		}
		order = append(order, subj)
	}
	l.Delete(3)
	var total int64
	mfs.CrashClone(func(_ string, n int64) int64 { total = n; return 0 })
	rng := rand.New(rand.NewPCG(7, 7))
	points := []int64{0, 1, total - 1, total}
	for range 60 {
		points = append(points, rng.Int64N(total+1))
	}
	for _, k := range points {
		img := mfs.CrashClone(func(string, int64) int64 { return k })
		rl := mustOpen(t, "/s", Config{}, Options{FS: img, ChunkSize: 4096})
		got := recovered(t, rl)
		st := rl.State()
		if len(st.Lost) != 0 {
			t.Fatalf("cut at %d: lost %v", k, st.Lost)
		}
		// A prefix: every message up to LastSeq is there (but the deleted one).
		for i := 0; i < int(st.LastSeq); i++ {
			if _, ok := got[order[i]]; !ok && i != 2 {
				t.Fatalf("cut at %d: %s missing below last seq %d", k, order[i], st.LastSeq)
			}
		}
		if k == total && (st.LastSeq != 12 || len(got) != 11) {
			t.Fatalf("full image: %+v", st)
		}
		rl.Close()
	}
}

// TestCorruptRecordsReported flips bytes inside committed records: recovery
// reports their sequences and never serves them; the rest is intact.
func TestCorruptRecordsReported(t *testing.T) {
	mfs := NewMemFS()
	opts := Options{FS: mfs, ChunkSize: 4096}
	l := mustOpen(t, "/s", Config{}, opts)
	sizes := []int{100, 100, 100, 100, 20000, 100, 100}
	for i, n := range sizes {
		subj := fmt.Sprintf("c.%d", i)
		if _, err := appendPieces(l, subj, []byte(subj), payloadFor(subj, n), 5000); err != nil {
			t.Fatal(err)
		}
	}
	var sm StoredMsg
	l.LoadMsg(2, &sm)
	payloadOff := sm.Extents[0].Off
	l.LoadMsg(5, &sm)
	chunkOff := sm.Extents[2].Off + 10
	l.mu.RLock()
	seg := l.mu.idx.get(4).seg.path
	hdrOff := l.mu.idx.get(4).off + 9 // the length field of seq 4's record
	l.mu.RUnlock()
	l.Close()
	mfs.Corrupt(seg, payloadOff)
	mfs.Corrupt(seg, chunkOff)
	mfs.Corrupt(seg, hdrOff)
	rl := mustOpen(t, "/s", Config{}, opts)
	defer rl.Close()
	st := rl.State()
	if fmt.Sprint(st.Lost) != "[2 4 5]" || st.Msgs != 4 || st.LastSeq != 7 {
		t.Fatalf("state %+v", st)
	}
	for _, seq := range st.Lost {
		if err := rl.LoadMsg(seq, &sm); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("seq %d: %v", seq, err)
		}
	}
	for _, seq := range []uint64{1, 3, 6, 7} {
		subj := fmt.Sprintf("c.%d", seq-1)
		checkMsg(t, rl, seq, subj, []byte(subj), payloadFor(subj, sizes[seq-1]))
	}
	if seq, _, err := rl.AppendMsg("next", nil, nil); err != nil || seq != 8 {
		t.Fatalf("append after corruption: %d %v", seq, err)
	}
}

// faultFS injects I/O errors into an FS: writes fail with ENOSPC once a
// byte budget is spent (the part that fits is written), syncs fail with a
// chosen error.
type faultFS struct {
	FS
	mu struct {
		sync.Mutex
		budget  int64 // bytes writable before ENOSPC; <0 = unlimited
		syncErr error
	}
}

func newFaultFS(inner FS) *faultFS {
	f := &faultFS{FS: inner}
	f.mu.budget = -1
	return f
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	b := f.fs.mu.budget
	if b >= 0 {
		f.fs.mu.budget = max(b-int64(len(p)), 0)
	}
	f.fs.mu.Unlock()
	if b >= 0 && int64(len(p)) > b {
		n, _ := f.File.WriteAt(p[:b], off)
		return n, &os.PathError{Op: "write", Path: "seg", Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	err := f.fs.mu.syncErr
	f.fs.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Sync()
}

func TestDiskFullKeepsCommitted(t *testing.T) {
	mfs := NewMemFS()
	ffs := newFaultFS(mfs)
	clk := newManualClock()
	opts := Options{FS: ffs, ChunkSize: 4096, Clock: clk}
	l := mustOpen(t, "/s", Config{}, opts)
	for i := range 5 {
		subj := fmt.Sprint("d.", i)
		if _, err := appendPieces(l, subj, []byte(subj), payloadFor(subj, 6000), 6000); err != nil {
			t.Fatal(err)
		}
	}
	ffs.mu.Lock()
	ffs.mu.budget = 5000
	ffs.mu.Unlock()
	_, err := appendPieces(l, "full", []byte("full"), payloadFor("full", 20000), 20000)
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("disk full: %v", err)
	}
	ffs.mu.Lock()
	ffs.mu.budget = -1
	ffs.mu.Unlock()
	if _, _, err := l.AppendMsg("later", []byte("later"), payloadFor("later", 100)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writes are refused during the retry backoff: %v", err)
	}
	got := recovered(t, l)
	if len(got) != 5 {
		t.Fatalf("committed readable after failure: %d", len(got))
	}
	clk.Move(maxRetryBackoff)
	if seq, _, err := l.AppendMsg("later", []byte("later"), payloadFor("later", 100)); err != nil || seq != 6 {
		t.Fatalf("writes resume after the backoff: %d, %v", seq, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close after a recovered failure: %v", err)
	}
	for _, keep := range []bool{false, true} {
		img := mfs.CrashClone(func(_ string, n int64) int64 {
			if keep {
				return n
			}
			return 0
		})
		rl := mustOpen(t, "/s", Config{}, Options{FS: img, ChunkSize: 4096})
		got := recovered(t, rl)
		if len(got) != 6 || len(rl.State().Lost) != 0 {
			t.Fatalf("keep=%v: recovered %d, state %+v", keep, len(got), rl.State())
		}
		rl.Close()
	}
}

// TestSyncErrorRollsBack: a commit whose fsync fails is answered with the
// error and its record is cut, even though its bytes reached the file; the
// next commit, after the backoff, reuses its sequence.
func TestSyncErrorRollsBack(t *testing.T) {
	mfs := NewMemFS()
	ffs := newFaultFS(mfs)
	clk := newManualClock()
	l := mustOpen(t, "/s", Config{}, Options{FS: ffs, Clock: clk})
	if _, _, err := l.AppendMsg("a", []byte("a"), payloadFor("a", 10)); err != nil {
		t.Fatal(err)
	}
	ffs.mu.Lock()
	ffs.mu.syncErr = syscall.EIO
	ffs.mu.Unlock()
	if _, _, err := l.AppendMsg("b", []byte("b"), payloadFor("b", 10)); !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrIO) {
		t.Fatalf("commit over failing sync: %v", err)
	}
	var sm StoredMsg
	if err := l.LoadMsg(2, &sm); err == nil {
		t.Fatalf("a commit that failed must not be visible")
	}
	if err := l.Delete(1); !errors.Is(err, syscall.EIO) {
		t.Fatalf("refused during the backoff: %v", err)
	}
	ffs.mu.Lock()
	ffs.mu.syncErr = nil
	ffs.mu.Unlock()
	clk.Move(maxRetryBackoff)
	if seq, _, err := l.AppendMsg("c", []byte("c"), payloadFor("c", 10)); err != nil || seq != 2 {
		t.Fatalf("after the backoff: %d, %v", seq, err)
	}
	l.Close()
	// Even with every unsynced byte kept, "b" does not come back.
	rl := mustOpen(t, "/s", Config{}, Options{FS: mfs.CrashClone(func(_ string, n int64) int64 { return n })})
	defer rl.Close()
	got := recovered(t, rl)
	if len(got) != 2 || got["c"].Seq != 2 {
		t.Fatalf("recovered %v", got)
	}
}

// TestLargeAppendHeapBounded appends a 64 MiB message to the OS file
// system in 64 KiB pieces: the heap allocated must stay far below the
// payload (one chunk buffer plus the chunk list).
func TestLargeAppendHeapBounded(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{}, Options{ChunkSize: 1 << 20})
	defer l.Close()
	piece := payloadFor("p", 64<<10)
	const size = 64 << 20
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	a, err := l.Append("big", nil, size)
	if err != nil {
		t.Fatal(err)
	}
	for range size / len(piece) {
		if _, err := a.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 4<<20 {
		t.Fatalf("appending 64 MiB allocated %d bytes", got)
	}
}

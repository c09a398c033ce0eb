package log

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const repChunk = 4096

func openReplica(t testing.TB, dir string) *Log {
	t.Helper()
	return mustOpen(t, dir, Config{}, Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10})
}

// applyChunks applies payload's chunks for message id (all of them, or the
// ones whose index is in only) and returns the commit that covers them.
func applyChunks(t testing.TB, l *Log, id uint64, subj string, payload []byte, only ...int) *Commit {
	t.Helper()
	c := &Commit{ID: id, Subject: subj, Size: int64(len(payload)), Time: 1000}
	for i := 0; i == 0 || i*repChunk < len(payload); i++ {
		data := payload[i*repChunk : min((i+1)*repChunk, len(payload))]
		crc := crc32c(data)
		c.Chunks++
		c.Digest = ChunkDigest(c.Digest, crc)
		if len(only) > 0 && !contains(only, i) {
			continue
		}
		if err := l.ApplyChunk(id, uint32(i), data, crc); err != nil {
			t.Fatalf("chunk %d of %d: %v", i, id, err)
		}
	}
	return c
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func applyMsg(t testing.TB, l *Log, id uint64, subj string, payload []byte) uint64 {
	t.Helper()
	seq, _, err := l.ApplyCommit(applyChunks(t, l, id, subj, payload))
	if err != nil {
		t.Fatalf("commit %d: %v", id, err)
	}
	return seq
}

func TestReplicaApplyAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := openReplica(t, dir)
	small, large, empty := payloadFor("s", 100), payloadFor("l", 5*repChunk+17), []byte{}
	if s := applyMsg(t, l, 11, "a.small", small); s != 1 {
		t.Fatalf("seq %d", s)
	}
	if s := applyMsg(t, l, 12, "a.large", large); s != 2 {
		t.Fatalf("seq %d", s)
	}
	if st := l.State(); st.Msgs != 0 {
		t.Fatalf("visible before ApplySync: %+v", st)
	}
	if err := l.ApplySync(7); err != nil {
		t.Fatal(err)
	}
	checkMsg(t, l, 1, "a.small", nil, small)
	checkMsg(t, l, 2, "a.large", nil, large)
	applyMsg(t, l, 13, "a.empty", empty)
	// A half-applied message stays pending across the reopen.
	half := payloadFor("h", 3*repChunk)
	c := applyChunks(t, l, 14, "a.half", half, 0, 2)
	if err := l.ApplySync(9); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openReplica(t, dir)
	defer l.Close()
	if got := l.Applied(); got != 9 {
		t.Fatalf("applied %d, want 9", got)
	}
	if n := l.PendingChunks(); n != 1 {
		t.Fatalf("pending %d", n)
	}
	checkMsg(t, l, 3, "a.empty", nil, empty)
	if err := l.ApplyChunk(14, 1, half[repChunk:2*repChunk], crc32c(half[repChunk:2*repChunk])); err != nil {
		t.Fatal(err)
	}
	c.Time = 5 // earlier than the last commit: raised
	seq, ts, err := l.ApplyCommit(c)
	if err != nil || seq != 4 || ts != 1000 {
		t.Fatalf("commit: %d %d %v", seq, ts, err)
	}
	if err := l.ApplySync(10); err != nil {
		t.Fatal(err)
	}
	checkMsg(t, l, 4, "a.half", nil, half)
}

func TestReplicaCutsAfterLastMarker(t *testing.T) {
	dir := t.TempDir()
	l := openReplica(t, dir)
	applyMsg(t, l, 1, "x", payloadFor("1", 10))
	if err := l.ApplySync(3); err != nil {
		t.Fatal(err)
	}
	// A batch whose marker never gets written, spanning a segment roll.
	for i := uint64(2); i < 40; i++ {
		applyMsg(t, l, i, "x", payloadFor("big", 3*repChunk))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openReplica(t, dir)
	st := l.State()
	if l.Applied() != 3 || st.LastSeq != 1 || st.Msgs != 1 {
		t.Fatalf("applied %d, state %+v", l.Applied(), st)
	}
	// Re-applying the cut entries gives the same sequences.
	if s := applyMsg(t, l, 2, "x", payloadFor("big", 3*repChunk)); s != 2 {
		t.Fatalf("seq %d", s)
	}
	if err := l.ApplySync(4); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// A replica log with no marker at all holds nothing.
	dir2 := t.TempDir()
	l = openReplica(t, dir2)
	applyMsg(t, l, 1, "x", payloadFor("1", 10))
	l.Close()
	l = openReplica(t, dir2)
	defer l.Close()
	if st := l.State(); l.Applied() != 0 || st.LastSeq != 0 {
		t.Fatalf("applied %d, state %+v", l.Applied(), st)
	}
}

func TestReplicaDedupAndChecks(t *testing.T) {
	dir := t.TempDir()
	l := openReplica(t, dir)
	p := payloadFor("d", 2*repChunk+1)
	c := applyChunks(t, l, 77, "d", p)
	applyChunks(t, l, 77, "d", p, 1) // duplicated chunk proposal: ignored
	seq, _, err := l.ApplyCommit(c)
	if err != nil || seq != 1 {
		t.Fatalf("%d %v", seq, err)
	}
	if s, _, err := l.ApplyCommit(c); !errors.Is(err, ErrDuplicate) || s != 1 {
		t.Fatalf("duplicate in batch: %d %v", s, err)
	}
	applyChunks(t, l, 77, "d", p, 0) // a chunk after the commit: ignored
	if err := l.ApplySync(1); err != nil {
		t.Fatal(err)
	}
	if n := l.PendingChunks(); n != 0 {
		t.Fatalf("pending %d", n)
	}
	l.Close()
	l = openReplica(t, dir)
	defer l.Close()
	if s, _, err := l.ApplyCommit(c); !errors.Is(err, ErrDuplicate) || s != 1 {
		t.Fatalf("duplicate after reopen: %d %v", s, err)
	}
	// Missing chunk, wrong digest, unknown id.
	c2 := applyChunks(t, l, 78, "d", p, 0, 2)
	if _, _, err := l.ApplyCommit(c2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("missing chunk: %v", err)
	}
	if _, _, err := l.ApplyCommit(c2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped: %v", err)
	}
	c3 := applyChunks(t, l, 79, "d", p)
	c3.Digest++
	if _, _, err := l.ApplyCommit(c3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("digest: %v", err)
	}
	if s := applyMsg(t, l, 81, "d", p); s != 2 {
		t.Fatalf("after refusals: %d", s)
	}
	if err := l.ApplyChunk(82, 0, p[:10], 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad crc: %v", err)
	}
	c6 := applyChunks(t, l, 83, "d", p)
	if !l.ApplyAbort(83) || l.ApplyAbort(83) {
		t.Fatal("abort")
	}
	if _, _, err := l.ApplyCommit(c6); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted: %v", err)
	}
	if err := l.ApplyDelete(1); err != nil {
		t.Fatal(err)
	}
	if n, err := l.ApplyPurge(PurgeRequest{}); err != nil || n != 1 {
		t.Fatalf("purge %d %v", n, err)
	}
	if err := l.ApplySync(9); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Msgs != 0 || st.LastSeq != 2 {
		t.Fatalf("%+v", st)
	}
}

func TestReplicaSnapshotInstall(t *testing.T) {
	dir := t.TempDir()
	l := openReplica(t, dir)
	defer l.Close()
	var want [][]byte
	for i := range 30 {
		p := payloadFor(string(rune('a'+i)), i*1000)
		want = append(want, p)
		applyMsg(t, l, uint64(100+i), "s", p)
	}
	half := payloadFor("half", 2*repChunk)
	c := applyChunks(t, l, 999, "s.half", half, 0)
	if err := l.ApplySync(50); err != nil {
		t.Fatal(err)
	}
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot are not in it.
	applyMsg(t, l, 500, "s", payloadFor("later", 10))
	if err := l.ApplySync(51); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	for _, f := range snap.Files {
		if !IsSegmentName(f.Name) {
			t.Fatalf("name %q", f.Name)
		}
		out, err := os.Create(filepath.Join(dst, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := out.ReadFrom(f.Reader()); err != nil || n != f.Size {
			t.Fatalf("copy %s: %d %v", f.Name, n, err)
		}
		out.Close()
	}
	if snap.Applied != 50 || len(snap.Files) < 2 {
		t.Fatalf("snapshot %d files, applied %d", len(snap.Files), snap.Applied)
	}
	snap.Close()
	r := openReplica(t, dst)
	defer r.Close()
	if r.Applied() != 50 || r.State().LastSeq != 30 {
		t.Fatalf("installed: applied %d, %+v", r.Applied(), r.State())
	}
	for i, p := range want {
		checkMsg(t, r, uint64(i+1), "s", nil, p)
	}
	if err := r.ApplyChunk(999, 1, half[repChunk:], crc32c(half[repChunk:])); err != nil {
		t.Fatal(err)
	}
	if s, _, err := r.ApplyCommit(c); err != nil || s != 31 {
		t.Fatalf("pending after install: %d %v", s, err)
	}
}

func TestReplicaNotReplica(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{}, Options{})
	defer l.Close()
	if err := l.ApplyChunk(1, 0, nil, 0); !errors.Is(err, ErrNotReplica) {
		t.Fatal(err)
	}
	if err := l.ApplySync(1); !errors.Is(err, ErrNotReplica) {
		t.Fatal(err)
	}
}

func TestReplicaApplyAllocs(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{}, Options{Replica: true, ChunkSize: repChunk, Sync: SyncInterval})
	defer l.Close()
	data := payloadFor("x", 1024)
	crc := crc32c(data)
	c := &Commit{Subject: "allocs", Size: int64(len(data)), Chunks: 1, Digest: ChunkDigest(0, crc)}
	id := uint64(0)
	run := func() {
		id++
		c.ID = id
		if err := l.ApplyChunk(id, 0, data, crc); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.ApplyCommit(c); err != nil {
			t.Fatal(err)
		}
		if err := l.ApplySync(id); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 * DedupWindow {
		run() // warm the maps and index to steady state
	}
	// Only amortized growth of the dedup map and the index remains.
	n := testing.AllocsPerRun(200, run)
	t.Logf("%.2f allocs per replicated message", n)
	if n > 3 {
		t.Fatalf("%.1f allocs per message", n)
	}
}

func BenchmarkReplicaApply(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"size=1KiB", 1 << 10}, {"size=1MiB", 1 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), Config{MaxMsgs: 64}, Options{Replica: true, ChunkSize: 1 << 20})
			defer l.Close()
			data := payloadFor("x", size.n)
			crc := crc32c(data)
			c := &Commit{Subject: "bench", Size: int64(len(data)), Chunks: 1, Digest: ChunkDigest(0, crc)}
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			for i := range b.N {
				c.ID = uint64(i + 1)
				if err := l.ApplyChunk(c.ID, 0, data, crc); err != nil {
					b.Fatal(err)
				}
				if _, _, err := l.ApplyCommit(c); err != nil {
					b.Fatal(err)
				}
				if err := l.ApplySync(c.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package log

import (
	"errors"
	"fmt"
	"testing"
)

// ApplyInline stores what ApplyChunk + ApplyCommit store, across segment
// rolls and a reopen; a duplicate answers the original sequence; a failed
// check stores nothing and takes no sequence.
func TestReplicaApplyInline(t *testing.T) {
	dir := t.TempDir()
	open := func() *Log {
		return mustOpen(t, dir, Config{}, Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10, Checker: &testChecker{}})
	}
	l := open()
	inline := func(id uint64, subj string, payload []byte, lastSeq uint64, check bool) (uint64, error) {
		crc := crc32c(payload)
		c := &Commit{ID: id, Subject: subj, Size: int64(len(payload)), Time: 1000, Chunks: 1,
			Digest: ChunkDigest(0, crc)}
		if check {
			c.Hdr = []byte(fmt.Sprint("last=", lastSeq))
		}
		seq, _, err := l.ApplyInline(c, payload, crc)
		return seq, err
	}
	want := map[uint64][]byte{}
	// 60 messages of 3000 bytes pass the 64 KiB segment size a few times.
	for i := range 60 {
		p := payloadFor(fmt.Sprint("i", i), 3000)
		id := uint64(100 + i)
		var seq uint64
		var err error
		if i%5 == 4 {
			seq = applyMsg(t, l, id, fmt.Sprint("s.", i), p) // the two-step path between
		} else if seq, err = inline(id, fmt.Sprint("s.", i), p, 0, false); err != nil {
			t.Fatalf("inline %d: %v", i, err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("message %d stored as %d", i, seq)
		}
		want[seq] = p
	}
	if seq, err := inline(105, "s.5", want[6], 0, false); !errors.Is(err, ErrDuplicate) || seq != 6 {
		t.Fatalf("duplicate: seq %d, %v", seq, err)
	}
	var ce *CheckError
	if _, err := inline(999, "s.x", []byte("no"), 7, true); !errors.As(err, &ce) || ce.Seq != 60 {
		t.Fatalf("expected last seq: %v", err)
	}
	if seq, err := inline(1000, "s.60", want[1], 60, true); err != nil || seq != 61 {
		t.Fatalf("after a failed check: seq %d, %v", seq, err)
	}
	want[61] = want[1]
	if err := l.ApplySync(5); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log) {
		t.Helper()
		for seq, p := range want {
			subj := fmt.Sprint("s.", seq-1)
			var hdr []byte
			if seq == 61 {
				hdr = []byte("last=60")
			}
			checkMsg(t, l, seq, subj, hdr, p)
		}
		if st := l.State(); st.Msgs != 61 || st.LastSeq != 61 {
			t.Fatalf("state %+v", st)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openReplica(t, dir)
	defer l.Close()
	if l.Applied() != 5 || l.PendingChunks() != 0 {
		t.Fatalf("after reopen: applied %d, pending %d", l.Applied(), l.PendingChunks())
	}
	check(l)
}

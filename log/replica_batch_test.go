package log

import (
	"errors"
	"testing"
)

// batchOf returns a batch of a chunked message (its chunks applied) and
// two inline ones (at an entry the log does not hold: copied), ids from
// id, with hdrs as their header blocks.
func batchOf(t *testing.T, l *Log, id uint64, hdrs ...string) []BatchMsg {
	t.Helper()
	big := applyChunks(t, l, id, "b.big", payloadFor("big", 3*repChunk+5))
	big.Hdr = []byte(hdrs[0])
	msgs := []BatchMsg{{C: *big}}
	for i, h := range hdrs[1:] {
		data := payloadFor("small", 10+i)
		crc := crc32c(data)
		msgs = append(msgs, BatchMsg{C: Commit{ID: id + 1 + uint64(i), Subject: "b.small", Hdr: []byte(h), Size: int64(len(data)),
			Chunks: 1, Digest: ChunkDigest(0, crc), Time: 2000}, Inline: true, Data: data, CRC: crc, At: EntryRef{Index: 999}})
	}
	return msgs
}

// ApplyBatch stores a batch as consecutive sequences with one timestamp,
// visible with the marker; the same batch again is a duplicate (nothing
// written); a batch the Checker refuses at any message leaves nothing
// (its chunks dropped, no sequence used); a batch whose marker was lost
// (a crash inside the apply) is gone at reopen and is applied again with
// the same sequences.
func TestReplicaApplyBatch(t *testing.T) {
	dir := t.TempDir()
	ck := &testChecker{}
	open := func() *Log {
		return mustOpen(t, dir, Config{}, Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10, Checker: ck})
	}
	l := open()
	msgs := batchOf(t, l, 10, "a", "b", "c")
	first, last, ts, err := l.ApplyBatch(msgs)
	if err != nil || first != 1 || last != 3 || ts != 1000 {
		t.Fatalf("batch: %d..%d at %d: %v", first, last, ts, err)
	}
	if err := l.ApplySync(5); err != nil {
		t.Fatal(err)
	}
	checkMsg(t, l, 1, "b.big", []byte("a"), payloadFor("big", 3*repChunk+5))
	checkMsg(t, l, 3, "b.small", []byte("c"), payloadFor("small", 11))
	if f, la, _, err := l.ApplyBatch(msgs); !errors.Is(err, ErrDuplicate) || f != 1 || la != 3 {
		t.Fatalf("again: %d..%d %v", f, la, err)
	}

	// Refused at its last message: nothing of it.
	bad := batchOf(t, l, 20, "x", "y", "last=0")
	var br *BatchRefusal
	if _, _, _, err := l.ApplyBatch(bad); !errors.As(err, &br) || br.Index != 2 {
		t.Fatalf("refused batch: %v", err)
	}
	if n := l.PendingChunks(); n != 0 {
		t.Fatalf("pending after a refusal: %d", n)
	}
	if err := l.ApplySync(6); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Msgs != 3 || st.LastSeq != 3 {
		t.Fatalf("after the refusal: %+v", st)
	}

	// A batch applied, its marker lost: nothing of it after the reopen.
	cut := batchOf(t, l, 30, "p", "q")
	if f, la, _, err := l.ApplyBatch(cut); err != nil || f != 4 || la != 5 {
		t.Fatalf("cut batch: %d..%d %v", f, la, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	defer l.Close()
	if st := l.State(); l.Applied() != 6 || st.LastSeq != 3 || st.Msgs != 3 {
		t.Fatalf("after the cut: applied %d, %+v", l.Applied(), st)
	}
	cut = batchOf(t, l, 30, "p", "q")
	if f, la, _, err := l.ApplyBatch(cut); err != nil || f != 4 || la != 5 {
		t.Fatalf("re-applied: %d..%d %v", f, la, err)
	}
	if err := l.ApplySync(7); err != nil {
		t.Fatal(err)
	}
	checkMsg(t, l, 5, "b.small", []byte("q"), payloadFor("small", 10))
}

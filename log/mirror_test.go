package log

import (
	"errors"
	"testing"
)

// appendAt stores payload as sequence seq at ts through AppendAt, in pieces.
func appendAt(l *Log, subj string, payload []byte, seq uint64, ts int64) (uint64, int64, error) {
	a, err := l.AppendAt(subj, nil, int64(len(payload)), seq, ts)
	if err != nil {
		return 0, 0, err
	}
	for p := payload; len(p) > 0; {
		n := min(1000, len(p))
		if _, err := a.Write(p[:n]); err != nil {
			a.Abort()
			return 0, 0, err
		}
		p = p[n:]
	}
	return a.Commit()
}

// TestAppendAt stores messages at given sequences and timestamps: a gap
// is skipped (deleted inside the range, the first sequence when the log is
// empty), a sequence below the next is refused, and all of it comes back
// the same after a reopen, whatever the gap's length.
func TestAppendAt(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, dir := k.open(t, "", Config{}, Options{})
		small, large := payloadFor("s", 100), payloadFor("l", 3*4096+5)
		// An empty log takes a first message far away: its first sequence.
		if seq, ts, err := appendAt(l, "m.a", small, 1_000_000, 500); err != nil || seq != 1_000_000 || ts != 500 {
			t.Fatalf("first: %d %d %v", seq, ts, err)
		}
		if seq, _, err := appendAt(l, "m.b", large, 1_000_003, 400); err != nil || seq != 1_000_003 {
			t.Fatalf("gap: %d %v", seq, err)
		}
		if _, _, err := appendAt(l, "m.c", small, 1_000_002, 600); !errors.Is(err, ErrSeqExists) {
			t.Fatalf("below next: %v", err)
		}
		if _, _, err := appendAt(l, "m.c", small, 1_000_003, 600); !errors.Is(err, ErrSeqExists) {
			t.Fatalf("same: %v", err)
		}
		// seq 0: the next sequence, the clock's time.
		seq, _, err := appendAt(l, "m.d", small, 0, 0)
		if err != nil || seq != 1_000_004 {
			t.Fatalf("plain: %d %v", seq, err)
		}
		check := func(l *Log) {
			t.Helper()
			st := l.State()
			if st.FirstSeq != 1_000_000 || st.LastSeq != 1_000_004 || st.Msgs != 3 || st.NumDeleted != 2 {
				t.Fatalf("state %+v", st)
			}
			checkMsg(t, l, 1_000_000, "m.a", nil, small)
			checkMsg(t, l, 1_000_003, "m.b", nil, large)
			var sm StoredMsg
			if err := l.LoadMsg(1_000_001, &sm); !errors.Is(err, ErrDeleted) {
				t.Fatalf("skipped: %v", err)
			}
			if err := l.LoadMsg(1_000_000, &sm); err != nil || sm.Time != 500 {
				t.Fatalf("ts: %d %v", sm.Time, err)
			}
			// 400 is below the previous timestamp: raised to it.
			if err := l.LoadMsg(1_000_003, &sm); err != nil || sm.Time != 500 {
				t.Fatalf("raised ts: %d %v", sm.Time, err)
			}
			if got := l.SeqBefore("m.b", 1_000_004); got != 1_000_003 {
				t.Fatalf("SeqBefore: %d", got)
			}
			if got := l.SeqBefore("m.b", 1_000_003); got != 0 {
				t.Fatalf("SeqBefore first: %d", got)
			}
		}
		check(l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if k.name == "memory" {
			return
		}
		l, _ = k.open(t, dir, Config{}, Options{FS: l.fs})
		defer l.Close()
		check(l)
		if seq, _, err := appendAt(l, "m.e", small, 1_000_010, 700); err != nil || seq != 1_000_010 {
			t.Fatalf("after reopen: %d %v", seq, err)
		}
	})
}

// TestReplicaCommitAt commits replica messages at given sequences: the
// same skips, refusals and recovery as AppendAt.
func TestReplicaCommitAt(t *testing.T) {
	dir := t.TempDir()
	l := openReplica(t, dir)
	c := applyChunks(t, l, 1, "m.a", payloadFor("a", 10))
	c.Seq, c.Time = 50, 123
	if seq, ts, err := l.ApplyCommit(c); err != nil || seq != 50 || ts != 123 {
		t.Fatalf("first: %d %d %v", seq, ts, err)
	}
	c = applyChunks(t, l, 2, "m.b", payloadFor("b", 3*repChunk))
	c.Seq, c.Time = 60, 200
	if seq, _, err := l.ApplyCommit(c); err != nil || seq != 60 {
		t.Fatalf("gap: %d %v", seq, err)
	}
	c = applyChunks(t, l, 3, "m.c", payloadFor("c", 10))
	c.Seq, c.Time = 55, 300
	if _, _, err := l.ApplyCommit(c); !errors.Is(err, ErrSeqExists) {
		t.Fatalf("below next: %v", err)
	}
	if err := l.ApplySync(5); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log) {
		t.Helper()
		st := l.State()
		if st.FirstSeq != 50 || st.LastSeq != 60 || st.Msgs != 2 || st.NumDeleted != 9 {
			t.Fatalf("state %+v", st)
		}
		checkMsg(t, l, 60, "m.b", nil, payloadFor("b", 3*repChunk))
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openReplica(t, dir)
	defer l.Close()
	check(l)
}

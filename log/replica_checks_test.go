package log

import (
	"errors"
	"testing"
)

// commitChecked applies a one-chunk message with header hdr, timestamp ts
// and checks ch, and returns ApplyCommit's answer.
func commitChecked(t *testing.T, l *Log, id uint64, subj, hdr string, ts int64, ch Checks) (uint64, error) {
	t.Helper()
	c := applyChunks(t, l, id, subj, []byte("v"))
	c.Time, c.Hdr, c.Checks = ts, []byte(hdr), ch
	seq, _, err := l.ApplyCommit(c)
	return seq, err
}

func msgIDHdr(id string) string { return "NATS/1.0\r\nNats-Msg-Id: " + id + "\r\n\r\n" }

// Dedup by Nats-Msg-Id is decided by the commit timestamps alone, and a
// reopened log (its table rebuilt from the segments) decides as the live
// one did.
func TestReplicaMsgIDDedup(t *testing.T) {
	dir := t.TempDir()
	l := openReplica(t, dir)
	win := Checks{DupWindow: 100}
	if seq, err := commitChecked(t, l, 1, "a", msgIDHdr("x"), 1000, win); err != nil || seq != 1 {
		t.Fatalf("first: %d %v", seq, err)
	}
	// Same batch, not yet visible: still a duplicate.
	if seq, err := commitChecked(t, l, 2, "a", msgIDHdr("x"), 1050, win); !errors.Is(err, ErrDupMsgID) || seq != 1 {
		t.Fatalf("dup: %d %v", seq, err)
	}
	if l.PendingChunks() != 0 {
		t.Fatal("refused message left pending chunks")
	}
	if err := l.ApplySync(3); err != nil {
		t.Fatal(err)
	}
	if seq, err := commitChecked(t, l, 3, "a", "NATS/1.0\r\nnats-msg-id:y\r\n\r\n", 1060, win); err != nil || seq != 2 {
		t.Fatalf("y: %d %v", seq, err)
	}
	if err := l.ApplySync(4); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openReplica(t, dir)
	defer l.Close()
	if seq, err := commitChecked(t, l, 4, "a", msgIDHdr("y"), 1100, win); !errors.Is(err, ErrDupMsgID) || seq != 2 {
		t.Fatalf("dup after reopen: %d %v", seq, err)
	}
	// x was stored at 1000: outside the window at 1101.
	if seq, err := commitChecked(t, l, 5, "a", msgIDHdr("x"), 1101, win); err != nil || seq != 3 {
		t.Fatalf("x after window: %d %v", seq, err)
	}
	// A deleted original no longer deduplicates.
	if err := l.ApplyDelete(3); err != nil {
		t.Fatal(err)
	}
	if seq, err := commitChecked(t, l, 6, "a", msgIDHdr("x"), 1102, win); err != nil || seq != 4 {
		t.Fatalf("x after delete: %d %v", seq, err)
	}
	// No window: no dedup.
	if _, err := commitChecked(t, l, 7, "a", msgIDHdr("x"), 1103, Checks{}); err != nil {
		t.Fatal(err)
	}
}

func TestReplicaExpectedChecks(t *testing.T) {
	l := openReplica(t, t.TempDir())
	defer l.Close()
	var ce *CheckError
	// Subject sequence 0: the subject must be empty (KV create).
	if seq, err := commitChecked(t, l, 1, "kv.a", "", 10, Checks{CheckSubjSeq: true}); err != nil || seq != 1 {
		t.Fatalf("create: %d %v", seq, err)
	}
	if _, err := commitChecked(t, l, 2, "kv.a", "", 11, Checks{CheckSubjSeq: true}); !errors.As(err, &ce) || ce.Seq != 1 || !errors.Is(err, ErrLastSeq) {
		t.Fatalf("create again: %v", err)
	}
	if seq, err := commitChecked(t, l, 3, "kv.a", msgIDHdr("m1"), 12, Checks{CheckSubjSeq: true, SubjSeq: 1}); err != nil || seq != 2 {
		t.Fatalf("update: %d %v", seq, err)
	}
	if _, err := commitChecked(t, l, 4, "kv.b", "", 13, Checks{CheckSubjSeq: true, SubjSeq: 1, SubjFilter: "kv.*"}); !errors.As(err, &ce) || ce.Seq != 2 {
		t.Fatalf("filter: %v", err)
	}
	if _, err := commitChecked(t, l, 5, "kv.b", "", 14, Checks{CheckLastMsgID: true, LastMsgID: "m0"}); !errors.As(err, &ce) || ce.MsgID != "m1" || !errors.Is(err, ErrLastMsgID) {
		t.Fatalf("last msg id: %v", err)
	}
	if seq, err := commitChecked(t, l, 6, "kv.b", "", 15, Checks{CheckLastMsgID: true, LastMsgID: "m1"}); err != nil || seq != 3 {
		t.Fatalf("last msg id ok: %d %v", seq, err)
	}
	if err := l.ApplySync(9); err != nil {
		t.Fatal(err)
	}
	// A subject rollup keeps only the new message on kv.a; an all rollup
	// keeps only the new message.
	if seq, err := commitChecked(t, l, 7, "kv.a", "", 16, Checks{Rollup: RollupSubject}); err != nil || seq != 4 {
		t.Fatalf("rollup sub: %d %v", seq, err)
	}
	if err := l.ApplySync(10); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Msgs != 2 {
		t.Fatalf("after subject rollup: %+v", st)
	}
	if _, err := commitChecked(t, l, 8, "kv.c", "", 17, Checks{Rollup: RollupAll}); err != nil {
		t.Fatal(err)
	}
	if err := l.ApplySync(11); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Msgs != 1 || st.FirstSeq != 5 {
		t.Fatalf("after all rollup: %+v", st)
	}
}

func TestHeaderValue(t *testing.T) {
	for _, c := range []struct{ hdr, want string }{
		{"NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n", "a"},
		{"NATS/1.0\r\nX: 1\r\nnats-msg-id:\tb\r\n\r\n", "b"},
		{"NATS/1.0\r\nNats-Msg-Idx: c\r\n\r\n", ""},
		{"NATS/1.0\r\n\r\nNats-Msg-Id: d\r\n", ""},
		{"", ""},
	} {
		if got := headerValue([]byte(c.hdr), hdrMsgID); got != c.want {
			t.Errorf("%q: %q, want %q", c.hdr, got, c.want)
		}
	}
}

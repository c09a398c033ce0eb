package log

import (
	"errors"
	"fmt"
	"testing"
)

func TestAppendLoad(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		defer l.Close()
		sizes := []int{0, 1, 100, 4096, 4097, 10000, 3*4096 + 5}
		for i, n := range sizes {
			subj := fmt.Sprintf("a.%d", i)
			hdr := []byte(fmt.Sprintf("NATS/1.0\r\nX: %d\r\n\r\n", i))
			seq, err := appendPieces(l, subj, hdr, payloadFor(subj, n), 1+i*333)
			if err != nil {
				t.Fatal(err)
			}
			if seq != uint64(i+1) {
				t.Fatalf("seq %d want %d", seq, i+1)
			}
		}
		for i, n := range sizes {
			subj := fmt.Sprintf("a.%d", i)
			checkMsg(t, l, uint64(i+1), subj, []byte(fmt.Sprintf("NATS/1.0\r\nX: %d\r\n\r\n", i)), payloadFor(subj, n))
		}
		st := l.State()
		if st.FirstSeq != 1 || st.LastSeq != uint64(len(sizes)) || st.Msgs != uint64(len(sizes)) || st.NumSubjects != len(sizes) {
			t.Fatalf("state %+v", st)
		}
		var sm StoredMsg
		if err := l.LoadMsg(0, &sm); !errors.Is(err, ErrNotFound) {
			t.Fatalf("seq 0: %v", err)
		}
		if err := l.LoadMsg(99, &sm); !errors.Is(err, ErrNotFound) {
			t.Fatalf("seq 99: %v", err)
		}
	})
}

func TestReopenContinues(t *testing.T) {
	for _, k := range kinds[:2] {
		t.Run(k.name, func(t *testing.T) {
			opts := Options{SegmentSize: 16 << 10}
			if k.name == "memfs" {
				opts.FS = NewMemFS()
			}
			l, dir := k.open(t, "", Config{}, opts)
			var want [][]byte
			for i := range 20 {
				p := payloadFor(fmt.Sprint(i), i*700)
				want = append(want, p)
				if _, err := appendPieces(l, fmt.Sprintf("s.%d", i%3), nil, p, 1000); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Delete(5); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, _ = k.open(t, dir, Config{}, opts)
			defer l.Close()
			st := l.State()
			if st.Msgs != 19 || st.LastSeq != 20 || st.NumDeleted != 1 || st.Segments < 2 {
				t.Fatalf("state after reopen %+v", st)
			}
			for i, p := range want {
				if i+1 == 5 {
					var sm StoredMsg
					if err := l.LoadMsg(5, &sm); !errors.Is(err, ErrDeleted) {
						t.Fatalf("deleted: %v", err)
					}
					continue
				}
				checkMsg(t, l, uint64(i+1), fmt.Sprintf("s.%d", i%3), nil, p)
			}
			seq, _, err := l.AppendMsg("s.0", nil, []byte("next"))
			if err != nil || seq != 21 {
				t.Fatalf("append after reopen: %d %v", seq, err)
			}
		})
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		defer l.Close()
		a, err := l.Append("x", nil, 20000)
		if err != nil {
			t.Fatal(err)
		}
		a.Write(payloadFor("x", 12000))
		a.Abort()
		a.Abort()
		if _, _, err := a.Commit(); !errors.Is(err, ErrClosed) {
			t.Fatalf("commit after abort: %v", err)
		}
		short, _ := l.Append("y", nil, 10)
		short.Write([]byte("abc"))
		if _, _, err := short.Commit(); !errors.Is(err, ErrSize) {
			t.Fatalf("short commit: %v", err)
		}
		over, _ := l.Append("y", nil, 2)
		if _, err := over.Write([]byte("abc")); !errors.Is(err, ErrSize) {
			t.Fatalf("long write: %v", err)
		}
		over.Abort()
		if st := l.State(); st.Msgs != 0 || st.LastSeq != 0 {
			t.Fatalf("state %+v", st)
		}
		seq, _, err := l.AppendMsg("z", nil, []byte("ok"))
		if err != nil || seq != 1 {
			t.Fatalf("seq %d err %v", seq, err)
		}
	})
}

func TestDeleteAndPurge(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		defer l.Close()
		for i := range 30 {
			if _, _, err := l.AppendMsg(fmt.Sprintf("p.%d.x", i%3), nil, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Delete(2); err != nil {
			t.Fatal(err)
		}
		if err := l.Delete(2); !errors.Is(err, ErrDeleted) {
			t.Fatalf("double delete: %v", err)
		}
		if err := l.Delete(31); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete past end: %v", err)
		}
		n, err := l.Purge(PurgeRequest{Subject: "p.0.x", Keep: 2})
		if err != nil || n != 8 {
			t.Fatalf("purge keep: %d %v", n, err)
		}
		if ss := l.SubjectsState("p.0.*"); ss["p.0.x"].Msgs != 2 || ss["p.0.x"].First != 25 {
			t.Fatalf("subject state %+v", ss)
		}
		n, err = l.Purge(PurgeRequest{Subject: "p.*.x", Seq: 10})
		if err != nil || n != 5 { // seqs 1..9 minus deleted 2 minus purged p.0 (1,4,7): 3,5,6,8,9
			t.Fatalf("purge seq: %d %v", n, err)
		}
		if st := l.State(); st.FirstSeq != 11 {
			t.Fatalf("first after purge %+v", st)
		}
		n, err = l.Purge(PurgeRequest{})
		if err != nil || n != 16 {
			t.Fatalf("purge all: %d %v", n, err)
		}
		st := l.State()
		if st.Msgs != 0 || st.FirstSeq != 31 || st.LastSeq != 30 || st.Bytes != 0 || st.NumSubjects != 0 {
			t.Fatalf("after purge all %+v", st)
		}
		if seq, _, _ := l.AppendMsg("a", nil, nil); seq != 31 {
			t.Fatalf("seq after purge %d", seq)
		}
	})
}

func TestLimits(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{MaxMsgs: 5, MaxMsgsPerSubject: 2}, Options{})
		defer l.Close()
		for i := range 10 {
			if _, _, err := l.AppendMsg(fmt.Sprintf("l.%d", i%4), nil, []byte("0123456789")); err != nil {
				t.Fatal(err)
			}
		}
		st := l.State()
		if st.Msgs != 5 || st.FirstSeq != 6 {
			t.Fatalf("max msgs: %+v", st)
		}
		for range 3 {
			l.AppendMsg("same", nil, []byte("v"))
		}
		if ss := l.SubjectsState("same"); ss["same"].Msgs != 2 || len(ss) != 1 {
			t.Fatalf("per subject: %+v", ss)
		}
		if ss := l.SubjectsState("never.stored"); len(ss) != 0 {
			t.Fatalf("a literal filter nothing was stored under: %+v", ss)
		}
		if err := update(l, Config{MaxMsgs: 2, Discard: DiscardNew}); err != nil {
			t.Fatal(err)
		}
		if st := l.State(); st.Msgs != 2 {
			t.Fatalf("after lowering limit %+v", st)
		}
		if _, _, err := l.AppendMsg("n", nil, nil); !errors.Is(err, ErrMaxMsgs) {
			t.Fatalf("discard new: %v", err)
		}
		if err := update(l, Config{MaxBytes: 50, Discard: DiscardNew}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.AppendMsg("n", nil, make([]byte, 60)); !errors.Is(err, ErrMaxBytes) {
			t.Fatalf("too big for max bytes: %v", err)
		}
		per := MsgSize(l.storage, 1, 0, 20) // nats-server's figure for one "b" message
		if err := update(l, Config{MaxBytes: 2*per + per/2}); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			l.AppendMsg("b", nil, make([]byte, 20))
		}
		if st := l.State(); st.Bytes != uint64(2*per) || st.Msgs != 2 {
			t.Fatalf("max bytes discard old: %+v", st)
		}
		if err := l.UpdateConfig(Config{Storage: 9}); !errors.Is(err, ErrConfig) {
			t.Fatalf("bad config: %v", err)
		}
	})
}

// update changes the limits, keeping the storage kind.
func update(l *Log, cfg Config) error {
	l.w.Lock()
	cfg.Storage = l.w.cfg.Storage
	l.w.Unlock()
	return l.UpdateConfig(cfg)
}

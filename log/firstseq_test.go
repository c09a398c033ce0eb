package log

import (
	"path/filepath"
	"testing"
)

// TestFirstSeq: a new log with Config.FirstSeq starts there (empty: first N,
// last N-1, as nats-server's stores report), keeps it across reopens (also
// before anything was written), and an existing log ignores the setting.
func TestFirstSeq(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		opts := Options{}
		if k.name == "memfs" {
			opts.FS = NewMemFS()
		}
		cfg := Config{FirstSeq: 100}
		l, dir := k.open(t, "", cfg, opts)
		if st := l.State(); st.FirstSeq != 100 || st.LastSeq != 99 || st.Msgs != 0 {
			t.Fatalf("new log: %+v", st)
		}
		if k.name != "memory" {
			// Reopened before any message: still 100.
			l.Close()
			l, _ = k.open(t, dir, cfg, opts)
			if st := l.State(); st.FirstSeq != 100 || st.LastSeq != 99 {
				t.Fatalf("reopened empty log: %+v", st)
			}
		}
		for want := uint64(100); want < 103; want++ {
			if seq, _, err := l.AppendMsg("a", nil, []byte("x")); err != nil || seq != want {
				t.Fatalf("append: seq %d, %v; want %d", seq, err, want)
			}
		}
		if st := l.State(); st.FirstSeq != 100 || st.LastSeq != 102 || st.Msgs != 3 || st.NumDeleted != 0 || len(st.Lost) != 0 {
			t.Fatalf("after appends: %+v", st)
		}
		if err := update(l, Config{FirstSeq: 500}); err != nil {
			t.Fatal(err)
		}
		if seq, _, err := l.AppendMsg("a", nil, nil); err != nil || seq != 103 {
			t.Fatalf("after an update of FirstSeq: seq %d, %v", seq, err)
		}
		if k.name == "memory" {
			l.Close()
			return
		}
		l.Close()
		// An existing log keeps its sequences whatever FirstSeq says.
		l, _ = k.open(t, dir, Config{FirstSeq: 500}, opts)
		defer l.Close()
		if st := l.State(); st.FirstSeq != 100 || st.LastSeq != 103 || st.Msgs != 4 || len(st.Lost) != 0 {
			t.Fatalf("reopened: %+v", st)
		}
		checkMsg(t, l, 100, "a", nil, []byte("x"))
		if n, err := l.Purge(PurgeRequest{}); err != nil || n != 4 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if st := l.State(); st.FirstSeq != 104 || st.LastSeq != 103 {
			t.Fatalf("after purge: %+v", st)
		}
	})
}

// TestReplicaFirstSeq: a replica log starts at FirstSeq too, also when its
// first open left nothing durable (no applied marker: it starts over).
func TestReplicaFirstSeq(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	open := func() *Log {
		return mustOpen(t, dir, Config{FirstSeq: 1000}, Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10})
	}
	l := open()
	l.Close() // no marker: the reopen starts from nothing
	l = open()
	if st := l.State(); st.FirstSeq != 1000 || st.LastSeq != 999 {
		t.Fatalf("new replica: %+v", st)
	}
	if seq := applyMsg(t, l, 1, "x", []byte("one")); seq != 1000 {
		t.Fatalf("seq %d", seq)
	}
	if seq := applyMsg(t, l, 2, "x", []byte("two")); seq != 1001 {
		t.Fatalf("seq %d", seq)
	}
	if err := l.ApplySync(5); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = open()
	defer l.Close()
	if st := l.State(); st.FirstSeq != 1000 || st.LastSeq != 1001 || st.Msgs != 2 || len(st.Lost) != 0 {
		t.Fatalf("reopened replica: %+v", st)
	}
	checkMsg(t, l, 1000, "x", nil, []byte("one"))
}

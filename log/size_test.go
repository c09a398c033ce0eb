package log

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestMsgSize: nats-server's figures (filestore.go fileStoreMsgSize,
// memstore.go memStoreMsgSize).
func TestMsgSize(t *testing.T) {
	for _, c := range []struct {
		storage   Storage
		subj, hdr int
		size      int64
		want      int64
		what      string
	}{
		{FileStorage, 9, 0, 5, 44, "orders.eu, 5 bytes: 22+9+5+8"},
		{FileStorage, 9, 20, 5, 68, "with a header: 22+9+4+20+5+8"},
		{FileStorage, 1, 0, 0, 31, "empty payload"},
		{MemoryStorage, 9, 0, 5, 30, "memory: 9+5+16"},
		{MemoryStorage, 9, 20, 5, 50, "memory with a header: 9+20+5+16"},
		{FileStorage, 3, 0, 1 << 30, 33 + 1<<30, "a chunked message counts its payload once"},
	} {
		if got := MsgSize(c.storage, c.subj, c.hdr, c.size); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
}

// TestBytesAccounting: State.Bytes is nats-server's figure for every store
// kind, through chunked messages, deletes, purges, evictions and reopens
// (scan and index sidecars alike).
func TestBytesAccounting(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		opts := Options{SegmentSize: 16 << 10, CompactThreshold: -1}
		if k.name == "memfs" {
			opts.FS = NewMemFS() // the same one at the reopen
		}
		l, dir := k.open(t, "", Config{}, opts)
		for range 5 {
			if _, _, err := l.AppendMsg("orders.eu", nil, []byte("hello")); err != nil {
				t.Fatal(err)
			}
		}
		per := MsgSize(l.storage, 9, 0, 5)
		if st := l.State(); st.Bytes != uint64(5*per) {
			t.Fatalf("five 5-byte messages: %d bytes, want %d", st.Bytes, 5*per)
		}
		if k.name != "memory" && per != 44 {
			t.Fatalf("file figure %d, want 44 (220 for five)", per)
		}
		hdr := []byte("NATS/1.0\r\nA: b\r\n\r\n")
		big := payloadFor("big", 3*4096+100) // chunked (ChunkSize 4096)
		if _, err := appendPieces(l, "files.x", hdr, big, 1000); err != nil {
			t.Fatal(err)
		}
		for i := range 40 { // rolls segments, so reopens replay sidecars too
			putMsg(t, l, fmt.Sprint("s.", i%4), 700)
		}
		if err := l.Delete(2); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Purge(PurgeRequest{Subject: "s.1"}); err != nil {
			t.Fatal(err)
		}
		want := 4*per + MsgSize(l.storage, 7, len(hdr), int64(len(big))) + 30*MsgSize(l.storage, 3, 3, 700)
		if st := l.State(); st.Bytes != uint64(want) {
			t.Fatalf("after delete and purge: %d bytes, want %d", st.Bytes, want)
		}
		if k.name == "memory" {
			l.Close()
			return
		}
		waitBackground(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, _ = k.open(t, dir, Config{}, opts)
		if st := l.State(); st.Bytes != uint64(want) {
			t.Fatalf("after reopen: %d bytes, want %d", st.Bytes, want)
		}
		if indexedSegs(l) == 0 {
			t.Fatal("no segment replayed from a sidecar")
		}
		l.Close()
	})
}

// TestMaxBytesCountsLikeNats: max_bytes keeps exactly the messages
// nats-server keeps: with discard old the oldest go until the figure fits,
// with discard new the message that would pass it is refused.
func TestMaxBytesCountsLikeNats(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		// 100 bytes hold two 44-byte file messages (three 30-byte memory ones).
		l, _ := k.open(t, "", Config{MaxBytes: 100}, Options{})
		defer l.Close()
		for range 5 {
			if _, _, err := l.AppendMsg("orders.eu", nil, []byte("hello")); err != nil {
				t.Fatal(err)
			}
		}
		wantMsgs := uint64(2)
		if k.name == "memory" {
			wantMsgs = 3
		}
		per := uint64(MsgSize(l.storage, 9, 0, 5))
		if st := l.State(); st.Msgs != wantMsgs || st.Bytes != wantMsgs*per || st.FirstSeq != 6-wantMsgs {
			t.Fatalf("discard old: %+v", st)
		}
		if err := update(l, Config{MaxBytes: 100, Discard: DiscardNew}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.AppendMsg("orders.eu", nil, []byte("hello")); !isErr(err, ErrMaxBytes) {
			t.Fatalf("discard new: %v", err)
		}
		if _, err := l.Purge(PurgeRequest{}); err != nil {
			t.Fatal(err)
		}
		for i := range wantMsgs {
			if _, _, err := l.AppendMsg("orders.eu", nil, []byte("hello")); err != nil {
				t.Fatalf("message %d of %d after purge: %v", i+1, wantMsgs, err)
			}
		}
		if _, _, err := l.AppendMsg("orders.eu", nil, []byte("hello")); !isErr(err, ErrMaxBytes) {
			t.Fatalf("discard new past the figure: %v", err)
		}
		// A message whose figure alone passes max_bytes never fits.
		if _, _, err := l.AppendMsg("x", nil, make([]byte, 90)); !isErr(err, ErrMaxBytes) {
			t.Fatalf("too large: %v", err)
		}
	})
}

// TestReplicaBytesAccounting: a replica log counts like an R1 log.
func TestReplicaBytesAccounting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	l := openReplica(t, dir)
	for i := range 5 {
		applyMsg(t, l, uint64(i+1), "orders.eu", []byte("hello"))
	}
	if err := l.ApplySync(1); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Bytes != 220 {
		t.Fatalf("replica: %d bytes, want 220", st.Bytes)
	}
	l.Close()
	l = openReplica(t, dir)
	defer l.Close()
	if st := l.State(); st.Bytes != 220 {
		t.Fatalf("replica after reopen: %d bytes, want 220", st.Bytes)
	}
}

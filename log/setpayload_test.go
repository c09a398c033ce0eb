package log

import (
	"errors"
	"testing"
)

// payloadOf reads message seq's payload.
func payloadOf(t *testing.T, l *Log, seq uint64) string {
	t.Helper()
	var sm StoredMsg
	if err := l.LoadMsg(seq, &sm); err != nil {
		t.Fatalf("load %d: %v", seq, err)
	}
	p, err := sm.ReadPayload(nil)
	if err != nil {
		t.Fatalf("payload %d: %v", seq, err)
	}
	if int64(len(p)) != sm.Size {
		t.Fatalf("payload %d: %d bytes, size %d", seq, len(p), sm.Size)
	}
	return string(p)
}

// A Checker's View.SetPayload replaces an accepted message's payload on a
// local log (compressed or not) and on a replica (inline, two-step and
// by-reference applies), and the replacement survives a reopen; a chunked
// local message cannot have it replaced.
func TestCheckerSetPayload(t *testing.T) {
	for _, comp := range []Compression{CompressionNone, CompressionS2} {
		dir := t.TempDir()
		opts := Options{Checker: &testChecker{}, ChunkSize: 4096}
		l := mustOpen(t, dir, Config{Compression: comp}, opts)
		put := func(hdr string, payload []byte) (uint64, error) {
			a, err := l.Append("k", []byte(hdr), int64(len(payload)))
			if err != nil {
				return 0, err
			}
			if _, err := a.Write(payload); err != nil {
				return 0, err
			}
			seq, _, err := a.Commit()
			return seq, err
		}
		if seq, err := put("body={\"val\":\"42\"}", nil); err != nil || seq != 1 {
			t.Fatal(seq, err)
		}
		if seq, err := put("", []byte("plain")); err != nil || seq != 2 {
			t.Fatal(seq, err)
		}
		if _, err := put("body=x", payloadFor("big", 3*4096)); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("chunked: %v", err)
		}
		if seq, err := put("body=", []byte("gone")); err != nil || seq != 3 {
			t.Fatal(seq, err)
		}
		if got := payloadOf(t, l, 1); got != `{"val":"42"}` {
			t.Fatalf("replaced payload %q", got)
		}
		if got := payloadOf(t, l, 3); got != "" {
			t.Fatalf("emptied payload %q", got)
		}
		l.Close()
		l = mustOpen(t, dir, Config{Compression: comp}, opts)
		if payloadOf(t, l, 1) != `{"val":"42"}` || payloadOf(t, l, 2) != "plain" || l.State().Msgs != 3 {
			t.Fatalf("after reopen: %+v", l.State())
		}
		l.Close()
	}

	dir := t.TempDir()
	ropts := Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10, Checker: &testChecker{}}
	l := mustOpen(t, dir, Config{}, ropts)
	inline := func(id uint64, hdr string, p []byte) uint64 {
		t.Helper()
		crc := crc32c(p)
		seq, _, err := l.ApplyInline(&Commit{ID: id, Subject: "k", Hdr: []byte(hdr), Size: int64(len(p)), Time: 100, Chunks: 1, Digest: ChunkDigest(0, crc)}, p, crc)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	if seq := inline(1, "body=one", nil); seq != 1 {
		t.Fatal(seq)
	}
	c := applyChunks(t, l, 2, "k", payloadFor("two", 3*repChunk))
	c.Hdr, c.Time = []byte("body=two"), 200
	if seq, _, err := l.ApplyCommit(c); err != nil || seq != 2 {
		t.Fatal(seq, err)
	}
	if seq := inline(3, "", []byte("three")); seq != 3 {
		t.Fatal(seq)
	}
	if err := l.ApplySync(10); err != nil {
		t.Fatal(err)
	}
	if l.PendingChunks() != 0 {
		t.Fatal("replaced chunks still pending")
	}
	check := func() {
		t.Helper()
		for seq, want := range map[uint64]string{1: "one", 2: "two", 3: "three"} {
			if got := payloadOf(t, l, seq); got != want {
				t.Fatalf("replica %d: %q, want %q", seq, got, want)
			}
		}
	}
	check()
	l.Close()
	l = mustOpen(t, dir, Config{}, ropts)
	defer l.Close()
	check()
}

// View.SetPurgeFilter makes ActPurgeSubject purge another subject below
// the message, on a local log and on a replica, and it stays purged after
// a reopen.
func TestCheckerSetPurgeFilter(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Checker: &testChecker{}}
	l := mustOpen(t, dir, Config{}, opts)
	for _, m := range []struct{ subj, hdr string }{{"a.1", ""}, {"a.2", ""}, {"b", ""}, {"k", "purge=a.*"}} {
		app, err := l.Append(m.subj, []byte(m.hdr), 1)
		if err != nil {
			t.Fatal(err)
		}
		app.Write([]byte("x"))
		if _, _, err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(l *Log) {
		t.Helper()
		if st := l.State(); st.Msgs != 2 || st.FirstSeq != 3 {
			t.Fatalf("after the purge: %+v", st)
		}
	}
	check(l)
	l.Close()
	l = mustOpen(t, dir, Config{}, opts)
	check(l)
	l.Close()

	rdir := t.TempDir()
	ropts := Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10, Checker: &testChecker{}}
	r := mustOpen(t, rdir, Config{}, ropts)
	for i, m := range []struct{ subj, hdr string }{{"a.1", ""}, {"a.2", ""}, {"b", ""}, {"k", "purge=a.*"}} {
		p := []byte("x")
		crc := crc32c(p)
		if _, _, err := r.ApplyInline(&Commit{ID: uint64(i + 1), Subject: m.subj, Hdr: []byte(m.hdr), Size: 1, Time: 100, Chunks: 1, Digest: ChunkDigest(0, crc)}, p, crc); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.ApplySync(10); err != nil {
		t.Fatal(err)
	}
	check(r)
	r.Close()
	r = mustOpen(t, rdir, Config{}, ropts)
	defer r.Close()
	check(r)
}

// A Checker's View.SetHeader replaces an accepted message's header block
// along with its payload (longer and shorter than the original), on a
// local log (compressed or not) and on a replica (inline and two-step
// applies), and the replacement survives a reopen; a header set without a
// payload refuses the message.
func TestCheckerSetHeader(t *testing.T) {
	long := "hdr=" + string(payloadFor("h", 3000))
	check := func(t *testing.T, l *Log, want map[uint64]string) {
		t.Helper()
		for seq, hdr := range want {
			var sm StoredMsg
			if err := l.LoadMsg(seq, &sm); err != nil {
				t.Fatalf("load %d: %v", seq, err)
			}
			if string(sm.Hdr) != hdr {
				t.Fatalf("message %d: header %.20q (%d bytes), want %.20q", seq, sm.Hdr, len(sm.Hdr), hdr)
			}
			if got := payloadOf(t, l, seq); got != "new" {
				t.Fatalf("message %d: payload %q", seq, got)
			}
		}
	}
	for _, comp := range []Compression{CompressionNone, CompressionS2} {
		dir := t.TempDir()
		opts := Options{Checker: &testChecker{}, ChunkSize: 4096}
		l := mustOpen(t, dir, Config{Compression: comp}, opts)
		put := func(hdr string, payload []byte) (uint64, error) {
			a, err := l.Append("k", []byte(hdr), int64(len(payload)))
			if err != nil {
				return 0, err
			}
			if _, err := a.Write(payload); err != nil {
				return 0, err
			}
			seq, _, err := a.Commit()
			return seq, err
		}
		if seq, err := put("hdr=ab", []byte("a long old payload")); err != nil || seq != 1 {
			t.Fatal(seq, err)
		}
		if seq, err := put("hdr=x", nil); err != nil || seq != 2 {
			t.Fatal(seq, err)
		}
		if _, err := put("hdronly=x", nil); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("header without payload: %v", err)
		}
		want := map[uint64]string{1: "ab", 2: "x", 3: long[4:]}
		if seq, err := put(long, nil); err != nil || seq != 3 {
			t.Fatal(seq, err)
		}
		check(t, l, want)
		l.Close()
		l = mustOpen(t, dir, Config{Compression: comp}, opts)
		check(t, l, want)
		l.Close()
	}

	dir := t.TempDir()
	ropts := Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10, Checker: &testChecker{}}
	l := mustOpen(t, dir, Config{}, ropts)
	p := []byte("old")
	crc := crc32c(p)
	if seq, _, err := l.ApplyInline(&Commit{ID: 1, Subject: "k", Hdr: []byte(long), Size: 3, Time: 100, Chunks: 1, Digest: ChunkDigest(0, crc)}, p, crc); err != nil || seq != 1 {
		t.Fatal(seq, err)
	}
	c := applyChunks(t, l, 2, "k", payloadFor("two", 3*repChunk))
	c.Hdr, c.Time = []byte("hdr=two"), 200
	if seq, _, err := l.ApplyCommit(c); err != nil || seq != 2 {
		t.Fatal(seq, err)
	}
	if err := l.ApplySync(10); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]string{1: long[4:], 2: "two"}
	check(t, l, want)
	l.Close()
	l = mustOpen(t, dir, Config{}, ropts)
	defer l.Close()
	check(t, l, want)
}

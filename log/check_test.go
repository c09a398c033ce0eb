package log

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// testChecker is a Checker for the log's own tests, with rules the log
// knows nothing about, read from the header block as plain text:
//
//	"last=N"   refuse (code 1, Seq: the last sequence) unless LastSeq is N
//	"subj=N"   ask to settle when messages are pending, then refuse
//	           (code 2) unless the subject's applied last sequence is N
//	"roll"     accept, purging the subject below (ActPurgeSubject)
//	"rollall"  accept, purging everything below (ActPurgeAll)
//	"body=X"   accept, with X as its payload (View.SetPayload)
//	"hdr=X"    accept, with X as its header block and "new" as its payload
//	"hdronly=X" set X as its header block only (refused: ErrBadRequest)
//	"purge=F"  accept, purging filter F below it (View.SetPurgeFilter)
//
// It records what it is told.
type testChecker struct {
	checks    []CheckMsg
	truncated []uint64
	resets    int
	unsettled int
}

func (c *testChecker) Check(v View, m CheckMsg) (Action, error) {
	h := string(m.Hdr)
	switch {
	case strings.HasPrefix(h, "last="):
		want, _ := strconv.ParseUint(h[5:], 10, 64)
		if v.LastSeq() != want {
			return ActNone, &CheckError{Code: 1, Seq: v.LastSeq(), Text: "wrong last"}
		}
	case strings.HasPrefix(h, "subj="):
		if v.Applied() < v.LastSeq() && v.CanSettle() {
			c.unsettled++
			return ActNone, ErrUnsettled
		}
		want, _ := strconv.ParseUint(h[5:], 10, 64)
		if got := v.LastSeqForSubject(m.Subject); got != want {
			return ActNone, &CheckError{Code: 2, Seq: got}
		}
	case h == "roll":
		c.checks = append(c.checks, m)
		return ActPurgeSubject, nil
	case h == "rollall":
		c.checks = append(c.checks, m)
		return ActPurgeAll, nil
	case strings.HasPrefix(h, "body="):
		v.SetPayload([]byte(h[5:]))
	case strings.HasPrefix(h, "hdr="):
		v.SetHeader([]byte(h[4:]))
		v.SetPayload([]byte("new"))
	case strings.HasPrefix(h, "hdronly="):
		v.SetHeader([]byte(h[8:]))
	case strings.HasPrefix(h, "purge="):
		v.SetPurgeFilter(h[6:])
		c.checks = append(c.checks, m)
		return ActPurgeSubject, nil
	}
	c.checks = append(c.checks, m)
	return ActNone, nil
}

func (c *testChecker) Truncate(last uint64) { c.truncated = append(c.truncated, last) }
func (c *testChecker) Reset(View)           { c.resets++ }

// A local log asks its Checker about each message in commit order with
// the sequence and timestamp it then gets; a refusal stores nothing and
// uses no sequence; a rollup's purge applies with the message, before its
// Commit returns, and survives a reopen.
func TestCheckerLocal(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		ck := &testChecker{}
		l, dir := k.open(t, "", Config{}, Options{Checker: ck})
		if ck.resets != 1 {
			t.Fatalf("resets at open: %d", ck.resets)
		}
		for i := range 3 {
			seq, ts, err := l.AppendMsg("a", nil, []byte(fmt.Sprint(i)))
			if err != nil {
				t.Fatal(err)
			}
			if m := ck.checks[i]; m.Seq != seq || m.Time != ts || m.Subject != "a" || m.Size != 1 || m.Hdr != nil {
				t.Fatalf("check %d: %+v, stored as %d at %d", i, m, seq, ts)
			}
		}
		var ce *CheckError
		if _, _, err := l.AppendMsg("a", []byte("last=2"), []byte("x")); !errors.As(err, &ce) || ce.Code != 1 || ce.Seq != 3 {
			t.Fatalf("refusal: %v", err)
		}
		// A large (chunked) message is refused at its commit too.
		big := payloadFor("big", 3*4096+7)
		if _, err := appendPieces(l, "a", []byte("last=9"), big, 1000); !errors.As(err, &ce) {
			t.Fatalf("chunked refusal: %v", err)
		}
		if seq, _, err := l.AppendMsg("a", []byte("last=3"), []byte("y")); err != nil || seq != 4 {
			t.Fatalf("after refusals: %d %v", seq, err)
		}
		l.AppendMsg("b", nil, []byte("b5"))
		if seq, _, err := l.AppendMsg("a", []byte("roll"), []byte("r6")); err != nil || seq != 6 {
			t.Fatalf("rollup: %d %v", seq, err)
		}
		check := func(l *Log) {
			t.Helper()
			st := l.State()
			if st.Msgs != 2 || st.LastSeq != 6 {
				t.Fatalf("after rollup: %+v", st)
			}
			checkMsg(t, l, 5, "b", nil, []byte("b5"))
			checkMsg(t, l, 6, "a", []byte("roll"), []byte("r6"))
		}
		check(l)
		l.Close()
		if k.name != "file" {
			return
		}
		ck2 := &testChecker{}
		l2 := mustOpen(t, dir, Config{}, Options{Checker: ck2})
		defer l2.Close()
		check(l2)
		if ck2.resets != 1 {
			t.Fatalf("resets at reopen: %d", ck2.resets)
		}
		if seq, _, err := l2.AppendMsg("c", []byte("rollall"), []byte("r7")); err != nil || seq != 7 {
			t.Fatalf("rollup all: %d %v", seq, err)
		}
		if st := l2.State(); st.Msgs != 1 || st.FirstSeq != 7 {
			t.Fatalf("after rollup all: %+v", st)
		}
	})
}

// A replica log asks in apply order with the commit's timestamp; a
// Checker that asks to settle is asked again once the batch so far is
// applied; refusals drop the message's chunks; rollups purge in order.
func TestCheckerReplica(t *testing.T) {
	ck := &testChecker{}
	dir := t.TempDir()
	l := mustOpen(t, dir, Config{}, Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10, Checker: ck})
	commit := func(id uint64, subj, hdr string, ts int64, payload []byte) (uint64, error) {
		t.Helper()
		c := applyChunks(t, l, id, subj, payload)
		c.Hdr, c.Time = []byte(hdr), ts
		seq, _, err := l.ApplyCommit(c)
		return seq, err
	}
	if seq, err := commit(1, "k", "", 500, []byte("1")); err != nil || seq != 1 {
		t.Fatal(seq, err)
	}
	if m := ck.checks[0]; m.Seq != 1 || m.Time != 500 || m.Subject != "k" {
		t.Fatalf("check: %+v", m)
	}
	// The timestamp never goes back.
	if _, err := commit(2, "k", "", 100, []byte("2")); err != nil || ck.checks[1].Time != 500 {
		t.Fatalf("ts %+v %v", ck.checks[1], err)
	}
	// Seq 2 is written, not applied: the subject check settles first.
	if seq, err := commit(3, "k", "subj=2", 600, payloadFor("x", 2*repChunk+5)); err != nil || seq != 3 || ck.unsettled != 1 {
		t.Fatalf("settled check: %d %v (unsettled %d)", seq, err, ck.unsettled)
	}
	var ce *CheckError
	if _, err := commit(4, "k", "subj=1", 700, payloadFor("y", 2*repChunk)); !errors.As(err, &ce) || ce.Code != 2 || ce.Seq != 3 {
		t.Fatalf("refused subject check: %v", err)
	}
	if l.PendingChunks() != 0 {
		t.Fatal("a refused message kept its chunks")
	}
	// ApplyInline: refused, nothing written; then a rollup.
	inline := func(id uint64, hdr string) (uint64, error) {
		p := []byte(fmt.Sprint("m", id))
		crc := crc32c(p)
		seq, _, err := l.ApplyInline(&Commit{ID: id, Subject: "k", Hdr: []byte(hdr), Size: int64(len(p)), Time: 800, Chunks: 1, Digest: ChunkDigest(0, crc)}, p, crc)
		return seq, err
	}
	if _, err := inline(5, "last=1"); !errors.As(err, &ce) || ce.Seq != 3 {
		t.Fatalf("inline refusal: %v", err)
	}
	if seq, err := inline(6, "roll"); err != nil || seq != 4 {
		t.Fatalf("inline rollup: %d %v", seq, err)
	}
	if err := l.ApplySync(10); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Msgs != 1 || st.FirstSeq != 4 || st.LastSeq != 4 {
		t.Fatalf("after rollup: %+v", st)
	}
	l.Close()
	ck2 := &testChecker{}
	l = mustOpen(t, dir, Config{}, Options{Replica: true, ChunkSize: repChunk, SegmentSize: 64 << 10, Checker: ck2})
	defer l.Close()
	if st := l.State(); st.Msgs != 1 || st.FirstSeq != 4 || ck2.resets != 1 {
		t.Fatalf("reopened: %+v, resets %d", st, ck2.resets)
	}
}

// A Checker that asks to settle where the log cannot wait (a local log)
// gets the message refused with ErrBadRequest, not a hang.
func TestCheckerCannotSettleLocally(t *testing.T) {
	ck := &testChecker{}
	l := mustOpen(t, t.TempDir(), Config{}, Options{Checker: ck})
	defer l.Close()
	// Never pending when written alone: settle is refused by CanSettle,
	// so the rule is decided on the spot.
	if seq, _, err := l.AppendMsg("s", []byte("subj=0"), []byte("x")); err != nil || seq != 1 {
		t.Fatalf("%d %v", seq, err)
	}
	if ck.unsettled != 0 {
		t.Fatal("a local log offered to settle")
	}
}

// A write failure rolls the log back past messages the Checker accepted:
// it is told, and the sequences are given again.
func TestCheckerTruncatedOnRollback(t *testing.T) {
	ck := &testChecker{}
	fs := &failFS{MemFS: NewMemFS()}
	l := mustOpen(t, "/log", Config{}, Options{FS: fs, Checker: ck})
	defer l.Close()
	if _, _, err := l.AppendMsg("a", nil, []byte("1")); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if _, _, err := l.AppendMsg("a", nil, []byte("2")); err == nil {
		t.Fatal("write did not fail")
	}
	if len(ck.truncated) == 0 || ck.truncated[len(ck.truncated)-1] != 1 {
		t.Fatalf("truncated %v", ck.truncated)
	}
	if n := len(ck.checks); n != 2 || ck.checks[1].Seq != 2 {
		t.Fatalf("checks %+v", ck.checks)
	}
}

// failFS is a MemFS whose writes and syncs fail while fail is set.
type failFS struct {
	*MemFS
	fail atomic.Bool
}

func (f *failFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	h, err := f.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return failFile{h, f}, nil
}

type failFile struct {
	File
	fs *failFS
}

func (f failFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.fail.Load() {
		return 0, errors.New("injected write failure")
	}
	return f.File.WriteAt(p, off)
}

func (f failFile) Sync() error {
	if f.fs.fail.Load() {
		return errors.New("injected sync failure")
	}
	return f.File.Sync()
}

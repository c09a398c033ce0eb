package log

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bargemq/barge/internal/synctime"
)

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sealedLog writes 40 small messages and one chunked one (seq 41) over
// several 8 KiB segments of mfs, closes the log (which writes the sealed
// segments' index sidecars), and returns where two payloads are: seq 5's,
// and the second chunk of seq 41, with the segments holding them and the
// segment of seq 41's commit record.
func sealedLog(t *testing.T, mfs *MemFS) (small, chunk Extent, smallSeg, chunkSeg, commitSeg string) {
	t.Helper()
	l := mustOpen(t, "/s", Config{}, Options{FS: mfs, SegmentSize: 8 << 10})
	for i := range 40 {
		subj := fmt.Sprint("v.", i)
		if _, _, err := l.AppendMsg(subj, []byte(subj), payloadFor(subj, 700)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := appendPieces(l, "v.big", []byte("v.big"), payloadFor("v.big", 20000), 20000); err != nil {
		t.Fatal(err)
	}
	for range 10 { // the chunked message's segment gets sealed too
		if _, _, err := l.AppendMsg("v.tail", []byte("v.tail"), payloadFor("v.tail", 700)); err != nil {
			t.Fatal(err)
		}
	}
	var sm StoredMsg
	if err := l.LoadMsg(5, &sm); err != nil {
		t.Fatal(err)
	}
	small = sm.Extents[0]
	l.mu.RLock()
	smallSeg = l.mu.idx.get(5).seg.path
	l.mu.RUnlock()
	if err := l.LoadMsg(41, &sm); err != nil || len(sm.Extents) < 3 {
		t.Fatalf("chunked message: %v %d", err, len(sm.Extents))
	}
	chunk = sm.Extents[1]
	l.mu.RLock()
	commitSeg = l.mu.idx.get(41).seg.path
	for _, s := range l.mu.segs {
		if s.f == chunk.R {
			chunkSeg = s.path
		}
	}
	l.mu.RUnlock()
	// The sidecars are written in the background after rolls; a Close may
	// come before the last ones. Write them all, so Open replays every
	// sealed segment from its sidecar and reads no payload.
	if err := l.writeIndexFiles(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := mfs.List("/s")
	segs := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.HasSuffix(n, segSuffix) })
	idxs := slices.DeleteFunc(names, func(n string) bool { return !strings.HasSuffix(n, idxSuffix) })
	if len(idxs) != len(segs)-1 {
		t.Fatalf("sealed segments without an index sidecar: %v %v", segs, idxs)
	}
	return small, chunk, smallSeg, chunkSeg, commitSeg
}

func TestVerifyReportsDamagedPayloads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := NewMemFS()
		small, chunk, smallSeg, chunkSeg, commitSeg := sealedLog(t, mfs)
		mfs.Corrupt(smallSeg, small.Off+3)
		mfs.Corrupt(chunkSeg, chunk.Off+100)
		var logs syncBuffer
		l := mustOpen(t, "/s", Config{}, Options{FS: mfs, SegmentSize: 8 << 10,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		defer l.Close()
		l.mu.RLock()
		sealed := len(l.mu.segs) - 1
		l.mu.RUnlock()
		if got := indexedSegs(l); got != sealed {
			t.Fatalf("%d of %d sealed segments replayed from sidecars: Open read payloads", got, sealed)
		}
		<-l.VerifyDone()
		st := l.State()
		if !slices.Equal(st.Lost, []uint64{5, 41}) || st.Msgs != 51 {
			t.Fatalf("after verification: %+v", st)
		}
		var sm StoredMsg
		for _, seq := range []uint64{5, 41} {
			if err := l.LoadMsg(seq, &sm); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "damaged") {
				t.Fatalf("load of damaged %d: %v", seq, err)
			}
		}
		if seq, err := l.LoadNext(5, "", &sm); err != nil || seq != 6 {
			t.Fatalf("LoadNext skips the damaged message: %d %v", seq, err)
		}
		if seq, err := l.LoadNext(41, "v.>", &sm); err != nil || seq != 42 {
			t.Fatalf("LoadNext (wildcard) skips the damaged message: %d %v", seq, err)
		}
		if _, err := l.LoadNext(5, "v.4", &sm); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LoadNext (literal) skips the damaged message: %v", err)
		}
		out := logs.String()
		for _, want := range []string{
			`msg="log: damaged messages in a sealed segment" segment=` + smallSeg + ` first_seq=5 last_seq=5 count=1`,
			`segment=` + commitSeg + ` first_seq=41 last_seq=41 count=1`, // the segment of the message's record
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("log lacks %q:\n%s", want, out)
			}
		}
		// The damaged messages stay counted and can be removed.
		if err := l.Delete(5); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerifyDamagedMetadata(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := NewMemFS()
		small, _, smallSeg, _, _ := sealedLog(t, mfs)
		// A byte of seq 5's subject: covered by the record checksum, which
		// the sidecar replay checks against the sidecar's copy only.
		mfs.Corrupt(smallSeg, small.Off-5)
		l := mustOpen(t, "/s", Config{}, Options{FS: mfs, SegmentSize: 8 << 10})
		defer l.Close()
		<-l.VerifyDone()
		if st := l.State(); !slices.Equal(st.Lost, []uint64{5}) {
			t.Fatalf("lost %v", st.Lost)
		}
	})
}

// TestVerifyRate: the pass reads at most VerifyRate bytes per second of
// the injected clock, and Close stops it.
func TestVerifyRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := NewMemFS()
		sealedLog(t, mfs)
		const rate = 8 << 10
		start := time.Now()
		l := mustOpen(t, "/s", Config{}, Options{FS: mfs, SegmentSize: 8 << 10, VerifyRate: rate})
		var verified int64
		l.mu.RLock()
		active := l.mu.segs[len(l.mu.segs)-1]
		for i := range l.mu.idx.ents {
			if e := &l.mu.idx.ents[i]; e.live && e.first.id < active.id {
				verified += e.size
			}
		}
		l.mu.RUnlock()
		<-l.VerifyDone()
		want := time.Duration(float64(verified) / rate * float64(time.Second))
		if got := time.Since(start); got < want-verifySlack || got > want+time.Second {
			t.Fatalf("verifying %d bytes at %d B/s took %v, want about %v", verified, rate, got, want)
		}
		l.Close()

		slow := mustOpen(t, "/s", Config{}, Options{FS: mfs, SegmentSize: 8 << 10, VerifyRate: 100})
		synctime.Advance(time.Second)
		select {
		case <-slow.VerifyDone():
			t.Fatalf("a 100 B/s pass finished in a second")
		default:
		}
		if err := slow.Close(); err != nil {
			t.Fatal(err)
		}
		<-slow.VerifyDone()

		off := mustOpen(t, "/s", Config{}, Options{FS: mfs, SegmentSize: 8 << 10, VerifyRate: -1})
		<-off.VerifyDone()
		off.Close()
	})
}

// TestVerifyOnLoadBeforeThePass: a damaged message read before the
// background pass reaches it (the pass is held back by a slow rate) is
// refused by LoadMsg and skipped by LoadNext, and flagged as the pass would
// flag it; an intact one loads.
func TestVerifyOnLoadBeforeThePass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := NewMemFS()
		_, chunk, _, chunkSeg, _ := sealedLog(t, mfs)
		mfs.Corrupt(chunkSeg, chunk.Off+100)
		var logs syncBuffer
		l := mustOpen(t, "/s", Config{}, Options{FS: mfs, SegmentSize: 8 << 10, VerifyRate: 1,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		defer l.Close()
		var sm StoredMsg
		if err := l.LoadMsg(41, &sm); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("load of the damaged chunked message before the pass: %v", err)
		}
		if err := l.LoadMsg(42, &sm); err != nil {
			t.Fatalf("load of an intact message: %v", err)
		}
		if seq, err := l.LoadNext(41, "", &sm); err != nil || seq != 42 {
			t.Fatalf("LoadNext from 41: %d %v, want 42", seq, err)
		}
		if st := l.State(); !slices.Equal(st.Lost, []uint64{41}) {
			t.Fatalf("lost %v, want [41]", st.Lost)
		}
		if !strings.Contains(logs.String(), "damaged message found on read") {
			t.Fatalf("no log line: %s", logs.String())
		}
	})
}

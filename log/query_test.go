package log

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bargemq/barge/internal/synctime"
)

func TestQueries(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		defer l.Close()
		var times []int64
		for i := range 12 {
			_, ts, err := l.AppendMsg(fmt.Sprintf("q.%d.%s", i%3, []string{"a", "b"}[i%2]), nil, []byte{byte(i)})
			if err != nil {
				t.Fatal(err)
			}
			if len(times) > 0 && ts < times[len(times)-1] {
				t.Fatalf("timestamp went back")
			}
			times = append(times, ts)
		}
		if seq, err := l.LastSeqForSubject("q.1.b"); err != nil || seq != 8 {
			t.Fatalf("last for subject: %d %v", seq, err)
		}
		if seq, err := l.LastSeqForSubject("q.*.a"); err != nil || seq != 11 {
			t.Fatalf("last for wildcard: %d %v", seq, err)
		}
		if _, err := l.LastSeqForSubject("nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing subject: %v", err)
		}
		var sm StoredMsg
		if seq, err := l.LoadNext(5, "q.2.*", &sm); err != nil || seq != 6 || sm.Subject != "q.2.b" {
			t.Fatalf("load next wildcard: %d %v %q", seq, err, sm.Subject)
		}
		if seq, err := l.LoadNext(5, "q.0.a", &sm); err != nil || seq != 7 {
			t.Fatalf("load next literal: %d %v", seq, err)
		}
		if seq, err := l.LoadNext(3, ">", &sm); err != nil || seq != 3 {
			t.Fatalf("load next all: %d %v", seq, err)
		}
		if _, err := l.LoadNext(13, "", &sm); !errors.Is(err, ErrNotFound) {
			t.Fatalf("load next past end: %v", err)
		}
		if seq := l.SeqAtTime(time.Unix(0, times[4])); seq > 5 {
			t.Fatalf("seq at time: %d", seq)
		}
		if seq := l.SeqAtTime(time.Unix(0, times[11]+1)); seq != 13 {
			t.Fatalf("seq after last time: %d", seq)
		}
		if seq := l.SeqAtTime(time.Time{}); seq != 1 {
			t.Fatalf("seq at zero time: %d", seq)
		}
	})
}

func TestWaitWakesOnCommit(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- l.Wait(ctx, 3) }()
		for i := range 3 {
			select {
			case err := <-done:
				t.Fatalf("woke early after %d commits: %v", i, err)
			default:
			}
			l.AppendMsg("w", nil, nil)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		cctx, ccancel := context.WithCancel(context.Background())
		ccancel()
		if err := l.Wait(cctx, 100); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
		go func() { done <- l.Wait(ctx, 100) }()
		l.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("wait across close: %v", err)
		}
	})
}

func TestMaxAgeExpires(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if k.name == "file" {
				t.Skip("synctest bubbles cannot own OS files across goroutines cleanly; memfs covers the same code")
			}
			synctest.Test(t, func(t *testing.T) {
				l, _ := k.open(t, "", Config{MaxAge: time.Minute}, Options{})
				defer l.Close()
				l.AppendMsg("a", nil, []byte("1"))
				synctime.Advance(30 * time.Second)
				l.AppendMsg("a", nil, []byte("2"))
				synctest.Wait()
				if st := l.State(); st.Msgs != 2 {
					t.Fatalf("early expiry %+v", st)
				}
				synctime.Advance(31 * time.Second)
				if st := l.State(); st.Msgs != 1 || st.FirstSeq != 2 {
					t.Fatalf("first should expire %+v", st)
				}
				synctime.Advance(30 * time.Second)
				if st := l.State(); st.Msgs != 0 || st.FirstSeq != 3 {
					t.Fatalf("all should expire %+v", st)
				}
			})
		})
	}
}

func TestConcurrentAppenders(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{SegmentSize: 64 << 10})
		defer l.Close()
		const writers, each = 8, 20
		type rec struct {
			subj string
			size int
		}
		var mu sync.Mutex
		got := map[uint64]rec{}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					subj := fmt.Sprintf("c.%d.%d", w, i)
					size := (w*each + i) * 97 % 20000
					seq, err := appendPieces(l, subj, []byte(subj), payloadFor(subj, size), 1500+w)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					got[seq] = rec{subj, size}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(got) != writers*each {
			t.Fatalf("%d distinct seqs", len(got))
		}
		for seq := uint64(1); seq <= writers*each; seq++ {
			r, ok := got[seq]
			if !ok {
				t.Fatalf("seq %d missing", seq)
			}
			checkMsg(t, l, seq, r.subj, []byte(r.subj), payloadFor(r.subj, r.size))
		}
	})
}

func TestSegmentsReclaimed(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{MaxMsgs: 10}, Options{SegmentSize: 8 << 10})
		defer l.Close()
		for i := range 200 {
			if _, err := appendPieces(l, "r", nil, payloadFor(fmt.Sprint(i), 1000+i%7*1000), 4096); err != nil {
				t.Fatal(err)
			}
		}
		st := l.State()
		if st.Msgs != 10 || st.Segments > 8 {
			t.Fatalf("segments not reclaimed: %+v", st)
		}
		for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
			i := int(seq - 1)
			checkMsg(t, l, seq, "r", nil, payloadFor(fmt.Sprint(i), 1000+i%7*1000))
		}
	})
}

func TestCompressionS2(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{Compression: CompressionS2}, Options{})
		defer l.Close()
		text := []byte("compressible compressible compressible ")
		var big []byte
		for len(big) < 50000 {
			big = append(big, text...)
		}
		var want int64
		for i, p := range [][]byte{nil, text, big, payloadFor("rand", 9000)} {
			want += MsgSize(l.storage, 1, 1, int64(len(p)))
			seq, err := appendPieces(l, "z", []byte("h"), p, 777)
			if err != nil {
				t.Fatal(err)
			}
			checkMsg(t, l, seq, "z", []byte("h"), p)
			_ = i
		}
		if st := l.State(); st.Bytes != uint64(want) {
			t.Fatalf("bytes count uncompressed sizes: %+v", st)
		}
	})
}

func TestLoadAllocFree(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		defer l.Close()
		l.AppendMsg("a", []byte("hdr"), payloadFor("a", 1000))
		appendPieces(l, "b", []byte("hdr"), payloadFor("b", 50000), 50000)
		var sm StoredMsg
		dst := make([]byte, 0, 64<<10)
		for _, seq := range []uint64{1, 2} {
			l.LoadMsg(seq, &sm)
			allocs := testing.AllocsPerRun(50, func() {
				if err := l.LoadMsg(seq, &sm); err != nil {
					t.Fatal(err)
				}
				var err error
				if dst, err = sm.ReadPayload(dst[:0]); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("seq %d: %v allocs per load", seq, allocs)
			}
		}
	})
}

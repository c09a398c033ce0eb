package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bargemq/barge/internal/diskfull"
	"github.com/bargemq/barge/internal/synctime"
	"github.com/bargemq/barge/log"
)

// Full-disk tests run the log on a MemFS behind a diskfull.FS (the FS seam
// with a capacity), inside a synctest bubble so the retry backoff passes on
// the fake clock.

func payload(i, n int) []byte {
	b := bytes.Repeat([]byte{byte('a' + i%26)}, n)
	copy(b, fmt.Sprintf("m%06d:", i))
	return b
}

func openLog(t *testing.T, fs log.FS, opts log.Options) *log.Log {
	t.Helper()
	opts.FS = fs
	if opts.ChunkSize == 0 {
		opts.ChunkSize = 4096
	}
	l, err := log.Open("/s", log.Config{}, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// appendMsg stores payload on subj in pieces of 1000 bytes (a chunked
// message when it passes the chunk size).
func appendMsg(l *log.Log, subj string, p []byte) (uint64, error) {
	a, err := l.Append(subj, nil, int64(len(p)))
	if err != nil {
		return 0, err
	}
	for rest := p; len(rest) > 0; {
		n := min(1000, len(rest))
		if _, err := a.Write(rest[:n]); err != nil {
			a.Abort()
			return 0, err
		}
		rest = rest[n:]
	}
	seq, _, err := a.Commit()
	return seq, err
}

func wantNoSpace(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, log.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ErrNoSpace wrapping ENOSPC", err)
	}
}

// checkAcked reopens the log from a power-loss image of mfs and checks that
// every acknowledged message is there with its payload, and nothing else.
func checkAcked(t *testing.T, mfs *log.MemFS, acked map[uint64][]byte) {
	t.Helper()
	rl := openLog(t, mfs.CrashClone(nil), log.Options{VerifyRate: -1})
	defer rl.Close()
	st := rl.State()
	if st.Msgs != uint64(len(acked)) || st.LastSeq != uint64(len(acked)) || len(st.Lost) != 0 || st.NumDeleted != 0 {
		t.Fatalf("recovered state %+v, want %d messages without gaps", st, len(acked))
	}
	var sm log.StoredMsg
	for seq, want := range acked {
		if err := rl.LoadMsg(seq, &sm); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		got, err := sm.ReadPayload(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("seq %d: payload differs (%v)", seq, err)
		}
	}
}

func TestFullDiskRollsBackAndResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := log.NewMemFS()
		dfs := diskfull.New(mfs, -1)
		l := openLog(t, dfs, log.Options{SegmentSize: 64 << 10})
		acked := map[uint64][]byte{}
		i := 0
		publish := func(n int) (uint64, error) {
			i++
			p := payload(i, n)
			seq, err := appendMsg(l, "s", p)
			if err == nil {
				acked[seq] = p
			}
			return seq, err
		}
		for range 20 {
			if _, err := publish(300); err != nil {
				t.Fatal(err)
			}
		}
		dfs.Fill(100) // room for part of a record: a torn write
		_, err := publish(300)
		wantNoSpace(t, err)
		// A chunked message fails as its chunks are written.
		_, err = publish(10_000)
		wantNoSpace(t, err)
		used := dfs.Used()
		// During the backoff writes are refused without touching the disk.
		_, err = publish(10)
		wantNoSpace(t, err)
		if dfs.Used() != used {
			t.Fatalf("a refused write reached the disk")
		}
		if st := l.State(); st.LastSeq != 20 || st.Msgs != 20 {
			t.Fatalf("state after failures %+v", st)
		}
		// Retried after the backoff, still full: fails again.
		synctime.Advance(time.Second)
		_, err = publish(300)
		wantNoSpace(t, err)

		dfs.SetCapacity(-1) // space returns
		synctime.Advance(time.Second)
		seq, err := publish(300)
		if err != nil || seq != 21 {
			t.Fatalf("after space returned: seq %d, %v (want 21: failed publishes take no sequence)", seq, err)
		}
		if seq, err := publish(10_000); err != nil || seq != 22 {
			t.Fatalf("chunked after space returned: seq %d, %v", seq, err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		checkAcked(t, mfs, acked)
	})
}

// TestFullDiskConcurrentNothingAckedLost runs writers (small and chunked
// messages, Commit and CommitAsync) while the disk fills and frees again:
// every acknowledged message survives a power loss, with its payload, and
// the sequences stay contiguous.
func TestFullDiskConcurrentNothingAckedLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := log.NewMemFS()
		dfs := diskfull.New(mfs, -1)
		l := openLog(t, dfs, log.Options{SegmentSize: 32 << 10})
		var mu sync.Mutex
		acked := map[uint64][]byte{}
		var failures int
		const writers, each = 6, 60
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for k := 0; k < each; {
					id := w*1000 + k
					size := 200 + (id%7)*150
					if k%5 == 4 {
						size = 9000 // chunked
					}
					p := payload(id, size)
					var seq uint64
					var err error
					if w%2 == 0 {
						seq, err = appendMsg(l, fmt.Sprint("w.", w), p)
					} else {
						seq, err = commitAsync(l, fmt.Sprint("w.", w), p)
					}
					if err != nil {
						if !errors.Is(err, log.ErrNoSpace) {
							t.Errorf("writer %d: %v", w, err)
							return
						}
						mu.Lock()
						failures++
						mu.Unlock()
						synctime.Pass(20 * time.Millisecond) // the client retries later
						continue
					}
					mu.Lock()
					if _, dup := acked[seq]; dup {
						t.Errorf("seq %d acknowledged twice", seq)
					}
					acked[seq] = p
					mu.Unlock()
					k++
					synctime.Pass(2 * time.Millisecond) // writers overlap the disk filling

				}
			})
		}
		for range 3 {
			synctime.Pass(20 * time.Millisecond)
			dfs.Fill(500)
			synctime.Pass(30 * time.Millisecond)
			dfs.SetCapacity(-1)
		}
		wg.Wait()
		if failures == 0 {
			t.Fatalf("the disk never filled under the writers")
		}
		t.Logf("%d acknowledged, %d refused", len(acked), failures)
		if err := l.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		checkAcked(t, mfs, acked)
	})
}

func commitAsync(l *log.Log, subj string, p []byte) (uint64, error) {
	a, err := l.Append(subj, nil, int64(len(p)))
	if err != nil {
		return 0, err
	}
	if _, err := a.Write(p); err != nil {
		a.Abort()
		return 0, err
	}
	type res struct {
		seq uint64
		err error
	}
	ch := make(chan res, 1)
	if _, _, err := a.CommitAsync(func(seq uint64, _ int64, err error) { ch <- res{seq, err} }); err != nil {
		return 0, err
	}
	r := <-ch
	return r.seq, r.err
}

// fill writes n messages of size bytes on subjects subj(i).
func fill(t *testing.T, l *log.Log, n, size int, subj func(int) string) {
	t.Helper()
	for i := range n {
		if _, _, err := l.AppendMsg(subj(i), nil, payload(i, size)); err != nil {
			t.Fatal(err)
		}
	}
}

func all(int) string { return "s" }

func TestPurgeOnFullDiskFreesSpace(t *testing.T) {
	for _, seg := range []int64{4 << 10, 1 << 20} { // many segments; only the active one (reset in place)
		t.Run(fmt.Sprint("segment=", seg), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mfs := log.NewMemFS()
				dfs := diskfull.New(mfs, -1)
				l := openLog(t, dfs, log.Options{SegmentSize: seg})
				fill(t, l, 50, 500, all)
				dfs.Fill(0)
				_, _, err := l.AppendMsg("s", nil, payload(99, 500))
				wantNoSpace(t, err)
				before := dfs.Used()
				n, err := l.Purge(log.PurgeRequest{})
				if err != nil || n != 50 {
					t.Fatalf("purge on a full disk: %d, %v", n, err)
				}
				if after := dfs.Used(); after > before/4 {
					t.Fatalf("purge freed too little: %d -> %d bytes", before, after)
				}
				st := l.State()
				if st.Msgs != 0 || st.LastSeq != 50 || st.FirstSeq != 51 {
					t.Fatalf("state after purge %+v", st)
				}
				// The space it freed takes writes at once.
				if seq, _, err := l.AppendMsg("s", nil, payload(51, 500)); err != nil || seq != 51 {
					t.Fatalf("append after purge: %d, %v", seq, err)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				rl := openLog(t, mfs.CrashClone(nil), log.Options{VerifyRate: -1})
				defer rl.Close()
				if st := rl.State(); st.Msgs != 1 || st.FirstSeq != 51 || st.LastSeq != 51 || len(st.Lost) != 0 {
					t.Fatalf("recovered %+v", st)
				}
			})
		})
	}
}

// TestRemovalOnFullDiskThatFreesNothing: a purge or delete that leaves
// every segment in use fails with the no-space error and changes nothing.
func TestRemovalOnFullDiskThatFreesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := log.NewMemFS()
		dfs := diskfull.New(mfs, -1)
		l := openLog(t, dfs, log.Options{SegmentSize: 4 << 10})
		defer l.Close()
		fill(t, l, 40, 500, func(i int) string { return fmt.Sprint("s.", i%2) })
		dfs.Fill(0)
		_, err := l.Purge(log.PurgeRequest{Subject: "s.1"})
		wantNoSpace(t, err)
		wantNoSpace(t, l.Delete(20))
		if st := l.State(); st.Msgs != 40 {
			t.Fatalf("a failed removal changed the log: %+v", st)
		}
		// The front message alone does not free its segment either; the
		// whole front segment does.
		wantNoSpace(t, l.Delete(1))
		n, err := l.Purge(log.PurgeRequest{Seq: 11})
		if err != nil || n != 10 {
			t.Fatalf("purge of the front: %d, %v", n, err)
		}
	})
}

func TestDeleteOnFullDiskResetsLastMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := log.NewMemFS()
		dfs := diskfull.New(mfs, -1)
		l := openLog(t, dfs, log.Options{})
		fill(t, l, 3, 2000, all)
		if err := l.Delete(1); err != nil {
			t.Fatal(err)
		}
		if err := l.Delete(2); err != nil {
			t.Fatal(err)
		}
		dfs.Fill(0)
		if err := l.Delete(3); err != nil {
			t.Fatalf("delete of the last message on a full disk: %v", err)
		}
		if st := l.State(); st.Msgs != 0 || st.LastSeq != 3 {
			t.Fatalf("state %+v", st)
		}
		if dfs.Used() > 200 {
			t.Fatalf("the active segment was not reset: %d bytes used", dfs.Used())
		}
		if seq, _, err := l.AppendMsg("s", nil, []byte("x")); err != nil || seq != 4 {
			t.Fatalf("append: %d, %v", seq, err)
		}
		l.Close()
		rl := openLog(t, mfs.CrashClone(nil), log.Options{VerifyRate: -1})
		defer rl.Close()
		if st := rl.State(); st.Msgs != 1 || st.FirstSeq != 4 || st.LastSeq != 4 {
			t.Fatalf("recovered %+v", st)
		}
	})
}

// TestPurgeOnFullDiskCrashBeforeRecord covers the documented window: the
// disk stays full even after a purge freed whole segments, so its records
// cannot be written. The purge stands in memory; a crash then keeps
// LastSeq and never brings back a message of a removed segment, but the
// purged messages of the segments kept come back. Once space returns the
// records are written (at Close here) and the purge is complete.
func TestPurgeOnFullDiskCrashBeforeRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mfs := log.NewMemFS()
		dfs := diskfull.New(mfs, -1)
		l := openLog(t, dfs, log.Options{SegmentSize: 4 << 10})
		// b only at first, then a and b: purging b frees the front.
		fill(t, l, 60, 500, func(i int) string {
			if i < 20 || i%2 == 1 {
				return "b"
			}
			return "a"
		})
		dfs.SetCapacity(0) // nothing can be written, even after freeing
		n, err := l.Purge(log.PurgeRequest{Subject: "b"})
		if err != nil || n != 40 {
			t.Fatalf("purge: %d, %v", n, err)
		}
		if st := l.State(); st.Msgs != 20 {
			t.Fatalf("state %+v", st)
		}
		crashed := openLog(t, mfs.CrashClone(nil), log.Options{VerifyRate: -1})
		st := crashed.State()
		subs := crashed.SubjectsState("b")
		crashed.Close()
		if st.LastSeq != 60 || len(st.Lost) != 0 {
			t.Fatalf("after a crash: %+v", st)
		}
		if got := subs["b"]; got.Msgs == 0 || got.Msgs >= 40 || got.First == 1 {
			t.Fatalf("after a crash the purged b messages of the kept segments come back, those of removed ones do not: %+v", got)
		}
		dfs.SetCapacity(-1)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		rl := openLog(t, mfs.CrashClone(nil), log.Options{VerifyRate: -1})
		defer rl.Close()
		if st := rl.State(); st.Msgs != 20 || st.LastSeq != 60 || len(rl.SubjectsState("b")) != 0 {
			t.Fatalf("after the records were written: %+v", st)
		}
	})
}

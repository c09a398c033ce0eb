package log

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestCommitAsyncOrderAndDurability: sequences are assigned in call order
// before CommitAsync returns; done reports each once, after the message is
// visible; a large (chunked) message commits the same way.
func TestCommitAsyncOrderAndDurability(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		defer l.Close()
		type res struct {
			seq uint64
			err error
		}
		done := make(chan res, 16)
		var want []uint64
		for i := 0; i < 10; i++ {
			size := 10
			if i == 5 {
				size = 3*4096 + 17 // chunked
			}
			a, err := l.Append("s", nil, int64(size))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Write(make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			seq, ts, err := a.CommitAsync(func(seq uint64, ts int64, err error) {
				if err == nil {
					var sm StoredMsg
					if lerr := l.LoadMsg(seq, &sm); lerr != nil {
						err = lerr
					}
				}
				done <- res{seq, err}
			})
			if err != nil || ts == 0 {
				t.Fatalf("commit async: %v ts %d", err, ts)
			}
			want = append(want, seq)
		}
		for i, s := range want {
			if s != uint64(i+1) {
				t.Fatalf("seq %d = %d", i, s)
			}
		}
		got := map[uint64]bool{}
		deadline := time.After(10 * time.Second)
		for len(got) < len(want) {
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatalf("done: %v", r.err)
				}
				if got[r.seq] {
					t.Fatalf("done twice for %d", r.seq)
				}
				got[r.seq] = true
			case <-deadline:
				t.Fatal("timed out")
			}
		}
		if st := l.State(); st.Msgs != 10 || st.LastSeq != 10 {
			t.Fatalf("state %+v", st)
		}
	})
}

// TestCommitAsyncErrors: a short payload fails synchronously and done is
// never called.
func TestCommitAsyncErrors(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{}, Options{})
	defer l.Close()
	a, err := l.Append("s", nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("abc"))
	called := false
	if _, _, err := a.CommitAsync(func(uint64, int64, error) { called = true }); !errors.Is(err, ErrSize) {
		t.Fatalf("err %v, want ErrSize", err)
	}
	if called {
		t.Fatal("done called on a synchronous failure")
	}
	if l.State().LastSeq != 0 {
		t.Fatal("a sequence was used")
	}
}

// TestDeleted lists interior holes only.
func TestDeleted(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{}, Options{})
	defer l.Close()
	for i := 0; i < 6; i++ {
		if _, _, err := l.AppendMsg("s", nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if d := l.Deleted(0); len(d) != 0 {
		t.Fatalf("deleted %v", d)
	}
	for _, s := range []uint64{1, 3, 5} {
		if err := l.Delete(s); err != nil {
			t.Fatal(err)
		}
	}
	if d := l.Deleted(0); len(d) != 2 || d[0] != 3 || d[1] != 5 {
		t.Fatalf("deleted %v, want [3 5]", d)
	}
	if d := l.Deleted(1); len(d) != 1 {
		t.Fatalf("deleted(1) %v", d)
	}
}

// TestCommitAsyncBurst: a burst of async commits is called back in commit
// order, by the log's notifier rather than a goroutine per message, and
// Close returns only after every callback has returned.
func TestCommitAsyncBurst(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		const n = 2000
		var got []uint64 // appended by the notifier only; read after Close
		before := runtime.NumGoroutine()
		peak := 0
		for i := 0; i < n; i++ {
			a, err := l.Append("s", nil, 8)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Write(make([]byte, 8)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.CommitAsync(func(seq uint64, _ int64, err error) {
				if err != nil {
					t.Errorf("done %d: %v", seq, err)
				}
				got = append(got, seq)
			}); err != nil {
				t.Fatal(err)
			}
			peak = max(peak, runtime.NumGoroutine()-before)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d callbacks before Close returned, want %d", len(got), n)
		}
		for i, s := range got {
			if s != uint64(i+1) {
				t.Fatalf("callback %d for seq %d: not in commit order", i, s)
			}
		}
		if peak > 4 {
			t.Fatalf("%d extra goroutines during a burst of async commits", peak)
		}
	})
}

// TestAsyncBatchDoneAfterCallbacks: the batch hook runs after done
// callbacks, on the same goroutine, so every done has run by the last call.
func TestAsyncBatchDoneAfterCallbacks(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		var dones, seen int // notifier goroutine only
		hook := make(chan int, 64)
		l, _ := k.open(t, "", Config{}, Options{AsyncBatchDone: func() {
			if dones == seen {
				t.Error("AsyncBatchDone called with no new done callback")
			}
			seen = dones
			hook <- dones
		}})
		defer l.Close()
		const n = 20
		for range n {
			a, err := l.Append("s", nil, 4)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Write([]byte("abcd")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.CommitAsync(func(uint64, int64, error) { dones++ }); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.After(10 * time.Second)
		for {
			select {
			case d := <-hook:
				if d == n {
					return
				}
			case <-deadline:
				t.Fatal("AsyncBatchDone never saw every done callback")
			}
		}
	})
}

package log

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// countFS wraps an FS and counts WriteAt calls on its files.
type countFS struct {
	FS
	writes *atomic.Int64
}

func (c countFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countFile{File: f, writes: c.writes}, nil
}

type countFile struct {
	File
	writes *atomic.Int64
}

func (f countFile) WriteAt(b []byte, off int64) (int, error) {
	f.writes.Add(1)
	return f.File.WriteAt(b, off)
}

// Small records committed together reach the file in a few large writes,
// not one (or two) per record, and every one of them is durable and
// readable, also after a reopen.
func TestSmallRecordsBufferedPerBatch(t *testing.T) {
	dir := t.TempDir()
	var writes atomic.Int64
	fs := countFS{FS: OSFS{}, writes: &writes}
	l := mustOpen(t, dir, Config{}, Options{FS: fs})
	const n = 200
	var wg sync.WaitGroup
	wg.Add(n)
	var failed atomic.Int64
	before := writes.Load()
	for i := range n {
		body := fmt.Appendf(nil, "message %03d", i)
		a, err := l.Append("s", nil, int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write(body); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.CommitAsync(func(seq uint64, _ int64, err error) {
			if err != nil {
				failed.Add(1)
			} else {
				var sm StoredMsg
				if lerr := l.LoadMsg(seq, &sm); lerr != nil {
					failed.Add(1)
				}
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d commits failed or were unreadable when acknowledged", failed.Load())
	}
	if w := writes.Load() - before; w >= n {
		t.Fatalf("%d small records took %d writes, want far fewer", n, w)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Config{}, Options{})
	defer l.Close()
	for seq := uint64(1); seq <= n; seq++ {
		var sm StoredMsg
		if err := l.LoadMsg(seq, &sm); err != nil {
			t.Fatalf("after reopen, seq %d: %v", seq, err)
		}
		p, err := sm.ReadPayload(nil)
		if err != nil || string(p) != fmt.Sprintf("message %03d", seq-1) {
			t.Fatalf("after reopen, seq %d = %q, %v", seq, p, err)
		}
	}
}

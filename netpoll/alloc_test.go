package netpoll

import (
	"io"
	"testing"
)

// A small Write to a connection whose queue is empty allocates nothing once
// warm: it is one non-blocking write(2) under the connection's mutex.
func TestSmallWriteAllocatesNothing(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	go func() { _, _ = io.Copy(io.Discard, nc) }()
	msg := []byte("MSG foo.bar 1 5\r\nhello\r\n")
	for range 100 {
		must(t, ts.tr.Write(msg))
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := ts.tr.Write(msg); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("small Write allocates %.2f times per call, want 0", allocs)
	}
}

// Pushing and popping queue items reuses the deque's slice.
func TestDequeAllocatesNothing(t *testing.T) {
	var d deque
	for range 64 {
		d.push(item{kind: itemFile, n: 1})
	}
	for d.len() > 0 {
		d.popFront()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for range 32 {
			d.push(item{kind: itemFile, n: 1})
		}
		for range 31 {
			d.popFront()
		}
		d.push(item{kind: itemFile, n: 1})
		for d.len() > 0 {
			d.popFront()
		}
	})
	if allocs != 0 {
		t.Fatalf("deque allocates %.2f times per cycle, want 0", allocs)
	}
}

// The deque keeps FIFO order across compaction and slot removal.
func TestDequeOrderCompactionAndRemoval(t *testing.T) {
	var d deque
	next, want := int64(0), int64(0)
	slots := map[int64]*slot{}
	for round := range 50 {
		for range 7 + round%5 {
			it := item{kind: itemFile, n: next}
			if next%5 == 0 {
				sl := &slot{}
				slots[next] = sl
				it = item{kind: itemSlot, slot: sl, n: next}
			}
			d.push(it)
			next++
		}
		if sl, ok := slots[next-1]; ok && round%2 == 0 {
			if !d.removeSlot(sl) {
				t.Fatal("slot not found")
			}
			delete(slots, next-1)
			next--
		}
		for range 5 {
			if d.len() == 0 {
				break
			}
			it := d.popFront()
			if it.n != want {
				t.Fatalf("popped %d, want %d", it.n, want)
			}
			want++
		}
	}
	if d.removeSlot(&slot{}) {
		t.Fatal("removed a slot that was never queued")
	}
}

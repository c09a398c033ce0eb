package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/bargemq/barge/broker"
)

// Deferred writes wait in the queue until Flush, keep their order with
// plain Writes made in between, and all reach the peer after Flush.
func TestWriteDeferredWaitsForFlush(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	d, ok := ts.tr.(broker.Deferrer)
	if !ok {
		t.Fatal("netpoll transport does not implement broker.Deferrer")
	}
	var want bytes.Buffer
	for i := range 100 {
		m := fmt.Appendf(nil, "MSG a 1 3\r\n%03d\r\n", i)
		want.Write(m)
		must(t, d.WriteDeferred(m))
	}
	if p := ts.tr.Pending(); p != int64(want.Len()) {
		t.Fatalf("Pending before Flush = %d, want %d (nothing sent yet)", p, want.Len())
	}
	last := []byte("MSG a 1 3\r\nend\r\n")
	want.Write(last)
	must(t, ts.tr.Write(last)) // queued behind the deferred ones
	d.Flush()
	d.Flush() // a second Flush is harmless
	got := readN(t, nc, want.Len())
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("peer got %q, want %q", got, want.Bytes())
	}
	waitFor(t, "queue to empty", func() bool { return ts.tr.Pending() == 0 })
}

// A batch of deferred small writes and its Flush allocate nothing once warm.
func TestWriteDeferredFlushAllocatesNothing(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	go func() { _, _ = io.Copy(io.Discard, nc) }()
	d := ts.tr.(broker.Deferrer)
	msg := []byte("MSG foo.bar 1 5\r\nhello\r\n")
	batch := func() {
		for range 16 {
			if err := d.WriteDeferred(msg); err != nil {
				t.Fatal(err)
			}
		}
		d.Flush()
	}
	for range 100 {
		batch()
	}
	if allocs := testing.AllocsPerRun(200, batch); allocs != 0 {
		t.Fatalf("WriteDeferred×16 + Flush allocates %.2f times, want 0", allocs)
	}
}

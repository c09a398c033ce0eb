package netpoll

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
)

// record is a self-checking frame: [writer u8][seq u32][len u32][payload],
// payload byte j = byte(writer*31 + seq*7 + j).
func record(writer, seq, n int) []byte {
	b := make([]byte, 9+n)
	b[0] = byte(writer)
	binary.BigEndian.PutUint32(b[1:], uint32(seq))
	binary.BigEndian.PutUint32(b[5:], uint32(n))
	for j := range n {
		b[9+j] = byte(writer*31 + seq*7 + j)
	}
	return b
}

// parseRecords splits b into records, checking each payload; it returns
// (writer, seq) pairs in arrival order.
func parseRecords(t *testing.T, b []byte) [][2]int {
	t.Helper()
	var out [][2]int
	for len(b) > 0 {
		if len(b) < 9 {
			t.Fatalf("truncated record header (%d bytes left)", len(b))
		}
		w, seq, n := int(b[0]), int(binary.BigEndian.Uint32(b[1:])), int(binary.BigEndian.Uint32(b[5:]))
		if len(b) < 9+n {
			t.Fatalf("truncated record w=%d seq=%d n=%d (have %d)", w, seq, n, len(b)-9)
		}
		for j := range n {
			if b[9+j] != byte(w*31+seq*7+j) {
				t.Fatalf("record w=%d seq=%d corrupt at byte %d", w, seq, j)
			}
		}
		out = append(out, [2]int{w, seq})
		b = b[9+n:]
	}
	return out
}

// Writes from many goroutines on one connection arrive whole and, per
// goroutine, in call order, through the fast path, the memory queue and the
// spill file alike.
func TestWriteOrderManyGoroutines(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 256 << 10})
	nc, ts := h.dial(t)

	const writers, perWriter = 8, 300
	var total int
	sizes := make([][]int, writers)
	for w := range writers {
		r := rand.New(rand.NewPCG(uint64(w), 1))
		for range perWriter {
			n := r.IntN(2048)
			if r.IntN(20) == 0 {
				n = 64<<10 + r.IntN(200<<10)
			}
			sizes[w] = append(sizes[w], n)
			total += 9 + n
		}
	}
	got := make(chan []byte, 1)
	go func() { got <- readN(t, nc, total) }()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for seq, n := range sizes[w] {
				if err := ts.tr.Write(record(w, seq, n)); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	recs := parseRecords(t, <-got)
	next := make([]int, writers)
	for _, r := range recs {
		if r[1] != next[r[0]] {
			t.Fatalf("writer %d: got seq %d, want %d", r[0], r[1], next[r[0]])
		}
		next[r[0]]++
	}
	for w, n := range next {
		if n != perWriter {
			t.Fatalf("writer %d: %d records, want %d", w, n, perWriter)
		}
	}
	waitFor(t, "queue to drain", func() bool { return ts.tr.Pending() == 0 })
}

// Everything written after BeginStream waits behind the slot, and a later
// stream waits behind an earlier one.
func TestStreamSlotOrdering(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	tr := ts.tr
	if tr.RemoteAddr() != nc.LocalAddr().String() {
		t.Fatalf("RemoteAddr() = %q, want %q", tr.RemoteAddr(), nc.LocalAddr())
	}

	s1, err := tr.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	must(t, tr.Write([]byte("A")))
	s2, err := tr.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	must(t, s2.Write([]byte("[s2-1]")))
	must(t, s1.Write([]byte("[s1-1]")))
	must(t, tr.Write([]byte("B")))
	must(t, s1.Write([]byte("[s1-2]")))
	must(t, s2.Write([]byte("[s2-2]")))
	s2.End()
	must(t, tr.Write([]byte("C")))
	s1.End()
	if err := s1.Write([]byte("late")); !errors.Is(err, ErrStreamDone) {
		t.Fatalf("Write after End: %v, want ErrStreamDone", err)
	}
	want := "[s1-1][s1-2]A[s2-1][s2-2]BC"
	if got := string(readN(t, nc, len(want))); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Streams written piece by piece from several goroutines, interleaved with
// plain writes, reach the peer contiguously.
func TestStreamSlotsInterleavedWriters(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 128 << 10})
	nc, ts := h.dial(t)
	tr := ts.tr

	const writers, perWriter = 6, 60
	var total int
	var plan [writers][]int
	for w := range writers {
		r := rand.New(rand.NewPCG(uint64(w), 2))
		for range perWriter {
			n := r.IntN(40 << 10)
			plan[w] = append(plan[w], n)
			total += 9 + n
		}
	}
	got := make(chan []byte, 1)
	go func() { got <- readN(t, nc, total) }()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for seq, n := range plan[w] {
				rec := record(w, seq, n)
				if w%2 == 0 {
					if err := tr.Write(rec); err != nil {
						t.Errorf("Write: %v", err)
						return
					}
					continue
				}
				st, err := tr.BeginStream()
				if err != nil {
					t.Errorf("BeginStream: %v", err)
					return
				}
				for len(rec) > 0 {
					k := min(len(rec), 1+r.IntN(8<<10))
					if err := st.Write(rec[:k]); err != nil {
						t.Errorf("Stream.Write: %v", err)
						return
					}
					rec = rec[k:]
				}
				st.End()
			}
		})
	}
	wg.Wait()
	recs := parseRecords(t, <-got)
	next := make([]int, writers)
	for _, r := range recs {
		if r[1] != next[r[0]] {
			t.Fatalf("writer %d: got seq %d, want %d", r[0], r[1], next[r[0]])
		}
		next[r[0]]++
	}
}

// Aborting a stream none of whose bytes went out drops it silently, whether
// it held queued pieces or not.
func TestStreamAbortBeforeBytes(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	tr := ts.tr

	head, err := tr.BeginStream() // blocks everything behind it
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := tr.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	must(t, doomed.Write([]byte("never")))
	must(t, tr.Write([]byte("-behind")))
	doomed.Abort()
	must(t, head.Write([]byte("head")))
	head.End()
	empty, err := tr.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	empty.Abort()
	must(t, tr.Write([]byte("-after")))

	want := "head-behind-after"
	if got := string(readN(t, nc, len(want))); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if ts.closes.Load() != 0 {
		t.Fatal("connection closed by an abort before any byte went out")
	}
	waitFor(t, "queue to drain", func() bool { return tr.Pending() == 0 })
}

// Aborting a stream after some of its bytes went out closes the connection:
// the peer sees the partial bytes then EOF, never a following message.
func TestStreamAbortAfterBytes(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	tr := ts.tr

	st, err := tr.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	must(t, st.Write([]byte("partial")))
	must(t, tr.Write([]byte("next-message")))
	st.Abort()
	if got := string(readAll(t, nc)); got != "partial" {
		t.Fatalf("peer got %q, want %q then EOF", got, "partial")
	}
	if err := ts.waitClosed(t); !errors.Is(err, ErrStreamAborted) {
		t.Fatalf("Closed(%v), want ErrStreamAborted", err)
	}
	if err := tr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after close: %v, want ErrClosed", err)
	}
}

// WriteFile extents are read at drain time and keep their place in the queue.
func TestWriteFileOrdered(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	tr := ts.tr.(*conn)

	content := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes
	f, err := os.Create(filepath.Join(t.TempDir(), "extent"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	must(t, tr.Write([]byte("<")))
	must(t, tr.WriteFile(f, 16, 300000))
	must(t, tr.Write([]byte(">")))
	want := "<" + string(content[16:16+300000]) + ">"
	if got := string(readN(t, nc, len(want))); got != want {
		t.Fatalf("got %d bytes, mismatch", len(got))
	}
	waitFor(t, "queue to drain", func() bool { return tr.Pending() == 0 })
}

// A large extent inside a stream, sent to a reader that starts late, goes out
// partly by sendfile and partly through gnet, byte for byte and in place.
func TestStreamWriteFileLargeSlowReader(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 512 << 10})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)
	c := ts.c

	pw := newPatternWriter(5)
	var content []byte
	for len(content) < 16<<20 {
		content = append(content, pw.next(1<<20)...)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	st, err := c.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.Write([]byte("after")))
	must(t, st.Write([]byte("MSG x 1 16777216\r\n")))
	sf := st.(*slot)
	must(t, sf.WriteFile(f, 0, int64(len(content))))
	must(t, st.Write([]byte("\r\n")))
	st.End()
	if err := sf.WriteFile(f, 0, 1); !errors.Is(err, ErrStreamDone) {
		t.Fatalf("WriteFile after End: %v, want ErrStreamDone", err)
	}
	want := "MSG x 1 16777216\r\n" + string(content) + "\r\nafter"
	if got := readN(t, nc, len(want)); !bytes.Equal(got, []byte(want)) {
		t.Fatal("content differs")
	}
	if peak := c.memBytes(); peak > 512<<10+chunkSize {
		t.Fatalf("in-memory outbound %d over the watermark", peak)
	}
	waitFor(t, "queue to drain", func() bool { return c.Pending() == 0 })
}

// Ending a stream whose pieces are all out pops its slot at once, so the
// next Write takes the fast path instead of queueing.
func TestStreamEndPopsFinishedSlot(t *testing.T) {
	h := startServer(t, Options{})
	nc, ts := h.dial(t)
	c := ts.c
	st, err := c.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	must(t, st.Write([]byte("one")))
	st.End()
	c.mu.Lock()
	queued := c.mu.q.len()
	c.mu.Unlock()
	if queued != 0 {
		t.Fatalf("%d items still queued after End", queued)
	}
	must(t, c.Write([]byte("two")))
	if got := string(readN(t, nc, 6)); got != "onetwo" {
		t.Fatalf("got %q", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// WriteExtents sends head, extents from a file and from any io.ReaderAt, and
// tail as one unit, in place among concurrent writes.
func TestWriteExtentsOneUnit(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 256 << 10})
	nc, ts := h.dial(t)
	tr := ts.tr.(*conn)

	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	mem := bytes.NewReader(content)
	const units = 20
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < units; i++ {
			ext := []broker.Extent{{R: f, Off: 3, Len: 500000}, {R: mem, Off: 7, Len: 300000}}
			must(t, tr.WriteExtents([]byte("["), ext, []byte("]")))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < units; i++ {
			must(t, tr.Write([]byte("()")))
		}
	}()
	unit := "[" + string(content[3:3+500000]) + string(content[7:7+300000]) + "]"
	got := string(readN(t, nc, units*(len(unit)+2)))
	wg.Wait()
	units2, pairs := 0, 0
	for len(got) > 0 {
		switch {
		case strings.HasPrefix(got, "()"):
			pairs++
			got = got[2:]
		case strings.HasPrefix(got, unit):
			units2++
			got = got[len(unit):]
		default:
			t.Fatalf("unit torn after %d units and %d writes", units2, pairs)
		}
	}
	if units2 != units || pairs != units {
		t.Fatalf("got %d units and %d writes", units2, pairs)
	}
	waitFor(t, "queue to drain", func() bool { return tr.Pending() == 0 })
}

// A server can listen again on the port of one that just closed with
// connections open (the old sockets sit in TIME_WAIT).
func TestRelistenOnSamePort(t *testing.T) {
	h := startServer(t, Options{})
	nc, _ := h.dial(t)
	addr := h.s.Addr().String()
	must(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, h.s.Shutdown(ctx))
	nc.Close()
	s2, err := Listen(Options{Addr: addr}, func(broker.Transport) broker.Session { return &testSession{} })
	if err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	must(t, s2.Shutdown(ctx))
}

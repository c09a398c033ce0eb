package netpoll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
)

// patternWriter produces a deterministic pseudo-random byte stream in
// random-sized pieces and hashes what it produced.
type patternWriter struct {
	r    *rand.Rand
	h    hashWriter
	buf  []byte
	sent int
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newPatternWriter(seed uint64) *patternWriter {
	return &patternWriter{r: rand.New(rand.NewPCG(seed, 9)), h: sha256.New(), buf: make([]byte, 1<<20)}
}

// next returns the next piece (valid until the following call).
func (p *patternWriter) next(maxLen int) []byte {
	n := 1 + p.r.IntN(maxLen)
	b := p.buf[:n]
	var w [8]byte
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(w[:], p.r.Uint64())
		copy(b[i:], w[:])
	}
	_, _ = p.h.Write(b)
	p.sent += n
	return b
}

// A reader that reads nothing until 64 MiB are queued costs about one
// watermark of memory: the rest is staged on disk, then delivered intact.
func TestSlowReaderStagesToDisk(t *testing.T) {
	const (
		watermark = 1 << 20
		total     = 64 << 20
	)
	h := startServer(t, Options{WriteWatermark: watermark, MaxPending: 256 << 20})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)
	c := ts.c

	pw := newPatternWriter(1)
	var peakMem, peakStaged int64
	for pw.sent < total {
		if err := c.Write(pw.next(min(1<<20, total-pw.sent))); err != nil {
			t.Fatalf("Write after %d bytes: %v", pw.sent, err)
		}
		peakMem = max(peakMem, c.memBytes())
		peakStaged = max(peakStaged, c.stagedBytes())
	}
	// One chunk of slack: the drain hands whole chunks to gnet.
	if limit := int64(watermark + chunkSize); peakMem > limit {
		t.Fatalf("in-memory outbound peaked at %d bytes, limit %d", peakMem, limit)
	}
	if peakStaged < total/2 {
		t.Fatalf("only %d bytes were staged on disk; want most of %d", peakStaged, total)
	}
	if p := c.Pending(); p < total/2 {
		t.Fatalf("Pending() = %d before the reader started; want most of %d", p, total)
	}

	got := sha256.New()
	_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 256<<10)
	var n int64
	for n < total {
		k, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", n, err)
		}
		_, _ = got.Write(buf[:k])
		n += int64(k)
		peakMem = max(peakMem, c.memBytes())
	}
	if !bytes.Equal(got.Sum(nil), pw.h.Sum(nil)) {
		t.Fatal("content differs from what was written")
	}
	if limit := int64(watermark + chunkSize); peakMem > limit {
		t.Fatalf("in-memory outbound peaked at %d bytes while draining, limit %d", peakMem, limit)
	}
	waitFor(t, "queue to drain", func() bool { return c.Pending() == 0 })
	c.mu.Lock()
	spillEnd := c.mu.spillEnd
	c.mu.Unlock()
	if spillEnd != 0 {
		t.Fatalf("spill file not truncated once empty: end %d", spillEnd)
	}
}

// Past MaxPending the connection is cut: the peer gets the whole messages
// that were handed over, then the -ERR line, then EOF; later writes fail.
func TestSlowConsumerCut(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 64 << 20, MaxPending: 4 << 20})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)
	tr := ts.tr

	var err error
	seq := 0
	for ; seq < 10000; seq++ {
		if err = tr.Write(record(1, seq, 16<<10-9)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrSlowConsumer) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Write past MaxPending: %v, want ErrSlowConsumer (an ErrClosed)", err)
	}
	if err := tr.Write([]byte("more")); !errors.Is(err, ErrClosed) || errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Write after the cut: %v, want plain ErrClosed", err)
	}
	got := readAll(t, nc)
	body, ok := strings.CutSuffix(string(got), slowConsumerLine)
	if !ok {
		t.Fatalf("stream does not end with %q (last bytes %q)", slowConsumerLine, got[max(0, len(got)-40):])
	}
	recs := parseRecords(t, []byte(body))
	for i, r := range recs {
		if r[1] != i {
			t.Fatalf("record %d has seq %d", i, r[1])
		}
	}
	if len(recs) > seq {
		t.Fatalf("peer got %d records, but only %d were accepted", len(recs), seq)
	}
	if err := ts.waitClosed(t); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Closed(%v), want ErrSlowConsumer", err)
	}
}

// The -ERR line is not sent when it would land inside a message: here a
// stream is open and partly sent when the cut comes.
func TestSlowConsumerCutMidMessageSendsNoErrLine(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 64 << 20, MaxPending: 4 << 20})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)
	st, err := ts.tr.BeginStream()
	if err != nil {
		t.Fatal(err)
	}
	pw := newPatternWriter(2)
	for range 10000 {
		if err = st.Write(pw.next(64 << 10)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Stream.Write past MaxPending: %v", err)
	}
	st.Abort() // no-op after the cut
	got := readAll(t, nc)
	if bytes.Contains(got, []byte("-ERR")) {
		t.Fatal("-ERR line landed inside a partially sent message")
	}
	if err := ts.waitClosed(t); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Closed(%v), want ErrSlowConsumer", err)
	}
}

// Shutdown flushes every queued byte (memory and disk) before closing.
func TestShutdownFlushes(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 256 << 10})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)
	pw := newPatternWriter(3)
	for pw.sent < 8<<20 {
		must(t, ts.tr.Write(pw.next(256<<10)))
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- h.s.Shutdown(ctx)
	}()
	got := readAll(t, nc)
	if len(got) != pw.sent {
		t.Fatalf("peer got %d bytes, want %d", len(got), pw.sent)
	}
	if sum := sha256.Sum256(got); !bytes.Equal(sum[:], pw.h.Sum(nil)) {
		t.Fatal("content differs")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := ts.waitClosed(t); !errors.Is(err, ErrServerShutdown) {
		t.Fatalf("Closed(%v), want ErrServerShutdown", err)
	}
	if n := ts.closes.Load(); n != 1 {
		t.Fatalf("Closed called %d times", n)
	}
}

// Shutdown gives up at its context's deadline when a peer does not read.
func TestShutdownDeadline(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 256 << 10})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)
	pw := newPatternWriter(4)
	for pw.sent < 8<<20 {
		must(t, ts.tr.Write(pw.next(256<<10)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if err := ts.waitClosed(t); !errors.Is(err, ErrServerShutdown) {
		t.Fatalf("Closed(%v), want ErrServerShutdown", err)
	}
}

// Writes to a closed transport return ErrClosed, whoever closed it.
func TestClosedWrites(t *testing.T) {
	h := startServer(t, Options{})

	nc, ts := h.dial(t)
	_ = nc.Close()
	if err := ts.waitClosed(t); !errors.Is(err, io.EOF) {
		t.Fatalf("Closed(%v) after the peer hung up, want io.EOF", err)
	}
	if err := ts.tr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write: %v, want ErrClosed", err)
	}
	if _, err := ts.tr.BeginStream(); !errors.Is(err, ErrClosed) {
		t.Fatalf("BeginStream: %v, want ErrClosed", err)
	}

	nc2, ts2 := h.dial(t)
	must(t, ts2.tr.Write([]byte("bye")))
	ts2.tr.Close(nil)
	if err := ts2.tr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if got := string(readAll(t, nc2)); got != "bye" {
		t.Fatalf("peer got %q, want %q", got, "bye")
	}
	if err := ts2.waitClosed(t); err != nil {
		t.Fatalf("Closed(%v) after Close(nil), want nil", err)
	}
}

// A Data error flushes what the session queued (its -ERR line) and closes.
func TestDataErrorFlushesThenCloses(t *testing.T) {
	errBad := errors.New("bad protocol")
	h := startServerData(t, Options{}, func(ts *testSession, b []byte) error {
		if bytes.Contains(b, []byte("BAD")) {
			_ = ts.tr.Write([]byte("-ERR 'Unknown Protocol Operation'\r\n"))
			return errBad
		}
		return ts.tr.Write(append([]byte("echo:"), b...))
	})
	nc, ts := h.dial(t)
	if _, err := nc.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := string(readN(t, nc, len("echo:hi"))); got != "echo:hi" {
		t.Fatalf("got %q", got)
	}
	if _, err := nc.Write([]byte("BAD")); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, nc)); got != "-ERR 'Unknown Protocol Operation'\r\n" {
		t.Fatalf("got %q", got)
	}
	if err := ts.waitClosed(t); !errors.Is(err, errBad) {
		t.Fatalf("Closed(%v), want the Data error", err)
	}
}

// Close gives up flushing after FlushTimeout when the peer does not read.
func TestCloseFlushTimeout(t *testing.T) {
	h := startServer(t, Options{WriteWatermark: 256 << 10, FlushTimeout: 50 * time.Millisecond})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)
	pw := newPatternWriter(6)
	for pw.sent < 8<<20 {
		must(t, ts.tr.Write(pw.next(256<<10)))
	}
	reason := errors.New("done here")
	ts.tr.Close(reason)
	if err := ts.waitClosed(t); !errors.Is(err, reason) {
		t.Fatalf("Closed(%v), want the Close reason", err)
	}
	if p := ts.tr.Pending(); p != 0 {
		t.Fatalf("Pending() = %d after close, want 0", p)
	}
}

// Listen reports a port that is already taken.
func TestListenBusyPort(t *testing.T) {
	h := startServer(t, Options{})
	_, err := Listen(Options{Addr: h.s.Addr().String(), Loops: 1}, func(broker.Transport) broker.Session { return nil })
	if err == nil {
		t.Fatal("Listen on a busy port succeeded")
	}
}

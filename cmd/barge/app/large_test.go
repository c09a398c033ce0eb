package app_test

import (
	patternpkg "github.com/bargemq/barge/internal/pattern"
	"github.com/bargemq/barge/internal/procmem"

	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
)

func pattern(p []byte, off int64) { patternpkg.Fill(p, off) }

// TestLargePayloadFanOutBoundedMemory publishes one large message to two
// subscribers and checks both receive it intact while the server's resident
// memory grows by far less than the message.
func TestLargePayloadFanOutBoundedMemory(t *testing.T) {
	size := int64(256 << 20)
	if s := os.Getenv("BARGE_LARGE_MB"); s != "" {
		n, _ := strconv.Atoi(s)
		size = int64(n) << 20
	}
	if testing.Short() {
		size = 32 << 20
	}
	a := startServer(t, func(c *app.Config) { c.MaxPayload = 2 << 30 })
	addr := strings.TrimPrefix(a.ClientURL(), "nats://")

	type result struct {
		sum [32]byte
		err error
	}
	results := make(chan result, 2)
	ready := sync.WaitGroup{}
	for i := 0; i < 2; i++ {
		ready.Add(1)
		go func() {
			sum, err := receiveOne(addr, "big", size, ready.Done)
			results <- result{sum, err}
		}()
	}
	ready.Wait()

	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	resetPeakRSS()

	wantSum := publishPattern(t, addr, "big", size)
	for i := 0; i < 2; i++ {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("subscriber: %v", r.err)
			}
			if r.sum != wantSum {
				t.Fatal("subscriber received different bytes")
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("subscribers did not receive the message")
		}
	}
	peak := peakRSS(t)
	growth := peak - base
	t.Logf("payload %d MiB to 2 subscribers: RSS base %d MiB, peak %d MiB, growth %d MiB",
		size>>20, base>>20, peak>>20, growth>>20)
	if raceEnabled {
		t.Skip("RSS bound not checked under the race detector (its shadow memory counts as RSS)")
	}
	if growth > 128<<20 {
		t.Fatalf("resident memory grew by %d MiB, want < 128 MiB", growth>>20)
	}
}

// receiveOne subscribes on a raw connection and hashes one message's payload.
func receiveOne(addr, subject string, size int64, subscribed func()) ([32]byte, error) {
	var sum [32]byte
	c, err := net.Dial("tcp", addr)
	if err != nil {
		subscribed()
		return sum, err
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	fmt.Fprintf(c, "CONNECT {}\r\nSUB %s 1\r\nPING\r\n", subject)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			subscribed()
			return sum, err
		}
		if strings.HasPrefix(l, "PONG") {
			break
		}
	}
	subscribed()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	l, err := br.ReadString('\n')
	if err != nil {
		return sum, err
	}
	f := strings.Fields(l)
	if len(f) != 4 || f[0] != "MSG" {
		return sum, fmt.Errorf("unexpected line %q", l)
	}
	if n, _ := strconv.ParseInt(f[3], 10, 64); n != size {
		return sum, fmt.Errorf("size %s, want %d", f[3], size)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, br, size); err != nil {
		return sum, err
	}
	crlf := make([]byte, 2)
	if _, err := io.ReadFull(br, crlf); err != nil || string(crlf) != "\r\n" {
		return sum, fmt.Errorf("payload not followed by CRLF: %q %v", crlf, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func rss(t testing.TB) int64 {
	t.Helper()
	n, err := procmem.RSS()
	if err != nil {
		t.Skip(err)
	}
	return n
}

func peakRSS(t testing.TB) int64 {
	t.Helper()
	n, err := procmem.Peak()
	if err != nil {
		t.Skip(err)
	}
	return n
}

func resetPeakRSS() { _ = procmem.ResetPeak() }

// publishPattern sends one PUB of size bytes of the pattern stream on a raw
// connection to addr, in 256 KiB writes (the test never holds the message),
// and returns the payload's sha256.
func publishPattern(t *testing.T, addr, subject string, size int64) [32]byte {
	t.Helper()
	pc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	want := sha256.New()
	bw := bufio.NewWriterSize(pc, 256<<10)
	fmt.Fprintf(bw, "CONNECT {\"verbose\":false}\r\nPUB %s %d\r\n", subject, size)
	buf := make([]byte, 256<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		pattern(buf[:n], off)
		want.Write(buf[:n])
		if _, err := bw.Write(buf[:n]); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	bw.WriteString("\r\nPING\r\n")
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], want.Sum(nil))
	return sum
}

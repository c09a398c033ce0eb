package jetstream_test

import (
	patternpkg "github.com/bargemq/barge/internal/pattern"
	"github.com/bargemq/barge/internal/procmem"

	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

func pattern(p []byte, off int64) { patternpkg.Fill(p, off) }

// TestLargePublishBoundedMemory publishes one large message into a stream
// over a raw connection (so the test's own memory is a small buffer), waits
// for its PubAck, and reads it back with a direct get hashed as it streams:
// the server's resident memory must grow far less than the message.
func TestLargePublishBoundedMemory(t *testing.T) {
	size := int64(256 << 20)
	if s := os.Getenv("BARGE_LARGE_MB"); s != "" {
		n, _ := strconv.Atoi(s)
		size = int64(n) << 20
	}
	if testing.Short() {
		size = 32 << 20
	}
	a := startServer(t, "", func(c *app.Config) { c.MaxPayload = 2 << 30 })
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "BIG", Subjects: []string{"big"}, AllowDirect: true})
	must(t, err)

	rc := dialRaw(t, a.ClientURL(), 60*time.Second)
	c, br, bw, line := rc.Conn, rc.br, rc.bw, rc.line
	fmt.Fprintf(bw, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB ack.in 1\r\nSUB get.in 2\r\nPING\r\n")
	must(t, bw.Flush())
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		s, err := br.ReadString('\n')
		must(t, err)
		if strings.HasPrefix(s, "PONG") {
			break
		}
	}

	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	resetPeakRSS()

	want := sha256.New()
	fmt.Fprintf(bw, "PUB big ack.in %d\r\n", size)
	buf := make([]byte, 256<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		pattern(buf[:n], off)
		want.Write(buf[:n])
		if _, err := bw.Write(buf[:n]); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	fmt.Fprintf(bw, "\r\n")
	must(t, bw.Flush())
	ackLine := line()
	if !strings.HasPrefix(ackLine, "MSG ack.in 1 ") {
		t.Fatalf("ack line %q", ackLine)
	}
	ack := line()
	if ack != `{"stream":"BIG","seq":1}` {
		t.Fatalf("ack %q", ack)
	}
	peak := peakRSS(t)
	growth := peak - base
	t.Logf("stored %d MiB: RSS base %d MiB, peak %d MiB, growth %d MiB", size>>20, base>>20, peak>>20, growth>>20)
	if growth > size/4 && growth > 48<<20 {
		t.Fatalf("server RSS grew by %d MiB for a %d MiB message", growth>>20, size>>20)
	}

	// Read it back with a direct get, hashing as it arrives.
	fmt.Fprintf(bw, "PUB $JS.API.DIRECT.GET.BIG.big get.in 0\r\n\r\n")
	must(t, bw.Flush())
	rc.wait = 120 * time.Second
	hdr, sum, n := rc.hmsg(line())
	if !bytes.Contains(hdr, []byte("Nats-Sequence: 1\r\n")) || !bytes.Contains(hdr, []byte("Nats-Stream: BIG\r\n")) {
		t.Fatalf("direct get header %q", hdr)
	}
	if n != size || !bytes.Equal(sum, want.Sum(nil)) {
		t.Fatalf("payload read back differs (%d of %d bytes)", n, size)
	}
}

// TestLargeMessageNatsGo: an 8 MiB message through nats.go's js.Publish is
// stored in chunks and read back intact with GetMsg (base64 JSON) and with
// a direct get.
func TestLargeMessageNatsGo(t *testing.T) {
	a := startServer(t, "", func(c *app.Config) { c.MaxPayload = 64 << 20 })
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "L8", Subjects: []string{"l8"}})
	must(t, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "L8D", Subjects: []string{"l8d"}, AllowDirect: true, Compression: nats.S2Compression})
	must(t, err)
	data := make([]byte, 8<<20+123)
	pattern(data, 7)
	for _, subj := range []string{"l8", "l8d"} {
		ack, err := js.Publish(subj, data)
		must(t, err)
		if ack.Sequence != 1 {
			t.Fatalf("ack %+v", ack)
		}
	}
	m, err := js.GetMsg("L8", 1)
	must(t, err)
	if !bytes.Equal(m.Data, data) {
		t.Fatal("GetMsg payload differs")
	}
	m, err = js.GetMsg("L8D", 1, nats.DirectGet())
	must(t, err)
	if !bytes.Equal(m.Data, data) {
		t.Fatal("direct get payload differs")
	}
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

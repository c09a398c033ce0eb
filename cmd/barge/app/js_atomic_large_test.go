package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterAtomicBatchLargeBounded: a batch of two 64 MiB messages
// (16 MiB under -short or -race; BARGE_LARGE_MB sets it) published over a raw
// connection to an R3 stream through a follower: the process (all three
// servers) grows by a few MiB while the first message is staged (spooled),
// the commit costs about what publishing the two messages plainly costs
// (raft proposes them a chunk at a time), and every node reads both
// messages back intact.
func TestJSClusterAtomicBatchLargeBounded(t *testing.T) {
	size := int64(64 << 20)
	if s := os.Getenv("BARGE_LARGE_MB"); s != "" {
		n, _ := strconv.Atoi(s)
		size = int64(n) << 20
	}
	if testing.Short() || raceEnabled {
		size = 16 << 20 // the RSS bound is not checked under the race detector
	}
	tune, _, _ := raftMembers(t, 3, func(_ int, c *app.Config) { c.MaxPayload = 2 << 30 })
	apps := startCluster(t, 3, tune)
	jss := make([]jetstream.JetStream, len(apps))
	for i, a := range apps {
		metaOf(t, a)
		var err error
		if jss[i], err = jetstream.New(connect(t, a)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := atomicR3(ctx, t, jss, "ABL")
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("info %+v %v", info, err)
	}
	via := 0
	for i := range apps {
		if "n"+strconv.Itoa(i+1) != info.Cluster.Leader {
			via = i // a follower
		}
	}

	c, br, bw := rawBatchConn(t, apps[via])
	buf := make([]byte, 256<<10)
	// send publishes two messages of size bytes (a batch, or two plain
	// publishes) and returns the process's RSS growth while the first
	// was received (for the batch: staged) and over both, and the
	// payloads' sha256.
	send := func(batch bool, want [2]string) (staged, all int64, sums [2][]byte) {
		runtime.GC()
		debug.FreeOSMemory()
		base := rss(t)
		resetPeakRSS()
		for i := 1; i <= 2; i++ {
			hdr := "NATS/1.0\r\nX-Plain: " + strconv.Itoa(i) + "\r\n\r\n"
			if batch {
				hdr = "NATS/1.0\r\nNats-Batch-Id: big\r\nNats-Batch-Sequence: " + strconv.Itoa(i) + "\r\n"
				if i == 2 {
					hdr += "Nats-Batch-Commit: 1\r\n"
				}
				hdr += "\r\n"
			}
			fmt.Fprintf(bw, "HPUB ABL.big ack %d %d\r\n%s", len(hdr), int64(len(hdr))+size, hdr)
			h := sha256.New()
			for off := int64(0); off < size; off += int64(len(buf)) {
				n := min(int64(len(buf)), size-off)
				pattern(buf[:n], off+int64(i))
				h.Write(buf[:n])
				if _, err := bw.Write(buf[:n]); err != nil {
					t.Fatal(err)
				}
			}
			fmt.Fprintf(bw, "\r\n")
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			sums[i-1] = h.Sum(nil)
			if reply := rawNextMsg(t, c, br); reply != want[i-1] {
				t.Fatalf("reply %d: %q, want %q", i, reply, want[i-1])
			}
			if i == 1 {
				staged = peakRSS(t) - base
			}
		}
		return staged, peakRSS(t) - base, sums
	}
	staged, growth, sums := send(true, [2]string{"", `{"stream":"ABL","seq":2,"batch":"big","count":2}`})
	_, plain, _ := send(false, [2]string{`{"stream":"ABL","seq":3}`, `{"stream":"ABL","seq":4}`})
	t.Logf("R3 atomic batch of 2 x %d MiB (3 replicas in one process): RSS growth %d MiB while the first was staged, %d MiB in all; 2 plain publishes of that size: %d MiB",
		size>>20, staged>>20, growth>>20, plain>>20)
	for i, a := range apps {
		c, br, bw := rawBatchConn(t, a)
		fmt.Fprintf(bw, "SUB get 2\r\n")
		for seq := 1; seq <= 2; seq++ {
			var n int64
			var sum []byte
			eventually(t, 30*time.Second, "node "+strconv.Itoa(i)+" holds message "+strconv.Itoa(seq), func() bool {
				n, sum = rawDirectGet(t, c, br, bw, "ABL", seq)
				return n >= 0
			})
			if n != size || !bytes.Equal(sum, sums[seq-1]) {
				t.Fatalf("node %d message %d read back differs (%d bytes)", i, seq, n)
			}
		}
	}
	if raceEnabled {
		t.Skip("RSS bound not checked under the race detector (its shadow memory counts as RSS)")
	}
	// Staging spools the body: bounded whatever the size. Committing costs
	// about what replicating the two messages costs anyway (raft's
	// entries in flight on three replicas in this process; it varies by
	// tens of MiB between runs, and the batch's two messages are proposed
	// back to back where the plain ones were a round trip apart), so that
	// bound is loose: a batch also held whole by its stager would pass it.
	if staged > 24<<20 {
		t.Fatalf("resident memory grew by %d MiB while a %d MiB batch message was staged", staged>>20, size>>20)
	}
	if growth > plain+2*size {
		t.Fatalf("resident memory grew by %d MiB for the batch, %d MiB for the same messages published plainly", growth>>20, plain>>20)
	}
}

// rawBatchConn is a raw client connection to a, subscribed to "ack".
func rawBatchConn(t *testing.T, a *app.App) (net.Conn, *bufio.Reader, *bufio.Writer) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(a.ClientURL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReaderSize(c, 256<<10)
	bw := bufio.NewWriterSize(c, 256<<10)
	fmt.Fprintf(bw, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB ack 1\r\nPING\r\n")
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return c, br, bw
}

// rawNextMsg returns the next MSG's payload (PINGs answered).
func rawNextMsg(t *testing.T, c net.Conn, br *bufio.Reader) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		l = strings.TrimRight(l, "\r\n")
		switch {
		case l == "PING":
			fmt.Fprintf(c, "PONG\r\n")
		case strings.HasPrefix(l, "MSG "):
			f := strings.Fields(l)
			n, _ := strconv.Atoi(f[len(f)-1])
			b := make([]byte, n+2)
			if _, err := io.ReadFull(br, b); err != nil {
				t.Fatal(err)
			}
			return string(b[:n])
		}
	}
}

// rawDirectGet asks for message seq of stream with DIRECT.GET (reply
// subject "get", subscribed as sid 2) and returns the payload's length
// and sha256, hashed as it streams; -1 when the node answered with a
// status (not there yet).
func rawDirectGet(t *testing.T, c net.Conn, br *bufio.Reader, bw *bufio.Writer, stream string, seq int) (int64, []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"seq":%d}`, seq)
	fmt.Fprintf(bw, "PUB $JS.API.DIRECT.GET.%s get %d\r\n%s\r\n", stream, len(body), body)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var l string
	for !strings.HasPrefix(l, "HMSG ") {
		var err error
		if l, err = br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if l == "PING\r\n" {
			fmt.Fprintf(c, "PONG\r\n")
		}
	}
	f := strings.Fields(strings.TrimSpace(l))
	hlen, _ := strconv.Atoi(f[len(f)-2])
	total, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.CopyN(h, br, total-int64(hlen))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := br.Discard(2); err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(hdr, []byte("NATS/1.0 ")) {
		return -1, nil // a status: 404 and the like
	}
	return n, h.Sum(nil)
}

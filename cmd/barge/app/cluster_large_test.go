package app_test

import (
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
	"github.com/nats-io/nats.go"
)

// TestClusterLargeMessageBoundedMemory publishes a 64 MiB message on one
// node to subscribers on the two others: both receive it intact, and the
// process (all three servers) grows by far less than the message, since it
// is forwarded over the routes piece by piece as it arrives.
func TestClusterLargeMessageBoundedMemory(t *testing.T) {
	size := int64(64 << 20)
	if s := os.Getenv("BARGE_LARGE_MB"); s != "" {
		n, _ := strconv.Atoi(s)
		size = int64(n) << 20
	}
	if testing.Short() {
		size = 16 << 20
	}
	// A 1 MiB watermark per connection: memory is then bounded by a few
	// MiB per connection on the path (publisher, two routes, two
	// subscribers), whatever the message size.
	apps := startCluster(t, 3, func(_ int, c *app.Config) {
		c.MaxPayload = 2 << 30
		c.WriteWatermark = 1 << 20
	})

	type result struct {
		sum [32]byte
		err error
	}
	results := make(chan result, 2)
	var ready sync.WaitGroup
	for _, a := range apps[1:] {
		ready.Add(1)
		addr := strings.TrimPrefix(a.ClientURL(), "nats://")
		go func() {
			sum, err := receiveOne(addr, "big.cross", size, ready.Done)
			results <- result{sum, err}
		}()
	}
	ready.Wait()
	waitInterest(t, apps[0], "big.cross", 2)

	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	resetPeakRSS()

	wantSum := publishPattern(t, strings.TrimPrefix(apps[0].ClientURL(), "nats://"), "big.cross", size)
	for range 2 {
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
	t.Logf("payload %d MiB across routes to 2 nodes: RSS base %d MiB, peak %d MiB, growth %d MiB",
		size>>20, base>>20, peak>>20, growth>>20)
	if raceEnabled {
		t.Skip("RSS bound not checked under the race detector (its shadow memory counts as RSS)")
	}
	if growth > 24<<20 {
		t.Fatalf("resident memory grew by %d MiB for a %d MiB message", growth>>20, size>>20)
	}
}

// TestClusterPublisherAbortMidPayload cuts a publisher in the middle of a
// large message: the remote subscriber never sees a complete message (it
// is disconnected, having had part of it, as with a local publisher), and
// the route survives: the same route connection carries the next message.
func TestClusterPublisherAbortMidPayload(t *testing.T) {
	apps := startCluster(t, 2, nil)
	rc := dialRaw(t, apps[1])
	rc.send("CONNECT {\"verbose\":false}\r\nSUB big.abort 1\r\nPING\r\n")
	rc.expect("PONG")
	after := connect(t, apps[1])
	got := make(chan string, 4)
	if _, err := after.Subscribe("after", func(m *nats.Msg) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	_ = after.Flush()
	waitInterest(t, apps[0], "big.abort", 1)
	waitInterest(t, apps[0], "after", 1)
	ridBefore := apps[0].Cluster().Routez().Routes[0].Rid

	const size = 8 << 20
	pc, err := net.Dial("tcp", strings.TrimPrefix(apps[0].ClientURL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(pc, "CONNECT {\"verbose\":false}\r\nPUB big.abort %d\r\n", size)
	part := make([]byte, 1<<20)
	pattern(part, 0)
	if _, err := pc.Write(part); err != nil {
		t.Fatal(err)
	}
	// Cut the publisher once the message has begun to reach the subscriber.
	if l := rc.line(); l != fmt.Sprintf("MSG big.abort 1 %d", size) {
		t.Fatalf("subscriber got %q", l)
	}
	pc.Close()

	// The subscriber got at most part of it, then its connection ended.
	_ = rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, rc.br)
	if err != nil {
		t.Fatalf("subscriber that had part of an aborted message was not disconnected: %v", err)
	}
	if n >= size {
		t.Fatalf("subscriber read %d bytes, a whole message", n)
	}

	if err := connect(t, apps[0]).Publish("after", []byte("next")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "next" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("route did not carry the next message")
	}
	z := apps[0].Cluster().Routez()
	if len(z.Routes) != 1 || z.Routes[0].Rid != ridBefore || !z.Routes[0].Inbound || !z.Routes[0].Outbound {
		t.Fatalf("route was replaced or is down after the abort: %+v (rid before %d)", z.Routes, ridBefore)
	}
}

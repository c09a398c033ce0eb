package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// Each bad input gets nats-server's wording, and a bystander connection keeps
// working through all of them.
func TestBadInputIsReportedAndIsolated(t *testing.T) {
	a := startServer(t, func(c *app.Config) { c.MaxPayload = 1 << 20 })
	bystander := connect(t, a)
	bs, _ := bystander.SubscribeSync("still.alive")
	bystander.Flush()

	cases := []struct {
		name   string
		input  string
		err    string
		closes bool
	}{
		{"control line too long", "PUB " + strings.Repeat("a", 5000) + " 1\r\nx\r\n", "-ERR 'Maximum Control Line Exceeded'", true},
		{"unknown operation", "FROB foo\r\n", "-ERR 'Unknown Protocol Operation'", true},
		{"payload over max_payload", "PUB foo 2097152\r\n", "-ERR 'Maximum Payload Violation'", true},
		{"invalid subscribe subject", "SUB foo..bar 1\r\n", "-ERR 'Invalid Subject'", false},
		{"size larger than bytes sent", "PUB foo 2\r\nhello\r\n", "-ERR", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, a)
			r.send("CONNECT {}\r\n")
			r.send(tc.input)
			l := r.line()
			if !strings.HasPrefix(l, tc.err) {
				t.Fatalf("got %q, want %q", l, tc.err)
			}
			if tc.closes {
				r.expectClosed()
			} else {
				r.send("PING\r\n")
				r.expect("PONG")
			}
			if err := bystander.Publish("still.alive", []byte(tc.name)); err != nil {
				t.Fatal(err)
			}
			if m, err := bs.NextMsg(5 * time.Second); err != nil || string(m.Data) != tc.name {
				t.Fatalf("bystander disturbed: %v", err)
			}
		})
	}
}

func TestPedanticRejectsWildcardPublish(t *testing.T) {
	a := startServer(t, nil)
	r := dialRaw(t, a)
	r.send("CONNECT {\"pedantic\":true}\r\nPUB foo.* 1\r\nx\r\n")
	if l := r.line(); !strings.HasPrefix(l, "-ERR 'Invalid Publish Subject'") {
		t.Fatalf("got %q", l)
	}
}

// A publisher that vanishes mid-payload leaves no message at any subscriber,
// large (forwarded in pieces) or small (buffered whole).
func TestPublisherDisconnectMidPayload(t *testing.T) {
	a := startServer(t, nil)
	nc := connect(t, a, nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	s, _ := nc.SubscribeSync("half")
	nc.Flush()
	for _, size := range []int{1000, 4 << 20} {
		r := dialRaw(t, a)
		r.send("CONNECT {}\r\nPUB half " + itoa(size) + "\r\n" + strings.Repeat("z", size/2))
		r.c.Close()
	}
	// Publish a marker until it arrives (the subscriber may have been
	// reconnected if it was handed part of the large message).
	pub := connect(t, a)
	eventually(t, 10*time.Second, "marker after aborted publishes", func() bool {
		pub.Publish("half", []byte("marker"))
		pub.Flush()
		for {
			m, err := s.NextMsg(20 * time.Millisecond)
			if err != nil {
				return false
			}
			if string(m.Data) != "marker" {
				t.Fatalf("received a half message of %d bytes", len(m.Data))
			}
			return true
		}
	})
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

func TestStaleConnectionIsClosed(t *testing.T) {
	a := startServer(t, func(c *app.Config) {
		c.PingInterval = 20 * time.Millisecond
		c.MaxPingsOut = 2
	})
	r := dialRaw(t, a)
	r.send("CONNECT {}\r\n")
	for {
		l := r.line()
		if l == "PING" {
			continue // never answered
		}
		if l != "-ERR 'Stale Connection'" {
			t.Fatalf("got %q, want stale connection error", l)
		}
		break
	}
	r.expectClosed()

	// A client that answers stays connected across many intervals.
	nc := connect(t, a)
	s, _ := nc.SubscribeSync("alive")
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		nc.Publish("alive", nil)
		if _, err := s.NextMsg(time.Second); err != nil {
			t.Fatalf("answering client lost: %v", err)
		}
	}
	if !nc.IsConnected() {
		t.Fatal("answering client disconnected")
	}
}

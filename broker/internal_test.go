package broker

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestInternalSubscriptionGetsWholeMessages(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 16})
	var mu sync.Mutex
	var got []string
	sub, err := h.srv.SubscribeInternal("api.>", "", func(m *InternalMsg) {
		mu.Lock()
		got = append(got, string(m.Subject)+"|"+string(m.Reply)+"|"+string(m.Hdr)+"|"+string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	c := h.connect(`{"headers":true}`)
	// Above StreamThreshold, yet gathered whole for the internal receiver.
	c.send("PUB api.x r.1 40\r\n" + strings.Repeat("a", 40) + "\r\n")
	c.send("HPUB api.y 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
	c.expect("PONG\r\n")
	mu.Lock()
	want := []string{"api.x|r.1||" + strings.Repeat("a", 40), "api.y||NATS/1.0\r\n\r\n|hi"}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("got %q", got)
	}
	mu.Unlock()
	if err := h.srv.UnsubscribeInternal(sub); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.SubscribeInternal("bad..subject", "", func(*InternalMsg) {}); err == nil {
		t.Fatal("invalid subject accepted")
	}
}

type recordingCapture struct {
	mu     sync.Mutex
	events []string
}

func (r *recordingCapture) Capture(subject, reply []byte, hdrLen, size int) Capture {
	if !bytes.HasPrefix(subject, []byte("orders.")) {
		return nil
	}
	r.add("start " + string(subject))
	return r
}
func (r *recordingCapture) add(s string)     { r.mu.Lock(); r.events = append(r.events, s); r.mu.Unlock() }
func (r *recordingCapture) Headers(h []byte) { r.add("hdr " + string(h)) }
func (r *recordingCapture) Write(p []byte)   { r.add("data " + string(p)) }
func (r *recordingCapture) End()             { r.add("end") }
func (r *recordingCapture) Abort()           { r.add("abort") }

func TestCapturerSeesEveryPieceAndCountsAsResponder(t *testing.T) {
	h := newHarness(t, Options{})
	rc := &recordingCapture{}
	h.srv.SetCapturer(rc)
	c := h.connect(`{"headers":true,"no_responders":true}`)
	c.send("SUB _INBOX.1 1\r\nPUB orders.1 _INBOX.1 3\r\nabc\r\nPUB other 2\r\nxy\r\nPING\r\n")
	// A captured request is answered by its stream, so no 503 comes back.
	c.expect("PONG\r\n")
	c.send("HPUB orders.2 12 13\r\nNATS/1.0\r\n\r\nz\r\nPUB orders.3 10\r\n12345")
	c.s.Closed(nil)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	want := "start orders.1;data abc;end;start orders.2;hdr NATS/1.0\r\n\r\n;data z;end;start orders.3;data 12345;abort"
	if got := strings.Join(rc.events, ";"); got != want {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
}

type memReaderAt []byte

func (m memReaderAt) ReadAt(p []byte, off int64) (int, error) { return copy(p, m[off:]), nil }

func TestDeliverAndDeliverExtents(t *testing.T) {
	h := newHarness(t, Options{})
	plain := h.connect(`{}`)
	withHdr := h.connect(`{"headers":true}`)
	plain.send("SUB d.* 1\r\nPING\r\n")
	plain.expect("PONG\r\n")
	withHdr.send("SUB d.> 7\r\nPING\r\n")
	withHdr.expect("PONG\r\n")
	hdr := []byte("NATS/1.0\r\nA: b\r\n\r\n")
	if n := h.srv.Deliver([]byte("d.x"), []byte("r"), hdr, []byte("hi")); n != 2 {
		t.Fatalf("Deliver reached %d", n)
	}
	plain.expect("MSG d.x 1 r 2\r\nhi\r\n")
	withHdr.expect("HMSG d.x 7 r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n")
	ext := []Extent{{R: memReaderAt("0123456789"), Off: 2, Len: 3}, {R: memReaderAt("abcdef"), Off: 0, Len: 2}}
	if n := h.srv.DeliverExtents([]byte("d.y"), nil, hdr, []byte("<"), ext, int64(len(hdr))+1+5); n != 2 {
		t.Fatalf("DeliverExtents reached %d", n)
	}
	plain.expect("MSG d.y 1 6\r\n<234ab\r\n")
	withHdr.expect("HMSG d.y 7 18 24\r\nNATS/1.0\r\nA: b\r\n\r\n<234ab\r\n")
	if n := h.srv.Deliver([]byte("nobody"), nil, nil, nil); n != 0 {
		t.Fatalf("Deliver to no one reached %d", n)
	}
}

func TestSendUnderOriginalSubject(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(`{}`)
	c.send("SUB _INBOX.abc 4\r\nPING\r\n")
	c.expect("PONG\r\n")
	n := h.srv.Send(&Delivery{To: []byte("_INBOX.abc"), Subject: []byte("orders.eu"), Reply: []byte("$JS.ACK.x"), Body: []byte("hey")})
	if n != 1 {
		t.Fatalf("Send reached %d", n)
	}
	c.expect("MSG orders.eu 4 $JS.ACK.x 3\r\nhey\r\n")
}

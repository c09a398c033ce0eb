package broker

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// deferTransport is a testTransport that also implements Deferrer: deferred
// bytes are held until Flush, which counts its calls.
type deferTransport struct {
	*testTransport
	dmu     sync.Mutex
	held    bytes.Buffer
	flushes int
}

func (d *deferTransport) WriteDeferred(b []byte) error {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	d.held.Write(b)
	return nil
}

func (d *deferTransport) Flush() {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	d.flushes++
	if d.held.Len() > 0 {
		_ = d.testTransport.Write(d.held.Bytes())
		d.held.Reset()
	}
}

// The messages one read publishes reach a Deferrer receiver through
// WriteDeferred and leave with a single Flush at the end of the read.
func TestOneFlushPerRead(t *testing.T) {
	h := newHarness(t, Options{})
	pub := h.connect(`{"verbose":false}`)
	dt := &deferTransport{testTransport: newTestTransport("127.0.0.1:1")}
	s := h.srv.Accept(dt)
	if info := dt.take(); !strings.HasPrefix(info, "INFO {") {
		t.Fatalf("first line is not INFO: %q", info)
	}
	sub := &conn{t: t, tr: dt.testTransport, s: s}
	sub.send("CONNECT {}\r\nSUB a 1\r\nPING\r\n")
	sub.expect("PONG\r\n")
	dt.dmu.Lock()
	dt.flushes = 0
	dt.dmu.Unlock()

	var in, want strings.Builder
	for range 20 {
		in.WriteString("PUB a 2\r\nhi\r\n")
		want.WriteString("MSG a 1 2\r\nhi\r\n")
	}
	pub.send(in.String())
	sub.expect(want.String())
	dt.dmu.Lock()
	defer dt.dmu.Unlock()
	if dt.flushes != 1 {
		t.Fatalf("receiver flushed %d times for one read, want 1", dt.flushes)
	}
}

package netpoll

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/internal/testcert"
)

// tlsHarness is a TLS Server with a CA-signed certificate and a client
// config that trusts it.
type tlsHarness struct {
	*harness
	client *tls.Config
}

func startTLSServer(t testing.TB, o Options, first bool, greet []byte) *tlsHarness {
	t.Helper()
	ca := testcert.NewCA(t, "netpoll-ca")
	leaf := ca.Leaf(t, "server", testcert.LeafOptions{})
	cert, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	o.TLS = &TLSOptions{
		Config:         &tls.Config{Certificates: []tls.Certificate{cert}, DynamicRecordSizingDisabled: true},
		HandshakeFirst: first,
		Timeout:        5 * time.Second,
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tlsHarness{
		harness: startServerGreet(t, o, nil, greet),
		client:  &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
	}
}

// dialTLS connects: with first, TLS at once; otherwise it reads the
// session's plaintext greeting (greet bytes) and upgrades after it.
func (h *tlsHarness) dialTLS(t testing.TB, first bool, greet int) (*tls.Conn, []byte) {
	t.Helper()
	raw, err := net.Dial("tcp", h.s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	var hello []byte
	if !first {
		hello = readN(t, raw, greet)
	}
	tc := tls.Client(raw, h.client)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, hello
}

func (h *tlsHarness) session(t testing.TB) *testSession {
	t.Helper()
	select {
	case ts := <-h.accepted:
		return ts
	case <-time.After(10 * time.Second):
		t.Fatal("connection was not accepted")
		return nil
	}
}

// TestTLSUpgradeAndOrder: the session's first write goes out in the clear,
// everything after over TLS, in order: writes, a file extent, a stream
// whose pieces arrive while a later write waits behind it; and what the
// client sends reaches Session.Data.
func TestTLSUpgradeAndOrder(t *testing.T) {
	const greeting = "INFO {}\r\n"
	// The greeting is written at accept, before the handshake, as the
	// broker writes INFO.
	h := startTLSServer(t, Options{}, false, []byte(greeting))
	raw, err := net.Dial("tcp", h.s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ts := h.session(t)
	if got := readN(t, raw, len(greeting)); string(got) != greeting {
		t.Fatalf("greeting %q", got)
	}
	tc := tls.Client(raw, h.client)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}

	f, err := os.CreateTemp(t.TempDir(), "ext")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if _, err := f.Write(body); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ts.tr.Write([]byte("one\r\n")))
	want.WriteString("one\r\n")
	must(ts.tr.WriteExtents([]byte("head:"), []broker.Extent{{R: f, Off: 16, Len: int64(len(body)) - 32}}, []byte(":tail\r\n")))
	want.WriteString("head:")
	want.Write(body[16 : len(body)-16])
	want.WriteString(":tail\r\n")
	st, err := ts.tr.BeginStream()
	must(err)
	must(ts.tr.Write([]byte("after\r\n"))) // waits behind the stream
	for i := 0; i < 40; i++ {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 100_000)
		must(st.Write(p))
		want.Write(p)
	}
	st.End()
	want.WriteString("after\r\n")
	got := readN(t, tc, want.Len())
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes over TLS differ from what was written, or are out of order")
	}

	if _, err := tc.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "client bytes in Session.Data", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return string(ts.in) == "PING\r\n"
	})
	if cs, ok := ts.c.TLSConnectionState(); !ok || cs.Version != tls.VersionTLS13 {
		t.Fatalf("TLSConnectionState: %v %x", ok, cs.Version)
	}
	_ = tc.Close()
	if err := ts.waitClosed(t); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("closed: %v", err)
	}
}

// TestTLSHandshakeFirstAndRefusal: with handshake first the session
// exists only after the handshake; a plaintext client is refused and
// counted, and no session is opened for it.
func TestTLSHandshakeFirstAndRefusal(t *testing.T) {
	h := startTLSServer(t, Options{}, true, nil)
	tc, _ := h.dialTLS(t, true, 0)
	ts := h.session(t)
	if err := ts.tr.Write([]byte("hello\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, tc, 7); string(got) != "hello\r\n" {
		t.Fatalf("got %q", got)
	}
	raw, err := net.Dial("tcp", h.s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte("CONNECT {}\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(raw); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("plaintext client not closed")
		}
	}
	waitFor(t, "the refusal counted", func() bool { return h.s.TLSHandshakeErrors() == 1 })
	select {
	case <-h.accepted:
		t.Fatal("a session was opened for a failed handshake")
	default:
	}
}

// TestTLSSlowConsumerCut: a TLS client that reads nothing fills the
// watermark, then staging, then MaxPending, and is cut as on gnet; the
// writer blocked on its socket is released by the close.
func TestTLSSlowConsumerCut(t *testing.T) {
	h := startTLSServer(t, Options{WriteWatermark: 256 << 10, MaxPending: 8 << 20, FlushTimeout: 200 * time.Millisecond}, true, nil)
	h.dialTLS(t, true, 0) // never reads
	ts := h.session(t)
	piece := make([]byte, 64<<10)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = ts.tr.Write(piece)
		if mem := ts.c.memBytes(); mem > 2*(256<<10)+int64(len(piece)) {
			t.Fatalf("in-memory outbound %d past the watermark", mem)
		}
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("write error %v, want ErrSlowConsumer", err)
	}
	if reason := ts.waitClosed(t); !errors.Is(reason, ErrSlowConsumer) {
		t.Fatalf("closed with %v", reason)
	}
}

// TestTLSShutdownCutsBlockedWriter: Shutdown with a TLS client that reads
// nothing cuts it at the context's deadline, and Session.Closed has been
// called by the time Shutdown returns.
func TestTLSShutdownCutsBlockedWriter(t *testing.T) {
	h := startTLSServer(t, Options{WriteWatermark: 1 << 20, MaxPending: 64 << 20}, true, nil)
	h.dialTLS(t, true, 0) // never reads
	ts := h.session(t)
	piece := make([]byte, 1<<20)
	for i := 0; i < 32; i++ {
		if err := ts.tr.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if ts.closes.Load() != 1 {
		t.Fatal("Session.Closed not called before Shutdown returned")
	}
}

package app_test

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/internal/testcert"
	"github.com/bargemq/barge/tlsconf"
	"github.com/nats-io/nats.go"
)

// tlsFixture is a CA, the server's certificate and a client's, all made
// for the test.
type tlsFixture struct {
	ca     *testcert.CA
	server *testcert.Pair
	client *testcert.Pair
}

func newTLSFixture(t testing.TB) *tlsFixture {
	t.Helper()
	ca := testcert.NewCA(t, "barge-test-ca")
	return &tlsFixture{
		ca:     ca,
		server: ca.Leaf(t, "server", testcert.LeafOptions{}),
		client: ca.Leaf(t, "alice", testcert.LeafOptions{Client: true}),
	}
}

// clusterTLS is a cluster { tls { } } setting with fx's files.
func (fx *tlsFixture) clusterTLS() tlsconf.Options {
	return tlsconf.Options{Enabled: true, CertFile: fx.server.CertFile, KeyFile: fx.server.KeyFile, CAFile: fx.ca.CertFile}
}

// clientOpts are nats.go's options for a client trusting fx's CA.
func (fx *tlsFixture) clientOpts() []nats.Option {
	return []nats.Option{nats.RootCAs(fx.ca.CertFile)}
}

// startTLSServer runs a server whose client port is TLS-only with fx's
// certificate; mod may change the config further.
func startTLSServer(t testing.TB, fx *tlsFixture, mod func(*app.Config)) *app.App {
	t.Helper()
	return startServer(t, func(c *app.Config) {
		c.JetStream = false
		c.TLS.Enabled = true
		c.TLS.CertFile, c.TLS.KeyFile = fx.server.CertFile, fx.server.KeyFile
		c.TLS.CAFile = fx.ca.CertFile
		if mod != nil {
			mod(c)
		}
	})
}

// roundTrip checks that nc is served: a request to itself is answered.
func roundTrip(t testing.TB, nc *nats.Conn, subj string) {
	t.Helper()
	sub, err := nc.Subscribe(subj, func(m *nats.Msg) { _ = m.Respond(append([]byte("re:"), m.Data...)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	m, err := nc.Request(subj, []byte("hi"), 5*time.Second)
	if err != nil {
		t.Fatalf("request over TLS: %v", err)
	}
	if string(m.Data) != "re:hi" {
		t.Fatalf("request over TLS: reply %q", m.Data)
	}
}

// varzTLSErrors reads /varz's tls_handshake_errors.
func varzTLSErrors(t testing.TB, a *app.App) int {
	t.Helper()
	var v struct {
		N           int  `json:"tls_handshake_errors"`
		TLSRequired bool `json:"tls_required"`
	}
	getJSON(t, a.MonitorURL()+"/varz", &v)
	if !v.TLSRequired {
		t.Fatal("/varz: tls_required is false")
	}
	return v.N
}

// waitTLSErrors waits until /varz counts want failed handshakes.
func waitTLSErrors(t testing.TB, a *app.App, want int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%d TLS handshake errors in /varz", want), func() bool {
		return varzTLSErrors(t, a) >= want
	})
}

// expectGone reads until the server ends the connection (EOF or a reset),
// failing if it is still open at the deadline.
func expectGone(t testing.TB, c net.Conn, r io.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection not closed by the server")
	}
}

func TestTLSServerOnly(t *testing.T) {
	fx := newTLSFixture(t)
	a := startTLSServer(t, fx, nil)
	nc := connect(t, a, nats.RootCAs(fx.ca.CertFile))
	roundTrip(t, nc, "tls.only")
	if st, err := nc.TLSConnectionState(); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("client TLS state: %v %x", err, st.Version)
	}
	var z struct {
		Conns []struct {
			TLSVersion string `json:"tls_version"`
			TLSCipher  string `json:"tls_cipher_suite"`
			PeerCerts  []any  `json:"tls_peer_certs"`
		} `json:"connections"`
	}
	getJSON(t, a.MonitorURL()+"/connz", &z)
	if len(z.Conns) != 1 || z.Conns[0].TLSVersion != "1.3" || !strings.HasPrefix(z.Conns[0].TLSCipher, "TLS_") || len(z.Conns[0].PeerCerts) != 0 {
		t.Fatalf("/connz: %+v", z.Conns)
	}
	// The client does not trust the server's CA: refused on its side.
	if _, err := nats.Connect(a.ClientURL(), nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12})); err == nil {
		t.Fatal("a client that does not trust the CA connected")
	}
}

func TestTLSPlaintextClientRefused(t *testing.T) {
	fx := newTLSFixture(t)
	a := startTLSServer(t, fx, nil)
	r := dialRaw(t, a)
	if !strings.Contains(r.info, `"tls_required":true`) || strings.Contains(r.info, "tls_verify") {
		t.Fatalf("INFO %s: want tls_required and no tls_verify", r.info)
	}
	r.send("CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPING\r\n")
	expectGone(t, r.c, r.br)
	waitTLSErrors(t, a, 1)
	if n := a.Broker().Varz().Connections; n != 0 {
		t.Fatalf("%d connections after the plaintext client left", n)
	}
}

func TestTLSMutual(t *testing.T) {
	fx := newTLSFixture(t)
	var cfg app.Config
	a := startTLSServer(t, fx, func(c *app.Config) { c.TLS.Verify = true; cfg = *c })
	r := dialRaw(t, a)
	if !strings.Contains(r.info, `"tls_verify":true`) {
		t.Fatalf("INFO %s: want tls_verify", r.info)
	}
	r.c.Close()

	nc := connect(t, a, nats.RootCAs(fx.ca.CertFile), nats.ClientCert(fx.client.CertFile, fx.client.KeyFile))
	roundTrip(t, nc, "tls.mutual")
	var z struct {
		Conns []struct {
			PeerCerts []struct {
				Subject string `json:"subject"`
				SPKI    string `json:"spki_sha256"`
				Cert    string `json:"cert_sha256"`
			} `json:"tls_peer_certs"`
		} `json:"connections"`
	}
	getJSON(t, a.MonitorURL()+"/connz", &z)
	if len(z.Conns) != 1 || len(z.Conns[0].PeerCerts) != 1 ||
		!strings.Contains(z.Conns[0].PeerCerts[0].Subject, "CN=alice") || len(z.Conns[0].PeerCerts[0].Cert) != 64 {
		t.Fatalf("/connz peer certs: %+v", z.Conns)
	}

	// Refused: no certificate, one from another CA, an expired one.
	other := testcert.NewCA(t, "other-ca").Leaf(t, "mallory", testcert.LeafOptions{Client: true})
	expired := fx.ca.Leaf(t, "old", testcert.LeafOptions{Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	refused := map[string][]nats.Option{
		"no certificate": {nats.RootCAs(fx.ca.CertFile)},
		"unknown CA":     {nats.RootCAs(fx.ca.CertFile), nats.ClientCert(other.CertFile, other.KeyFile)},
		"expired":        {nats.RootCAs(fx.ca.CertFile), nats.ClientCert(expired.CertFile, expired.KeyFile)},
	}
	before := varzTLSErrors(t, a)
	for name, opts := range refused {
		opts = append(opts, nats.Timeout(5*time.Second), nats.NoReconnect())
		if nc, err := nats.Connect(a.ClientURL(), opts...); err == nil {
			nc.Close()
			t.Fatalf("%s: connected", name)
		}
	}
	waitTLSErrors(t, a, before+len(refused))
	log, _ := os.ReadFile(cfg.LogFile)
	for _, want := range []string{"TLS handshake error", "certificate", "expired"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	roundTrip(t, nc, "tls.mutual.after")
}

func TestTLSHandshakeFirst(t *testing.T) {
	fx := newTLSFixture(t)
	a := startTLSServer(t, fx, func(c *app.Config) {
		c.TLS.HandshakeFirst = true
		c.TLS.Timeout = 300 * time.Millisecond
	})
	nc := connect(t, a, nats.RootCAs(fx.ca.CertFile), nats.TLSHandshakeFirst())
	roundTrip(t, nc, "tls.first")
	// A client waiting for INFO gets nothing and is dropped at the timeout.
	if nc, err := nats.Connect(a.ClientURL(), nats.RootCAs(fx.ca.CertFile), nats.Timeout(3*time.Second), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a client expecting INFO first connected to a handshake_first server")
	}
	waitTLSErrors(t, a, 1)

	// handshake_first: auto serves both kinds.
	b := startTLSServer(t, fx, func(c *app.Config) {
		c.TLS.HandshakeFirst = true
		// Long enough that a loaded machine's ClientHello arrives within
		// it; the upgrading client waits it out before INFO comes.
		c.TLS.HandshakeFirstFallback = time.Second
	})
	roundTrip(t, connect(t, b, nats.RootCAs(fx.ca.CertFile), nats.TLSHandshakeFirst(), nats.Name("first")), "auto.first")
	roundTrip(t, connect(t, b, nats.RootCAs(fx.ca.CertFile), nats.Name("upgrade"), nats.Timeout(10*time.Second)), "auto.upgrade")
	// /connz says which connection started with TLS (tls_first).
	var z struct {
		Conns []struct {
			Name     string `json:"name"`
			TLSFirst *bool  `json:"tls_first"`
		} `json:"connections"`
	}
	getJSON(t, b.MonitorURL()+"/connz", &z)
	got := map[string]bool{}
	for _, c := range z.Conns {
		got[c.Name] = c.TLSFirst != nil && *c.TLSFirst
	}
	if len(z.Conns) != 2 || !got["first"] || got["upgrade"] {
		t.Fatalf("/connz tls_first: %+v", got)
	}
}

// serverSerial is the serial of the certificate the server presented to nc.
func serverSerial(t testing.TB, nc *nats.Conn) string {
	t.Helper()
	st, err := nc.TLSConnectionState()
	if err != nil || len(st.PeerCertificates) == 0 {
		t.Fatalf("TLS state: %v", err)
	}
	return st.PeerCertificates[0].SerialNumber.String()
}

func TestTLSCertificateReload(t *testing.T) {
	fx := newTLSFixture(t)
	clk := clocktest.New(time.Now())
	var cfg app.Config
	a := startTLSServer(t, fx, func(c *app.Config) {
		c.Clock = clk
		c.CertWatchInterval = time.Second
		cfg = *c
	})
	opts := []nats.Option{nats.RootCAs(fx.ca.CertFile)}
	old := connect(t, a, opts...)
	first := serverSerial(t, old)

	// SIGHUP's path: the files are read again, new connections get the
	// new certificate, the old connection stays up with its own.
	fx.ca.Leaf(t, "server", testcert.LeafOptions{})
	if err := a.Reload(cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
	second := serverSerial(t, connect(t, a, opts...))
	if second == first {
		t.Fatal("a new connection after reload got the old certificate")
	}
	roundTrip(t, old, "still.up")
	if serverSerial(t, old) != first {
		t.Fatal("the old connection's certificate changed")
	}

	// SIGHUP without a -c file reads the certificate files all the same.
	fx.ca.Leaf(t, "server", testcert.LeafOptions{})
	if err := a.ReloadCerts(); err != nil {
		t.Fatalf("ReloadCerts: %v", err)
	}
	if s := serverSerial(t, connect(t, a, opts...)); s == second || s == first {
		t.Fatal("ReloadCerts did not reach new connections")
	} else {
		second = s
	}

	// The files change on disk: the watcher (on the injected clock)
	// reloads them.
	fx.ca.Leaf(t, "server", testcert.LeafOptions{})
	clk.Advance(time.Second)
	third := serverSerial(t, connect(t, a, opts...))
	if third == second || third == first {
		t.Fatal("a new connection after the files changed got an old certificate")
	}

	// A broken file is not loaded: the reload fails and the current
	// certificate stays.
	if err := os.WriteFile(fx.server.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(cfg); err == nil || strings.Contains(err.Error(), "BEGIN") {
		t.Fatalf("reload with a broken key: %v", err)
	}
	clk.Advance(time.Second)
	if serverSerial(t, connect(t, a, opts...)) != third {
		t.Fatal("a broken key file replaced the certificate")
	}
	roundTrip(t, old, "still.up.2")
}

func TestTLSHTTPSMonitoring(t *testing.T) {
	fx := newTLSFixture(t)
	a := startTLSServer(t, fx, func(c *app.Config) { c.HTTPSPort = -1 })
	pool := x509.NewCertPool()
	pool.AddCert(fx.ca.Cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(a.MonitorHTTPSURL() + "/varz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"https_port"`) {
		t.Fatalf("GET /varz over https: %s %s", resp.Status, body)
	}
}

// dialTLSRaw opens a protocol-level client over TLS: INFO in the clear,
// then the upgrade.
func dialTLSRaw(t testing.TB, addr string, fx *tlsFixture) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Read INFO byte by byte: nothing of the handshake may be consumed.
	var line []byte
	b := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(line) == 0 || line[len(line)-1] != '\n' {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("reading INFO: %v", err)
		}
		line = append(line, b[0])
	}
	_ = c.SetReadDeadline(time.Time{})
	pool := x509.NewCertPool()
	pool.AddCert(fx.ca.Cert)
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return tc, bufio.NewReaderSize(tc, 64<<10)
}

// TestTLSLargeMessageBoundedMemory sends one 256 MiB message (32 MiB with
// -short) through a TLS-only server to a TLS subscriber, on protocol-level
// clients that never hold the message: the server streams it record by
// record, so its memory grows by about a watermark, not by the message.
func TestTLSLargeMessageBoundedMemory(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	fx := newTLSFixture(t)
	a := startTLSServer(t, fx, func(c *app.Config) { c.MaxPayload = 1 << 30 })
	addr := strings.TrimPrefix(a.ClientURL(), "nats://")

	sc, sr := dialTLSRaw(t, addr, fx)
	fmt.Fprintf(sc, "CONNECT {\"verbose\":false}\r\nSUB big 1\r\nPING\r\n")
	for {
		l, err := sr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "PONG") {
			break
		}
	}
	type result struct {
		sum [32]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		var r result
		_ = sc.SetReadDeadline(time.Now().Add(3 * time.Minute))
		l, err := sr.ReadString('\n')
		if err != nil {
			got <- result{err: err}
			return
		}
		if want := fmt.Sprintf("MSG big 1 %d\r\n", size); l != want {
			got <- result{err: fmt.Errorf("line %q, want %q", l, want)}
			return
		}
		h := sha256.New()
		if _, err := io.CopyN(h, sr, size); err != nil {
			got <- result{err: err}
			return
		}
		copy(r.sum[:], h.Sum(nil))
		got <- r
	}()

	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	resetPeakRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBase := ms.HeapInuse

	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	pc, _ := dialTLSRaw(t, addr, fx)
	want := sha256.New()
	bw := bufio.NewWriterSize(pc, 256<<10)
	fmt.Fprintf(bw, "CONNECT {\"verbose\":false}\r\nPUB big %d\r\n", size)
	buf := make([]byte, 256<<10)
	var heapPeak uint64
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		pattern(buf[:n], off)
		want.Write(buf[:n])
		if _, err := bw.Write(buf[:n]); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if off%(32<<20) == 0 {
			runtime.ReadMemStats(&ms)
			heapPeak = max(heapPeak, ms.HeapInuse)
		}
	}
	bw.WriteString("\r\nPING\r\n")
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("subscriber: %v", r.err)
		}
		if string(r.sum[:]) != string(want.Sum(nil)) {
			t.Fatal("subscriber received different bytes")
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the subscriber did not receive the message")
	}
	elapsed := time.Since(start)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	growth := peakRSS(t) - base
	t.Logf("%d MiB over TLS in %v (process CPU %v, clients included): RSS growth %d MiB, heap in use %d -> %d MiB (sampled peak)",
		size>>20, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), growth>>20, heapBase>>20, heapPeak>>20)
	if raceEnabled {
		t.Skip("RSS bound not checked under the race detector (its shadow memory counts as RSS)")
	}
	if growth > 128<<20 {
		t.Fatalf("resident memory grew by %d MiB for a %d MiB message, want < 128 MiB", growth>>20, size>>20)
	}
}

// TestTLSReloadSettings: a reload may point tls at other files (new
// connections get them); turning TLS off or changing verify is refused
// and changes nothing.
func TestTLSReloadSettings(t *testing.T) {
	fx := newTLSFixture(t)
	var cfg app.Config
	a := startTLSServer(t, fx, func(c *app.Config) { cfg = *c })
	opts := []nats.Option{nats.RootCAs(fx.ca.CertFile)}
	first := serverSerial(t, connect(t, a, opts...))

	other := fx.ca.Leaf(t, "server2", testcert.LeafOptions{})
	next := cfg
	next.TLS.CertFile, next.TLS.KeyFile = other.CertFile, other.KeyFile
	if err := a.Reload(next); err != nil {
		t.Fatalf("reload to other files: %v", err)
	}
	if got := serverSerial(t, connect(t, a, opts...)); got != other.Cert.SerialNumber.String() || got == first {
		t.Fatalf("after the reload the server presents serial %s, want %s", got, other.Cert.SerialNumber)
	}
	for name, mod := range map[string]func(c *app.Config){
		"tls (on/off)": func(c *app.Config) { c.TLS = tlsconf.Options{} },
		"tls verify":   func(c *app.Config) { c.TLS.Verify = true },
	} {
		bad := next
		mod(&bad)
		if err := a.Reload(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: reload %v", name, err)
		}
	}
	roundTrip(t, connect(t, a, opts...), "after.refusals")
}

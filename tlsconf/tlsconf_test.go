package tlsconf

import (
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
	"github.com/bargemq/barge/internal/testcert"
)

// TestFromMap feeds a tls block in the value forms nats-server's conf
// package produces (string, bool, int64, float64, []any).
func TestFromMap(t *testing.T) {
	o, err := FromMap(map[string]any{
		"cert_file":         "s.pem",
		"key_file":          "s-key.pem",
		"ca_file":           "ca.pem",
		"verify":            true,
		"timeout":           float64(0.5),
		"handshake_first":   "300ms",
		"min_version":       "1.3",
		"cipher_suites":     []any{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
		"curve_preferences": []any{"X25519", "CurveP256"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Enabled || !o.Verify || o.Timeout != 500*time.Millisecond || !o.HandshakeFirst ||
		o.HandshakeFirstFallback != 300*time.Millisecond || o.MinVersion != tls.VersionTLS13 ||
		len(o.CipherSuites) != 1 || o.CipherSuites[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 ||
		len(o.CurvePreferences) != 2 || o.CurvePreferences[0] != tls.X25519 {
		t.Fatalf("%+v", o)
	}
	// Values as conf.ParseFileWithChecks gives them: wrapped with their
	// position.
	o, err = FromMap(map[string]any{"cert_file": tok{"a"}, "key_file": tok{"b"}, "timeout": tok{int64(3)},
		"handshake_first": tok{"auto"}, "curve_preferences": tok{[]any{tok{"X25519"}}}})
	if err != nil || o.Timeout != 3*time.Second || o.HandshakeFirstFallback != DefaultHandshakeFirstFallback {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range []map[string]any{
		{"cert_file": "a"}, // no key
		{"cert_file": "a", "key_file": "b", "verify": true},       // verify without a CA
		{"cert_file": "a", "key_file": "b", "min_version": "1.0"}, // too old
		{"cert_file": "a", "key_file": "b", "cipher_suites": []any{"TLS_RSA_WITH_RC4_128_SHA"}},
		{"cert_file": "a", "key_file": "b", "curve_preferences": []any{"P999"}},
		{"cert_file": "a", "key_file": "b", "ocsp_peer": true}, // not supported: said so
		{"cert_file": "a", "key_file": "b", "verify": "maybe"},
	} {
		if _, err := FromMap(bad); err == nil {
			t.Errorf("FromMap(%v) accepted", bad)
		}
	}
}

// tok is a value wrapped as the conf package's pedantic parse wraps them.
type tok struct{ v any }

func (t tok) Value() any { return t.v }

// TestWatchReloads: a certificate rewritten on disk is served to the next
// handshake once the watcher's clock ticks; a broken file keeps the last
// good one.
func TestWatchReloads(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	leaf := ca.Leaf(t, "srv", testcert.LeafOptions{})
	c, err := New(Options{Enabled: true, CertFile: leaf.CertFile, KeyFile: leaf.KeyFile, CAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Now())
	var reloads []error
	c.Watch(clk, time.Second, func(err error) { reloads = append(reloads, err) })
	defer c.Stop()

	served := func() string {
		t.Helper()
		srv, cli := net.Pipe()
		defer srv.Close()
		defer cli.Close()
		go func() { _ = tls.Server(srv, c.ServerConfig()).Handshake() }()
		tc := tls.Client(cli, c.ClientConfig(""))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := served()
	clk.Advance(time.Second)
	if len(reloads) != 0 {
		t.Fatalf("reloaded without a change: %v", reloads)
	}
	ca.Leaf(t, "srv", testcert.LeafOptions{})
	clk.Advance(time.Second)
	if len(reloads) != 1 || reloads[0] != nil {
		t.Fatalf("reloads %v", reloads)
	}
	second := served()
	if second == first {
		t.Fatal("still serving the old certificate")
	}
	if err := os.WriteFile(leaf.CertFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if len(reloads) != 2 || reloads[1] == nil || !strings.Contains(reloads[1].Error(), "cert_file") {
		t.Fatalf("reloads %v", reloads)
	}
	if served() != second {
		t.Fatal("a broken file replaced the certificate")
	}
}

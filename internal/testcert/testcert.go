// Package testcert makes certificates for tests, in memory and in a test's
// temporary directory, so no private key ever sits in the repository.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority that signs leaves.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertFile is the CA certificate as PEM in the test's directory.
	CertFile string
	dir      string
	serial   atomic.Int64
}

// Pair is a signed leaf written as PEM files.
type Pair struct {
	Cert     *x509.Certificate
	CertFile string
	KeyFile  string
}

// NewCA makes a CA named cn and writes its certificate under t.TempDir().
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"barge tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Cert: cert, key: key, dir: t.TempDir()}
	ca.serial.Store(1)
	ca.CertFile = filepath.Join(ca.dir, cn+"-ca.pem")
	writePEM(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// LeafOptions shape a leaf certificate.
type LeafOptions struct {
	// NotBefore/NotAfter default to an hour ago and a day ahead.
	NotBefore, NotAfter time.Time
	// Client adds client-auth usage; leaves always have server-auth too,
	// so one pair serves both ends of a route.
	Client bool
	// Subject replaces the default subject (CN=cn, O=barge tests) when
	// it has a CommonName.
	Subject pkix.Name
	// Emails, DNSNames and URIs are SANs added to the defaults
	// (localhost, 127.0.0.1, ::1), as verify_and_map reads them.
	Emails   []string
	DNSNames []string
	URIs     []*url.URL
}

// Leaf signs a certificate for cn, valid for 127.0.0.1, ::1 and localhost,
// and writes it and its key under the CA's directory as cn.pem and
// cn-key.pem (a later Leaf with the same cn overwrites them, as a
// certificate rotation would).
func (ca *CA) Leaf(t testing.TB, cn string, o LeafOptions) *Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	subject := pkix.Name{CommonName: cn, Organization: []string{"barge tests"}}
	if o.Subject.CommonName != "" {
		subject = o.Subject
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(ca.serial.Add(1)),
		Subject:        subject,
		NotBefore:      o.NotBefore,
		NotAfter:       o.NotAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    usage,
		DNSNames:       append([]string{"localhost"}, o.DNSNames...),
		EmailAddresses: o.Emails,
		URIs:           o.URIs,
		IPAddresses:    []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pair{Cert: cert, CertFile: filepath.Join(ca.dir, cn+".pem"), KeyFile: filepath.Join(ca.dir, cn+"-key.pem")}
	// Key first, certificate last: a watcher that sees the certificate
	// change finds the matching key already there.
	writePEM(t, p.KeyFile, "EC PRIVATE KEY", kder)
	writePEM(t, p.CertFile, "CERTIFICATE", der)
	return p
}

// writePEM writes one PEM block atomically (tmp + rename), so a reader
// never sees half a file.
func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bargemq/barge/clock"
)

// Certs is the loaded certificate, key and CA pool of one Options, swapped
// whole on reload. Safe for concurrent use.
type Certs struct {
	cur atomic.Pointer[loaded]

	// mu serialises Reload (so two reloads never interleave their reads
	// and swaps) and guards stopWatch.
	mu        sync.Mutex
	stopWatch func()
}

// loaded is one generation of the files and the server config built from it.
type loaded struct {
	opts   Options
	cert   tls.Certificate
	pool   *x509.CertPool // nil: the system pool
	server *tls.Config
	stamps [3]stamp // cert, key, ca as read
}

// stamp is what Watch compares to see a file change.
type stamp struct {
	size int64
	mod  time.Time
	ino  uint64 // a file replaced by rename is a new inode
	ok   bool
}

// New loads o's files. It fails when a file is missing or the key does not
// match the certificate.
func New(o Options) (*Certs, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := &Certs{}
	l, err := load(o)
	if err != nil {
		return nil, err
	}
	c.cur.Store(l)
	return c, nil
}

// Options returns the settings c was built from.
func (c *Certs) Options() Options { return c.cur.Load().opts }

func paths(o *Options) [3]string {
	return [3]string{o.CertFile, o.KeyFile, o.CAFile}
}

func stat(p string) stamp {
	if p == "" {
		return stamp{}
	}
	fi, err := os.Stat(p)
	if err != nil {
		return stamp{}
	}
	st := stamp{size: fi.Size(), mod: fi.ModTime(), ok: true}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// load reads the files. Error texts name the setting, not the path, beyond
// what os errors carry; they go to the log, never to clients.
func load(o Options) (*loaded, error) {
	l := &loaded{opts: o}
	for i, p := range paths(&o) {
		l.stamps[i] = stat(p)
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: loading cert_file/key_file: %w", err)
	}
	if len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	l.cert = cert
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: loading ca_file: %w", err)
		}
		l.pool = x509.NewCertPool()
		if !l.pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls: ca_file holds no PEM certificate")
		}
	}
	l.server = base(&o)
	l.server.Certificates = []tls.Certificate{l.cert}
	l.server.ClientCAs = l.pool
	if o.RequireClientCert() {
		l.server.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return l, nil
}

// base is the config every generation shares: versions, suites, curves and
// full-size records (no dynamic record sizing: large messages want 16 KiB
// records from the first byte).
func base(o *Options) *tls.Config {
	minV := o.MinVersion
	if minV == 0 {
		minV = tls.VersionTLS12
	}
	return &tls.Config{
		MinVersion:                  minV,
		CipherSuites:                o.CipherSuites,
		CurvePreferences:            o.CurvePreferences,
		DynamicRecordSizingDisabled: true,
	}
}

// Reload reads the files again. On success new handshakes use them; on a
// failure (a file half written, a key that does not match) the previous
// generation stays and the error says why.
func (c *Certs) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, err := load(c.cur.Load().opts)
	if err != nil {
		return err
	}
	c.cur.Store(l)
	return nil
}

// Update loads o (other files, a CA, versions, suites or curves) and makes
// it current for new handshakes; on an error nothing changes. Enabled and
// the handshake settings (HandshakeFirst, Timeout) are the listener's, not
// Certs': the caller decides whether those may change.
func (c *Certs) Update(o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l, err := load(o)
	if err != nil {
		return err
	}
	c.cur.Store(l)
	return nil
}

// Leaf is the certificate currently served (nil if it did not parse).
func (c *Certs) Leaf() *x509.Certificate { return c.cur.Load().cert.Leaf }

// ServerConfig is the config of a listener: every handshake takes the
// current generation's certificate, CA pool and client-auth setting.
func (c *Certs) ServerConfig() *tls.Config {
	cfg := base(&c.cur.Load().opts)
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return c.cur.Load().server, nil
	}
	return cfg
}

// ClientConfig is the config of an outbound connection to another node
// (routes): it presents the current certificate and verifies the peer
// against the current CA pool. serverName is checked against the peer's
// certificate; empty skips the name check but still verifies the chain (the
// nodes of a cluster dial each other by address).
func (c *Certs) ClientConfig(serverName string) *tls.Config {
	l := c.cur.Load()
	cfg := base(&l.opts)
	cfg.Certificates = []tls.Certificate{l.cert}
	cfg.RootCAs = l.pool
	cfg.ServerName = serverName
	if serverName == "" {
		// Verify the chain ourselves, without a host name.
		cfg.InsecureSkipVerify = true
		pool := l.pool
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs, pool, x509.ExtKeyUsageServerAuth)
		}
	}
	return cfg
}

// verifyChain checks the peer's chain against pool (nil: the system's).
func verifyChain(cs tls.ConnectionState, pool *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage},
	})
	return err
}

// Dialer dials TLS connections with a config taken from c at each dial, so a
// reload reaches new routes. It satisfies broker.Dialer. Use it by pointer.
type Dialer struct {
	Certs *Certs
	Net   net.Dialer // its Timeout bounds the dial and the handshake together
	// Log, when set, gets each failed handshake as an error.
	Log *slog.Logger

	handshakeErrors atomic.Uint64
}

// DialContext dials addr and completes the handshake before returning.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.Net.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Net.Timeout)
		defer cancel()
	}
	raw, err := d.Net.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := d.Certs.ClientConfig("")
	if host, _, err := net.SplitHostPort(addr); err == nil {
		cfg.ServerName = host // SNI only: the chain is verified without a name
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		d.handshakeErrors.Add(1)
		_ = raw.Close()
		if d.Log != nil {
			d.Log.Error("tls: handshake error dialing", "addr", addr, "err", err)
		}
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// HandshakeErrors counts dials whose TLS handshake failed (the peer's
// certificate did not verify, it refused ours, a timeout).
func (d *Dialer) HandshakeErrors() uint64 { return d.handshakeErrors.Load() }

// Watch reloads c whenever one of its files changes size, modification
// time or inode (replaced by a rename), checking every interval on clk, until Stop. onReload gets each
// reload's outcome (nil error on success); it may be nil. A file caught half
// written fails to load and is tried again at the next change.
func (c *Certs) Watch(clk clock.Clock, interval time.Duration, onReload func(error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopWatch != nil {
		return
	}
	var (
		tmu     sync.Mutex // guards t and stopped
		t       clock.Timer
		stopped bool
		last    = c.cur.Load().stamps
	)
	var tick func()
	tick = func() {
		var now [3]stamp
		o := c.Options()
		for i, p := range paths(&o) {
			now[i] = stat(p)
		}
		if now != last {
			last = now
			err := c.Reload()
			if onReload != nil {
				onReload(err)
			}
		}
		tmu.Lock()
		if !stopped {
			t = clk.AfterFunc(interval, tick)
		}
		tmu.Unlock()
	}
	tmu.Lock()
	t = clk.AfterFunc(interval, tick)
	tmu.Unlock()
	c.stopWatch = func() {
		tmu.Lock()
		stopped = true
		t.Stop()
		tmu.Unlock()
	}
}

// Stop ends Watch.
func (c *Certs) Stop() {
	c.mu.Lock()
	stop := c.stopWatch
	c.stopWatch = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

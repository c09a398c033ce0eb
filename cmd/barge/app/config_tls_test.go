package app_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/tlsconf"
	"github.com/nats-io/nats.go"
)

// TestConfigFileTLS checks that a nats-server configuration file's tls { }
// and cluster { tls { } } blocks reach the server: the client port served
// from the file's block is TLS with verify, and a mistake in the block is
// an error naming the file's line.
func TestConfigFileTLS(t *testing.T) {
	fx := newTLSFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "barge.conf")
	conf := `
tls {
  cert_file: "` + fx.server.CertFile + `"
  key_file: "` + fx.server.KeyFile + `"
  ca_file: "` + fx.ca.CertFile + `"
  verify: true
  timeout: 2
}
cluster {
  name: c1
  tls {
    cert_file: "` + fx.server.CertFile + `"
    key_file: "` + fx.server.KeyFile + `"
    ca_file: "` + fx.ca.CertFile + `"
  }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c := app.Defaults()
	if err := c.LoadFile(path); err != nil {
		t.Fatalf("load: %v", err)
	}
	if !c.TLS.Enabled || !c.TLS.Verify || c.TLS.CertFile != fx.server.CertFile || c.TLS.CAFile != fx.ca.CertFile {
		t.Fatalf("tls block not applied: %+v", c.TLS)
	}
	if !c.ClusterTLS.Enabled || c.ClusterTLS.KeyFile != fx.server.KeyFile {
		t.Fatalf("cluster tls block not applied: %+v", c.ClusterTLS)
	}

	a := startServer(t, func(sc *app.Config) {
		sc.JetStream = false
		if err := sc.LoadFile(path); err != nil {
			t.Fatal(err)
		}
		sc.ClusterTLS = tlsconf.Options{} // no cluster here
	})
	if _, err := nats.Connect(a.ClientURL(), fx.clientOpts()...); err == nil {
		t.Fatal("a client without a certificate was served by a verify server")
	}
	nc, err := nats.Connect(a.ClientURL(), append(fx.clientOpts(), nats.ClientCert(fx.client.CertFile, fx.client.KeyFile))...)
	if err != nil {
		t.Fatalf("client with certificate: %v", err)
	}
	defer nc.Close()
	roundTrip(t, nc, "cfg.tls")

	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("tls {\n  cert_file: x\n  no_such_key: 1\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = app.Defaults()
	if err := c.LoadFile(bad); err == nil {
		t.Fatal("an unknown key in tls { } was accepted")
	}
}

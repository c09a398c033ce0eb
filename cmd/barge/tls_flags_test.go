package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTLSFlags: nats-server's TLS flags fill the client port's TLS
// settings; --tlscert or --tlsverify turn TLS on; a setting that cannot
// work is refused at parse time.
func TestTLSFlags(t *testing.T) {
	var help bytes.Buffer
	usage(&help)
	for _, want := range []string{"--tls ", "--tlscert", "--tlskey", "--tlscacert", "--tlsverify", "--https_port"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
	o, err := parseFlags([]string{"--tlscert", "s.pem", "--tlskey", "k.pem", "--tlscacert", "ca.pem", "--tlsverify", "--https_port", "8443"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg.TLS
	if !c.Enabled || c.CertFile != "s.pem" || c.KeyFile != "k.pem" || c.CAFile != "ca.pem" || !c.Verify || o.cfg.HTTPSPort != 8443 {
		t.Fatalf("tls %+v https_port %d", c, o.cfg.HTTPSPort)
	}
	for _, bad := range [][]string{
		{"--tls"},              // no certificate
		{"--tlscert", "s.pem"}, // no key
		{"--tlscert", "s.pem", "--tlskey", "k.pem", "--tlsverify"}, // verify without a CA
		{"--https_port", "8443"},                                   // https without TLS
	} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

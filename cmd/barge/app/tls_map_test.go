package app_test

import (
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/internal/testcert"
	"github.com/nats-io/nats.go"
)

// tlsMapConf maps client certificates to users (verify_and_map): the user
// names are a DN (written in another case and spacing than Go prints it),
// a DN in reversed RDN order, an email SAN, a DNS SAN and a URI SAN. None
// has a password.
const tlsMapConf = `
tls {
  cert_file: %q
  key_file: %q
  ca_file: %q
  verify_and_map: true
}
authorization {
  users: [
    {user: "cn=dn-user, ou=eng, o=barge tests", permissions: {publish: ["dn.>", "_INBOX.>"], subscribe: ["dn.>", "_INBOX.>"]}}
    {user: "O=barge tests,OU=eng,CN=reordered"}
    {user: "alice@example.com"}
    {user: "client.example.com"}
    {user: "spiffe://example.org/worker"}
    {user: "pw-user@example.com", password: "s3cret"}
  ]
}
`

// TestTLSVerifyAndMap: a client certificate logs in as the user its
// subject DN (in RDN order or reordered), email SAN, DNS SAN or URI SAN
// names, without a password; one that names no user is refused with
// Authorization Violation; a mapped user with a password must still send
// it.
func TestTLSVerifyAndMap(t *testing.T) {
	fx := newTLSFixture(t)
	s := startFromFile(t, fmt.Sprintf(tlsMapConf, fx.server.CertFile, fx.server.KeyFile, fx.ca.CertFile))
	a := s.a
	uri, _ := url.Parse("spiffe://example.org/worker")
	leaf := func(cn string, o testcert.LeafOptions) []nats.Option {
		o.Client = true
		p := fx.ca.Leaf(t, cn, o)
		return []nats.Option{nats.RootCAs(fx.ca.CertFile), nats.ClientCert(p.CertFile, p.KeyFile)}
	}
	eng := func(cn string) pkix.Name {
		return pkix.Name{CommonName: cn, OrganizationalUnit: []string{"eng"}, Organization: []string{"barge tests"}}
	}
	mapped := map[string][]nats.Option{
		"DN":          leaf("dn-user", testcert.LeafOptions{Subject: eng("dn-user")}),
		"reordered":   leaf("reordered", testcert.LeafOptions{Subject: eng("reordered")}),
		"email SAN":   leaf("mail", testcert.LeafOptions{Emails: []string{"nobody@example.com", "alice@example.com"}}),
		"DNS SAN":     leaf("host", testcert.LeafOptions{DNSNames: []string{"client.example.com"}}),
		"URI SAN":     leaf("worker", testcert.LeafOptions{URIs: []*url.URL{uri}}),
		"with a pass": append(leaf("pw", testcert.LeafOptions{Emails: []string{"pw-user@example.com"}}), nats.UserInfo("", "s3cret")),
	}
	for name, opts := range mapped {
		if err := connectErr(a, opts...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	refused := map[string][]nats.Option{
		"unmapped":         leaf("stranger", testcert.LeafOptions{}),
		"unmapped SAN":     leaf("other-host", testcert.LeafOptions{DNSNames: []string{"other.example.com"}}),
		"user in CONNECT":  append(leaf("stranger2", testcert.LeafOptions{}), nats.UserInfo("alice@example.com", "")),
		"missing password": leaf("pw2", testcert.LeafOptions{Emails: []string{"pw-user@example.com"}}),
	}
	for name, opts := range refused {
		wantAuthViolation(t, name, connectErr(a, opts...))
	}
}

// TestTLSVerifyAndMapPermissions: the mapped user's permissions apply.
func TestTLSVerifyAndMapPermissions(t *testing.T) {
	fx := newTLSFixture(t)
	s := startFromFile(t, fmt.Sprintf(tlsMapConf, fx.server.CertFile, fx.server.KeyFile, fx.ca.CertFile))
	p := fx.ca.Leaf(t, "dn-user", testcert.LeafOptions{Client: true,
		Subject: pkix.Name{CommonName: "dn-user", OrganizationalUnit: []string{"eng"}, Organization: []string{"barge tests"}}})
	errs := make(chan error, 8)
	nc := connect(t, s.a, nats.RootCAs(fx.ca.CertFile), nats.ClientCert(p.CertFile, p.KeyFile),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	roundTrip(t, nc, "dn.echo")
	if err := nc.Publish("other", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Publish to "other"`) {
			t.Fatalf("async error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation reported")
	}
	var z struct {
		Conns []struct {
			User string `json:"authorized_user"`
		} `json:"connections"`
	}
	getJSON(t, s.a.MonitorURL()+"/connz?auth=1", &z)
	if len(z.Conns) != 1 || z.Conns[0].User != "cn=dn-user, ou=eng, o=barge tests" {
		t.Fatalf("/connz users: %+v", z.Conns)
	}
}

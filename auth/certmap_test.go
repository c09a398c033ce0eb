package auth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/bargemq/barge/internal/testcert"
)

// TestParseDN: RFC 4514 names parse (escapes, spaces, multi-valued RDNs);
// plain user names and BER values do not.
func TestParseDN(t *testing.T) {
	d, ok := parseDN(` CN = a\,b\2Bc , OU=x+O=y,DC=example`)
	if !ok || len(d) != 3 || d[0][0] != (attr{"CN", "a,b+c"}) || len(d[1]) != 2 || d[2][0] != (attr{"DC", "example"}) {
		t.Fatalf("parsed %+v %v", d, ok)
	}
	for _, s := range []string{"alice", "alice@example.com", "CN=#0403616263", "=x", "CN=a,b", `CN=a\`} {
		if _, ok := parseDN(s); ok {
			t.Errorf("%q parsed as a DN", s)
		}
	}
}

// TestMapCert: the names a certificate is tried by, in nats-server's
// order: SANs first, then the DN (exact, then reordered), then Go's
// subject string with and without the domain components.
func TestMapCert(t *testing.T) {
	ca := testcert.NewCA(t, "map-ca")
	dc := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	dcs := []pkix.AttributeTypeAndValue{{Type: dc, Value: "example"}, {Type: dc, Value: "org"}}
	withDC := pkix.Name{CommonName: "svc", Organization: []string{"acme"}, ExtraNames: dcs}
	// An attribute the DN match does not know leaves only the strings.
	odd := pkix.Name{CommonName: "svc", Organization: []string{"acme"},
		ExtraNames: append([]pkix.AttributeTypeAndValue{{Type: email, Value: "svc@acme.org"}}, dcs...)}
	plain := pkix.Name{CommonName: "bob", Organization: []string{"acme"}}
	for _, tc := range []struct {
		what  string
		users []string
		o     testcert.LeafOptions
		want  string
	}{
		{"email before DN", []string{"CN=bob,O=acme", "bob@acme.org"}, testcert.LeafOptions{Subject: plain, Emails: []string{"bob@acme.org"}}, "bob@acme.org"},
		{"DN exact", []string{"cn=bob, o=acme", "O=acme,CN=bob"}, testcert.LeafOptions{Subject: plain}, "cn=bob, o=acme"},
		{"DN reordered", []string{"O=acme,CN=bob"}, testcert.LeafOptions{Subject: plain}, "O=acme,CN=bob"},
		{"value case matters", []string{"CN=Bob,O=acme"}, testcert.LeafOptions{Subject: plain}, ""},
		{"DN with DCs", []string{"dc=org,dc=example,cn=svc,o=acme"}, testcert.LeafOptions{Subject: withDC}, "dc=org,dc=example,cn=svc,o=acme"},
		{"string with DCs", []string{"CN=svc,O=acme", "CN=svc,O=acme,DC=example,DC=org"}, testcert.LeafOptions{Subject: odd}, "CN=svc,O=acme,DC=example,DC=org"},
		{"string without DCs", []string{"CN=svc,O=acme"}, testcert.LeafOptions{Subject: odd}, "CN=svc,O=acme"},
		{"unknown attribute: no DN match", []string{"O=acme,CN=svc"}, testcert.LeafOptions{Subject: odd}, ""},
		{"localhost SAN", []string{"localhost"}, testcert.LeafOptions{Subject: plain}, "localhost"},
	} {
		cfg := Config{TLSMap: true}
		for _, u := range tc.users {
			cfg.Users = append(cfg.Users, User{Name: u})
		}
		a, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		cert := ca.Leaf(t, "leaf", tc.o).Cert
		id, err := a.Authenticate(&Credentials{Cert: cert, User: "ignored"}, nil, "", time.Time{})
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: logged in as %q", tc.what, id.Name)
		case tc.want != "" && (err != nil || id.Name != tc.want):
			t.Errorf("%s: %v %v, want %q", tc.what, id, err, tc.want)
		}
	}
	a, _ := New(Config{TLSMap: true, Users: []User{{Name: "x"}}}, nil)
	if _, err := a.Authenticate(&Credentials{User: "x"}, nil, "", time.Time{}); err == nil {
		t.Error("logged in without a certificate")
	}
}

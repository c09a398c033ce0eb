package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"sort"
	"strings"
)

// TLS certificate mapping (verify_and_map), with nats-server's semantics:
// when the client port maps certificates and users are configured, a
// client's user is the one its certificate names, and the user or token of
// its CONNECT are not consulted (a password the mapped user has must still
// be sent). The names tried, in order, each against the configured user
// names:
//
//  1. the email address SANs, then the DNS name SANs, then the URI SANs,
//     each literally;
//  2. the subject as a distinguished name: a user name that parses as an
//     RFC 4514 DN ("CN=alice,O=acme") equal to the certificate's subject,
//     RDN by RDN (attribute types case-insensitive, values exact); then one
//     holding the same RDNs in another order ("O=acme,CN=alice");
//  3. the subject as Go prints it (RFC 2253 order), with the domain
//     components appended when it has some ("CN=alice,O=acme,DC=example"),
//     then without them, literally.
//
// A certificate that names no configured user is refused.

// dnAttrNames are the attribute types a certificate subject may hold for
// the DN match (2 above), as nats-server names them; a subject with any
// other type is matched by its string forms (3) only.
var dnAttrNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.17":                   "POSTALCODE",
	"0.9.2342.19200300.100.1.25": "DC",
}

// oidDC is the domainComponent attribute.
var oidDC = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}

// attr is one type=value of a relative distinguished name.
type attr struct{ typ, value string }

// rdn is a relative distinguished name: one or more attributes ("+").
type rdn []attr

// dn is a distinguished name, most specific RDN first (RFC 4514 order).
type dn []rdn

// userDN is a configured user whose name parses as a distinguished name.
type userDN struct {
	name string
	dn   dn
}

// userDNs lists the users whose names are distinguished names, sorted by
// name so that the reordered match is deterministic.
func userDNs(users map[string]*login) []userDN {
	var out []userDN
	for name := range users {
		if d, ok := parseDN(name); ok {
			out = append(out, userDN{name: name, dn: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// certLogin logs a client in as the user its certificate maps to.
func (a *Authenticator) certLogin(cr *Credentials) (*Identity, error) {
	cert := cr.Cert
	if cert == nil {
		return nil, fail("verify_and_map: no client certificate")
	}
	name, ok := a.mapCert(cert)
	if !ok {
		return nil, fail("verify_and_map: certificate " + strings.TrimSpace(cert.Subject.String()) + " maps to no user")
	}
	u := a.users[name]
	if !a.comparePassword(u.user.Password, cr.Pass) {
		return nil, fail("wrong password for certificate user " + name)
	}
	return &Identity{Name: name, Account: u.user.Account, Perms: u.perms}, nil
}

// mapCert finds the configured user cert names.
func (a *Authenticator) mapCert(cert *x509.Certificate) (string, bool) {
	lit := func(s string) (string, bool) {
		if s == "" {
			return "", false
		}
		_, ok := a.users[s]
		return s, ok
	}
	for _, s := range cert.EmailAddresses {
		if n, ok := lit(s); ok {
			return n, true
		}
	}
	for _, s := range cert.DNSNames {
		if n, ok := lit(s); ok {
			return n, true
		}
	}
	for _, u := range cert.URIs {
		if n, ok := lit(u.String()); ok {
			return n, true
		}
	}
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err == nil && len(rest) == 0 {
		if d, ok := subjectDN(seq); ok {
			for _, u := range a.certDNs {
				if u.dn.equal(d) {
					return u.name, true
				}
			}
			for _, u := range a.certDNs {
				if u.dn.sameRDNs(d) {
					return u.name, true
				}
			}
		}
		var dcs []string
		for _, r := range seq {
			for _, tv := range r {
				if v, ok := tv.Value.(string); ok && tv.Type.Equal(oidDC) {
					dcs = append(dcs, "DC="+v)
				}
			}
		}
		if len(dcs) > 0 {
			if n, ok := lit(cert.Subject.ToRDNSequence().String() + "," + strings.Join(dcs, ",")); ok {
				return n, true
			}
		}
	}
	return lit(cert.Subject.ToRDNSequence().String())
}

// subjectDN turns a certificate subject (least specific RDN first, as
// encoded) into a dn (most specific first); false when it holds an
// attribute type or a value kind the DN match does not know.
func subjectDN(seq pkix.RDNSequence) (dn, bool) {
	d := make(dn, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		if len(seq[i]) == 0 {
			continue
		}
		r := make(rdn, 0, len(seq[i]))
		for _, tv := range seq[i] {
			typ, ok := dnAttrNames[tv.Type.String()]
			if !ok {
				return nil, false
			}
			v, ok := tv.Value.(string)
			if !ok {
				return nil, false
			}
			r = append(r, attr{typ: typ, value: v})
		}
		d = append(d, r)
	}
	return d, true
}

// equal is distinguishedNameMatch: the same RDNs in the same order.
func (d dn) equal(o dn) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if !d[i].equal(o[i]) {
			return false
		}
	}
	return true
}

// sameRDNs reports whether d and o hold the same RDNs in any order.
func (d dn) sameRDNs(o dn) bool {
	if len(d) != len(o) {
		return false
	}
	used := make([]bool, len(o))
next:
	for _, r := range d {
		for j := range o {
			if !used[j] && r.equal(o[j]) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

// equal compares two RDNs as sets of attributes.
func (r rdn) equal(o rdn) bool {
	if len(r) != len(o) {
		return false
	}
	return r.holds(o) && o.holds(r)
}

func (r rdn) holds(o rdn) bool {
outer:
	for _, x := range o {
		for _, y := range r {
			if strings.EqualFold(x.typ, y.typ) && x.value == y.value {
				continue outer
			}
		}
		return false
	}
	return true
}

// parseDN parses an RFC 4514 distinguished name: RDNs separated by ',',
// attributes of one RDN by '+', each "type=value"; '\' escapes a special
// character or gives a byte as two hex digits; unescaped spaces around
// types and values are dropped. A value in BER form ("#04...") is not
// supported. false when s is not a DN (as a plain user name is not).
func parseDN(s string) (dn, bool) {
	var (
		d        dn
		cur      rdn
		buf      []byte
		typ      string
		inValue  bool
		trailing int // unescaped spaces at the end of buf
	)
	take := func() string {
		v := string(buf[:len(buf)-trailing])
		buf, trailing = buf[:0], 0
		return v
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, false
			}
			i++
			trailing = 0
			if strings.IndexByte(" \"#+,;<=>\\", s[i]) >= 0 {
				buf = append(buf, s[i])
				continue
			}
			if i+1 >= len(s) {
				return nil, false
			}
			b, err := hex.DecodeString(s[i : i+2])
			if err != nil {
				return nil, false
			}
			buf = append(buf, b[0])
			i++
		case ch == '=' && !inValue:
			if typ = take(); typ == "" {
				return nil, false
			}
			inValue = true
			if i+1 < len(s) && s[i+1] == '#' {
				return nil, false
			}
		case ch == ',' || ch == '+':
			if !inValue {
				return nil, false
			}
			cur = append(cur, attr{typ: typ, value: take()})
			inValue = false
			if ch == ',' {
				d = append(d, cur)
				cur = nil
			}
		case ch == ' ' && len(buf) == 0:
			// leading space
		default:
			if ch == ' ' {
				trailing++
			} else {
				trailing = 0
			}
			buf = append(buf, ch)
		}
	}
	if !inValue {
		return nil, false
	}
	cur = append(cur, attr{typ: typ, value: take()})
	return append(d, cur), true
}

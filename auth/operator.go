package auth

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
)

// operatorMode is nats-server's operator mode with the MEMORY resolver:
// trusted operators, and the account JWTs preloaded from the
// configuration. A client logs in with a user JWT issued by one of those
// accounts (directly or through one of its signing keys) and proves it
// holds the user's seed by signing the nonce, as nats.go does with a creds
// file (nats.UserCredentials).
type operatorMode struct {
	// trusted are the operators' public keys and signing keys.
	trusted map[string]bool
	// accounts are the preloaded accounts by public key.
	accounts map[string]*jwt.AccountClaims
}

func newOperatorMode(ops []string, accounts map[string]string) (*operatorMode, error) {
	m := &operatorMode{trusted: make(map[string]bool), accounts: make(map[string]*jwt.AccountClaims)}
	for _, s := range ops {
		oc, err := jwt.DecodeOperatorClaims(s)
		if err != nil {
			return nil, fmt.Errorf("operator: error parsing operator JWT: %w", err)
		}
		vr := jwt.CreateValidationResults()
		oc.Validate(vr)
		if vr.IsBlocking(true) {
			return nil, fmt.Errorf("operator %s: %v", oc.Subject, vr.Errors())
		}
		m.trusted[oc.Subject] = true
		for _, k := range oc.SigningKeys {
			m.trusted[k] = true
		}
	}
	for key, s := range accounts {
		ac, err := jwt.DecodeAccountClaims(s)
		if err != nil {
			return nil, fmt.Errorf("resolver_preload: invalid account JWT for %s: %w", key, err)
		}
		if ac.Subject != key {
			return nil, fmt.Errorf("resolver_preload: the JWT under %s is account %s's", key, ac.Subject)
		}
		if !m.trusted[ac.Issuer] {
			return nil, fmt.Errorf("resolver_preload: account %s is not signed by a trusted operator", key)
		}
		m.accounts[key] = ac
	}
	return m, nil
}

// authenticate checks a user JWT login, as nats-server does: the JWT is
// valid and current, its account is known, current and signed by a
// trusted operator, its issuer is the account or one of its signing keys
// (a scoped key's template gives the permissions), the nonce is signed
// with the user's key (unless a bearer token the account allows), it is
// not revoked, and the client's address and the time of day are within
// its limits.
func (m *operatorMode) authenticate(cr *Credentials, nonce []byte, host string, now time.Time) (*Identity, error) {
	if cr.JWT == "" {
		return nil, fail("authentication requires a user JWT")
	}
	uc, err := jwt.DecodeUserClaims(cr.JWT)
	if err != nil {
		return nil, fail("user JWT not valid: " + err.Error())
	}
	vr := jwt.CreateValidationResults()
	uc.Validate(vr)
	if vr.IsBlocking(true) {
		return nil, fail(fmt.Sprintf("user JWT no longer valid: %v", vr.Errors()))
	}
	issuer := uc.Issuer
	if uc.IssuerAccount != "" {
		issuer = uc.IssuerAccount
	}
	ac := m.accounts[issuer]
	if ac == nil {
		return nil, fail("account " + issuer + " not found")
	}
	if ac.Expires > 0 && now.Unix() >= ac.Expires {
		return nil, fail("account JWT has expired")
	}
	limits := uc.UserPermissionLimits
	if uc.Issuer != ac.Subject {
		scope, ok := ac.SigningKeys.GetScope(uc.Issuer)
		if !ok {
			return nil, fail("user JWT issuer is not known")
		}
		if scope != nil {
			if err := scope.ValidateScopedSigner(uc); err != nil {
				return nil, fail("user JWT is not valid: " + err.Error())
			}
			us, ok := scope.(*jwt.UserScope)
			if !ok {
				return nil, fail("user JWT is not valid")
			}
			if hasTemplate(&us.Template.Permissions) {
				return nil, fail("permission templates of scoped signing keys are not supported")
			}
			limits = us.Template
		}
	}
	if limits.BearerToken {
		if ac.Limits.DisallowBearer {
			return nil, fail("account does not allow bearer tokens")
		}
	} else if err := verifySig(uc.Subject, cr.Sig, nonce); err != nil {
		return nil, err
	}
	if ac.Revocations.IsRevoked(uc.Subject, time.Unix(uc.IssuedAt, 0)) {
		return nil, fail("user authentication revoked")
	}
	if !srcAllowed(limits.Src, host) {
		return nil, fail("bad src ip " + host)
	}
	if ok, err := timesAllowed(&limits.UserLimits, now); !ok {
		return nil, fail("outside connect times" + err)
	}
	perms, err := Compile(fromJWT(&limits.Permissions))
	if err != nil {
		return nil, fail("user JWT permissions: " + err.Error())
	}
	if perms == nil {
		if perms, err = Compile(fromJWT(&ac.DefaultPermissions)); err != nil {
			return nil, fail("account default permissions: " + err.Error())
		}
	}
	id := &Identity{Name: uc.Subject, Account: ac.Subject, Perms: perms,
		MaxSubs: MinSubs(SubsLimit(limits.Subs), SubsLimit(ac.Limits.Subs))}
	if uc.Expires > 0 {
		id.Expires = time.Unix(uc.Expires, 0)
	}
	return id, nil
}

// fromJWT converts JWT permissions; empty ones give nil.
func fromJWT(p *jwt.Permissions) *Permissions {
	if p.Pub.Empty() && p.Sub.Empty() && p.Resp == nil {
		return nil
	}
	out := &Permissions{}
	if !p.Pub.Empty() {
		out.Publish = &SubjectPermission{Allow: nilIfEmpty(p.Pub.Allow), Deny: nilIfEmpty(p.Pub.Deny)}
	}
	if !p.Sub.Empty() {
		out.Subscribe = &SubjectPermission{Allow: nilIfEmpty(p.Sub.Allow), Deny: nilIfEmpty(p.Sub.Deny)}
	}
	if p.Resp != nil {
		out.Response = &ResponsePermission{MaxMsgs: p.Resp.MaxMsgs, Expires: p.Resp.Expires}
	}
	return out
}

func nilIfEmpty(l jwt.StringList) []string {
	if len(l) == 0 {
		return nil
	}
	return []string(l)
}

func hasTemplate(p *jwt.Permissions) bool {
	for _, l := range [][]string{p.Pub.Allow, p.Pub.Deny, p.Sub.Allow, p.Sub.Deny} {
		for _, s := range l {
			if strings.Contains(s, "{{") {
				return true
			}
		}
	}
	return false
}

// srcAllowed reports whether host is in one of the CIDR blocks (an empty
// list allows every address).
func srcAllowed(src jwt.CIDRList, host string) bool {
	if len(src) == 0 {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, c := range src {
		if _, n, err := net.ParseCIDR(c); err == nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// timesAllowed reports whether now's time of day (in the limits' location,
// local when none) is within one of the ranges ("15:04:05" start and end;
// an empty list allows any time). The string explains a refusal.
func timesAllowed(l *jwt.UserLimits, now time.Time) (bool, string) {
	if len(l.Times) == 0 {
		return true, ""
	}
	loc := time.Local
	if l.Locale != "" {
		var err error
		if loc, err = time.LoadLocation(l.Locale); err != nil {
			return false, ": " + err.Error()
		}
	}
	now = now.In(loc)
	for _, r := range l.Times {
		start, err1 := time.ParseInLocation("15:04:05", r.Start, loc)
		end, err2 := time.ParseInLocation("15:04:05", r.End, loc)
		if err1 != nil || err2 != nil {
			continue
		}
		s := time.Date(now.Year(), now.Month(), now.Day(), start.Hour(), start.Minute(), start.Second(), 0, loc)
		e := time.Date(now.Year(), now.Month(), now.Day(), end.Hour(), end.Minute(), end.Second(), 0, loc)
		if !e.After(s) {
			e = e.AddDate(0, 0, 1) // a range over midnight
		}
		if within(now, s, e) || within(now, s.AddDate(0, 0, -1), e.AddDate(0, 0, -1)) {
			return true, ""
		}
	}
	return false, ""
}

func within(t, start, end time.Time) bool { return !t.Before(start) && t.Before(end) }

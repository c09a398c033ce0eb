package auth

import (
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/nats-io/nkeys"
)

// Credentials are what a client's CONNECT carries (nats-server's field
// names in the comments).
type Credentials struct {
	User  string // "user"
	Pass  string // "pass"
	Token string // "auth_token"
	Nkey  string // "nkey": the user's public nkey
	Sig   string // "sig": the nonce signed with the nkey's seed, base64
	JWT   string // "jwt": a user JWT (operator mode)
	// Cert is the client's TLS certificate (the leaf it presented), nil
	// without one; Config.TLSMap logs users in by it.
	Cert *x509.Certificate
}

// Identity is who a client logged in as.
type Identity struct {
	// Name is the user name, the nkey or the user JWT's subject; "" for
	// a token or a server without authentication.
	Name string
	// Account is the user's account (GlobalAccount, or the account
	// public key in operator mode).
	Account string
	// Perms are the compiled permissions; nil restricts nothing.
	Perms *Perms
	// Expires is when a user JWT expires; zero when it does not.
	Expires time.Time
	// MaxSubs is the most subscriptions the user may hold, from its user
	// and account JWTs (limits.subs): 0 sets no limit (the server's
	// max_subscriptions still applies), negative allows none. The account
	// layer lowers it to its account's max_subscriptions.
	MaxSubs int64
}

// SubsLimit converts a JWT subscription limit (jwt.NoLimit, -1, for none)
// to Identity.MaxSubs.
func SubsLimit(jwtSubs int64) int64 {
	switch {
	case jwtSubs < 0:
		return 0
	case jwtSubs == 0:
		return -1
	}
	return jwtSubs
}

// MinSubs is the tighter of two Identity.MaxSubs limits.
func MinSubs(a, b int64) int64 {
	switch {
	case a < 0 || b < 0:
		return -1
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// Failure is why a login was refused, for the server's log; the client is
// only told 'Authorization Violation'.
type Failure struct{ Reason string }

func (f *Failure) Error() string { return f.Reason }

func fail(reason string) error { return &Failure{Reason: reason} }

// Authenticator decides logins for one configuration. It is immutable
// (its password cache is internally synchronized) and safe for concurrent
// use; a reload builds a new one with New(cfg, old).
type Authenticator struct {
	cfg          Config
	timeout      time.Duration
	users        map[string]*login // by name
	nkeys        map[string]*login // by public nkey
	defaultPerms *Perms
	op           *operatorMode // nil outside operator mode
	certDNs      []userDN      // users named by a DN, for TLSMap
	cache        *passCache
}

// login is a configured user with its compiled permissions.
type login struct {
	user  User
	perms *Perms
}

// New checks cfg and builds its Authenticator. prev (may be nil) lends the
// bcrypt results that still apply: those of hashes cfg still configures.
func New(cfg Config, prev *Authenticator) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{cfg: cfg, timeout: cfg.Timeout}
	if a.timeout == 0 {
		a.timeout = DefaultTimeout
	}
	var err error
	if a.defaultPerms, err = Compile(cfg.DefaultPermissions); err != nil {
		return nil, err
	}
	hashes := make(map[string]bool)
	if IsBcrypt(cfg.Password) {
		hashes[cfg.Password] = true
	}
	if IsBcrypt(cfg.Token) {
		hashes[cfg.Token] = true
	}
	if cfg.Users != nil {
		a.users = make(map[string]*login)
		a.nkeys = make(map[string]*login)
	}
	for _, u := range cfg.Users {
		l := &login{user: u, perms: a.defaultPerms}
		if u.Permissions != nil {
			if l.perms, err = Compile(u.Permissions); err != nil {
				return nil, err
			}
		}
		if l.user.Account == "" {
			l.user.Account = GlobalAccount
		}
		if u.Nkey != "" {
			a.nkeys[u.Nkey] = l
			continue
		}
		a.users[u.Name] = l
		if IsBcrypt(u.Password) {
			hashes[u.Password] = true
		}
	}
	if len(cfg.Operators) > 0 {
		if a.op, err = newOperatorMode(cfg.Operators, cfg.Accounts); err != nil {
			return nil, err
		}
	}
	if cfg.TLSMap {
		a.certDNs = userDNs(a.users)
	}
	var old *passCache
	if prev != nil {
		old = prev.cache
	}
	a.cache = old.retain(hashes)
	return a, nil
}

// Required reports whether clients must authenticate (INFO's
// auth_required).
func (a *Authenticator) Required() bool { return a != nil && a.cfg.Required() }

// NeedsNonce reports whether INFO must carry a nonce: nkey users or
// operator mode.
func (a *Authenticator) NeedsNonce() bool { return a != nil && (len(a.nkeys) > 0 || a.op != nil) }

// Timeout is how long a client may take to send CONNECT.
func (a *Authenticator) Timeout() time.Duration { return a.timeout }

// NoAuthUser is the user a client without credentials logs in as, "" when
// none.
func (a *Authenticator) NoAuthUser() string { return a.cfg.NoAuthUser }

// BcryptComputed is the number of bcrypt comparisons this authenticator
// (and the ones it inherited its cache from) actually ran.
func (a *Authenticator) BcryptComputed() int64 { return a.cache.computed.Load() }

// Authenticate decides a login, in nats-server's order: operator mode
// (user JWT), nkey users, users (the no_auth_user standing in for a client
// without credentials), then the single token or user. nonce is the one
// INFO sent (nkey and JWT users sign it), host the client's address (a
// user JWT may limit it). With Config.TLSMap, users log in by cr.Cert
// instead (certmap.go). On refusal the error is a *Failure.
func (a *Authenticator) Authenticate(cr *Credentials, nonce []byte, host string, now time.Time) (*Identity, error) {
	if !a.Required() {
		return &Identity{Account: GlobalAccount}, nil
	}
	if a.op != nil {
		return a.op.authenticate(cr, nonce, host, now)
	}
	noCreds := cr.User == "" && cr.Pass == "" && cr.Token == "" && cr.Nkey == ""
	noAuth := a.cfg.NoAuthUser
	var nk *login
	if len(a.nkeys) > 0 {
		nkey := cr.Nkey
		if noCreds && noAuth != "" && a.nkeys[noAuth] != nil {
			nkey = noAuth
		}
		if nkey != "" {
			if nk = a.nkeys[nkey]; nk == nil {
				return nil, fail("unknown nkey " + nkey)
			}
		}
	}
	if nk != nil {
		if nk.user.Nkey != noAuth || !noCreds {
			if err := verifySig(nk.user.Nkey, cr.Sig, nonce); err != nil {
				return nil, err
			}
		}
		return &Identity{Name: nk.user.Nkey, Account: nk.user.Account, Perms: nk.perms}, nil
	}
	if a.cfg.TLSMap && len(a.users) > 0 {
		return a.certLogin(cr)
	}
	if len(a.users) > 0 {
		if noCreds && noAuth != "" {
			if u := a.users[noAuth]; u != nil {
				return &Identity{Name: u.user.Name, Account: u.user.Account, Perms: u.perms}, nil
			}
		}
		if name, pass := cr.User, cr.Pass; name != "" {
			u := a.users[name]
			if u == nil {
				return nil, fail("unknown user " + strconv.Quote(name))
			}
			if !a.comparePassword(u.user.Password, pass) {
				return nil, fail("wrong password for user " + strconv.Quote(name))
			}
			return &Identity{Name: name, Account: u.user.Account, Perms: u.perms}, nil
		}
	}
	switch {
	case a.cfg.Token != "":
		if !a.comparePassword(a.cfg.Token, cr.Token) {
			if cr.Token == "" {
				return nil, fail("no token")
			}
			return nil, fail("wrong token")
		}
		return &Identity{Account: GlobalAccount}, nil
	case a.cfg.User != "":
		if cr.User != a.cfg.User {
			if cr.User == "" {
				return nil, fail("no credentials")
			}
			return nil, fail("unknown user " + strconv.Quote(cr.User))
		}
		if !a.comparePassword(a.cfg.Password, cr.Pass) {
			return nil, fail("wrong password for user " + strconv.Quote(cr.User))
		}
		return &Identity{Name: cr.User, Account: GlobalAccount}, nil
	}
	return nil, fail("no credentials")
}

// comparePassword compares a client's password or token with the
// configured one: a bcrypt hash through the cache, else in constant time.
func (a *Authenticator) comparePassword(configured, given string) bool {
	if IsBcrypt(configured) {
		return a.cache.compare(configured, given)
	}
	return subtle.ConstantTimeCompare([]byte(configured), []byte(given)) == 1
}

// verifySig checks that sig (base64, URL or standard alphabet) is the
// nonce signed by the seed of the public nkey pub.
func verifySig(pub, sig string, nonce []byte) error {
	if sig == "" {
		return fail("signature missing")
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return fail("signature not valid base64")
		}
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return fail("user nkey not valid: " + err.Error())
	}
	if err := kp.Verify(nonce, raw); err != nil {
		return fail("signature not verified")
	}
	return nil
}

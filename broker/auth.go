package broker

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/codec"
)

// Client authentication. The Server holds the auth.Authenticator in force
// (SetAuth replaces it on reload: logins after it use the new one). When it
// requires authentication, a connection's INFO says auth_required (and
// carries a nonce for nkey and JWT users), and the client must send a
// CONNECT with valid credentials within the authenticator's timeout:
// anything else first, or credentials that do not log in, get
// -ERR 'Authorization Violation' and the connection is closed; silence
// gets -ERR 'Authentication Timeout'. Each refusal is logged with the
// client's address and the reason, and counted in Varz.AuthFailures.

// nonceLen is the number of random bytes of an INFO nonce (nats-server's
// length), sent base64url without padding.
const nonceLen = 11

// Errors closing a connection at login, worded as nats-server sends them.
var (
	errAuthViolation = &codec.ProtoError{Msg: "Authorization Violation", Fatal: true}
	// ErrAuthTimeout is the reason a connection that did not log in in
	// time is closed with.
	ErrAuthTimeout = errors.New("broker: authentication timeout")
	// ErrAuthExpired closes a connection whose user JWT expired.
	ErrAuthExpired = errors.New("broker: user authentication expired")
)

// SetAuth installs the authenticator for the logins that follow (nil
// requires none) and checks the connected clients against it, as
// nats-server does on reload: each is authenticated again with the
// credentials of its CONNECT; one that no longer logs in gets
// -ERR 'Authorization Violation' and is closed, the others take their
// user's new permissions (subscriptions these no longer allow are removed,
// with a violation error naming the sid).
func (s *Server) SetAuth(a *auth.Authenticator) {
	s.authn.Store(a)
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	for _, c := range clients {
		if c.closed.Load() || c.awaitingAuth.Load() {
			continue
		}
		c.reauthorize(a)
	}
}

// reauthorize checks a logged-in client against a new authenticator.
func (c *client) reauthorize(a *auth.Authenticator) {
	c.mu.Lock()
	cr := c.mu.creds
	c.mu.Unlock()
	id, err := a.Authenticate(&cr, []byte(c.nonce), c.host, c.srv.opts.Clock.Now())
	if err != nil {
		c.srv.stats.authFailures.Add(1)
		c.srv.log.Warn("authorization revoked by reload", "cid", c.cid, "addr", c.t.RemoteAddr(), "user", cr.User, "reason", err.Error())
		c.sendErr(errAuthViolation.Msg)
		c.t.Close(errors.New("broker: authorization revoked"))
		return
	}
	if c.srv.Account(id.Account) != c.account() {
		c.srv.stats.authFailures.Add(1)
		c.srv.log.Warn("account changed by reload, client closed", "cid", c.cid, "addr", c.t.RemoteAddr(), "user", cr.User, "account", id.Account)
		c.sendErr(errAuthViolation.Msg)
		c.t.Close(errors.New("broker: account changed"))
		return
	}
	c.setIdentity(id)
}

// Auth returns the authenticator in force (nil: none).
func (s *Server) Auth() *auth.Authenticator { return s.authn.Load() }

// prepareAuth is called by Accept before INFO is sent: when authentication
// is required it sets INFO's auth_required and nonce, marks the client as
// awaiting its CONNECT and arms the timeout.
func (c *client) prepareAuth(info *codec.Info) {
	a := c.srv.authn.Load()
	if !a.Required() {
		return
	}
	info.AuthRequired = true
	if a.NeedsNonce() {
		var raw [nonceLen]byte
		_, _ = rand.Read(raw[:])
		c.nonce = base64.RawURLEncoding.EncodeToString(raw[:])
		info.Nonce = c.nonce
	}
	c.awaitingAuth.Store(true)
	c.mu.Lock()
	c.mu.authTimer = c.srv.opts.Clock.AfterFunc(a.Timeout(), c.authTimeout)
	c.mu.Unlock()
}

// authTimeout closes a connection that has not logged in in time.
func (c *client) authTimeout() {
	if !c.awaitingAuth.Load() || c.closed.Load() {
		return
	}
	c.srv.stats.authFailures.Add(1)
	c.srv.log.Warn("authentication timeout", "cid", c.cid, "addr", c.t.RemoteAddr())
	c.sendErr("Authentication Timeout")
	c.t.Close(ErrAuthTimeout)
}

// stopAuthTimers stops the login timeout and the JWT expiry.
func (c *client) stopAuthTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.authTimer != nil {
		c.mu.authTimer.Stop()
		c.mu.authTimer = nil
	}
}

// login authenticates the credentials of a CONNECT (or, for a client that
// sends something else first, none: the no_auth_user may stand in). On
// refusal it logs the reason and returns the fatal 'Authorization
// Violation'.
func (c *client) login(o *codec.ConnectOptions) error {
	a := c.srv.authn.Load()
	if !a.Required() {
		c.awaitingAuth.Store(false)
		c.stopAuthTimers()
		c.mu.Lock()
		c.mu.creds = auth.Credentials{User: o.User, Pass: o.Pass, Token: o.AuthToken, Nkey: o.Nkey, Sig: o.Sig, JWT: o.JWT}
		c.mu.Unlock()
		return nil
	}
	cr := auth.Credentials{User: o.User, Pass: o.Pass, Token: o.AuthToken, Nkey: o.Nkey, Sig: o.Sig, JWT: o.JWT, Cert: peerCert(c.t)}
	c.mu.Lock()
	c.mu.creds = cr
	c.mu.Unlock()
	now := c.srv.opts.Clock.Now()
	id, err := a.Authenticate(&cr, []byte(c.nonce), c.host, now)
	if err != nil {
		return c.authViolation(o.User, err.Error())
	}
	if acc := c.srv.Account(id.Account); acc != c.account() && c.numSubs() > 0 {
		// Subscriptions made as the no_auth_user belong to its account;
		// a CONNECT into another cannot carry them over.
		return c.authViolation(o.User, "CONNECT into account "+acc.name+" after subscribing in "+c.account().name)
	}
	if err := c.bindAccount(c.srv.Account(id.Account)); err != nil {
		c.srv.log.Warn("maximum account active connections exceeded", "cid", c.cid, "addr", c.t.RemoteAddr(), "user", o.User, "account", id.Account)
		c.stopAuthTimers()
		return err
	}
	c.awaitingAuth.Store(false)
	c.stopAuthTimers()
	c.setIdentity(id)
	if !id.Expires.IsZero() {
		d := id.Expires.Sub(now)
		c.mu.Lock()
		c.mu.authTimer = c.srv.opts.Clock.AfterFunc(max(d, time.Millisecond), c.authExpired)
		c.mu.Unlock()
	}
	return nil
}

// peerCert is the certificate a TLS client presented (verify_and_map
// logs in by it), nil for a plain connection or one without a certificate.
func peerCert(t Transport) *x509.Certificate {
	ts, ok := t.(TLSStater)
	if !ok {
		return nil
	}
	st, ok := ts.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		return nil
	}
	return st.PeerCertificates[0]
}

// setIdentity records who the client is, binds it to its account and
// installs its permissions.
func (c *client) setIdentity(id *auth.Identity) {
	c.acc.Store(c.srv.Account(id.Account))
	c.mu.Lock()
	c.mu.user, c.mu.account = id.Name, id.Account
	c.mu.Unlock()
	c.setPerms(id.Perms)
	c.setMaxSubs(id.MaxSubs)
}

// authViolation logs and counts a refused login and returns the error that
// sends -ERR 'Authorization Violation' and closes the connection.
func (c *client) authViolation(user, reason string) error {
	c.srv.stats.authFailures.Add(1)
	c.srv.log.Warn("authentication failed", "cid", c.cid, "addr", c.t.RemoteAddr(), "user", user, "reason", reason)
	c.stopAuthTimers()
	return errAuthViolation
}

// beforeConnect is called for every operation but CONNECT while the client
// has not logged in: the no_auth_user logs it in if there is one, else it
// is refused, as in nats-server.
func (c *client) beforeConnect() error {
	a := c.srv.authn.Load()
	if a.Required() && a.NoAuthUser() == "" {
		return c.authViolation("", "operation before CONNECT")
	}
	return c.login(&codec.ConnectOptions{})
}

// authExpired closes a connection whose user JWT expired.
func (c *client) authExpired() {
	if c.closed.Load() {
		return
	}
	c.srv.log.Info("user authentication expired", "cid", c.cid, "addr", c.t.RemoteAddr(), "user", c.userName())
	c.sendErr("User Authentication Expired")
	c.t.Close(ErrAuthExpired)
}

// userName is the name the client logged in as ("" when none), for logs
// and Connz.
func (c *client) userName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.user
}

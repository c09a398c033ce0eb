package app_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// connectErr connects and returns the error (the connection closed on
// success).
func connectErr(a *app.App, opts ...nats.Option) error {
	opts = append(opts, nats.NoReconnect(), nats.Timeout(5*time.Second))
	nc, err := nats.Connect(a.ClientURL(), opts...)
	if err == nil {
		nc.Close()
	}
	return err
}

func wantAuthViolation(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("%s: error %v, want Authorization Violation", what, err)
	}
}

func bcryptOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestAuthUsers: users with plain and bcrypt passwords log in with
// nats.go; a wrong password, an unknown user and no credentials are
// refused with 'Authorization Violation'; /varz says auth_required and
// counts the failures; /connz names the user.
func TestAuthUsers(t *testing.T) {
	a := startFromFile(t, `
authorization {
  users: [
    {user: alice, password: secret}
    {user: bob, password: "`+bcryptOf(t, "hunter2")+`"}
  ]
}
`).a
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "secret", true}, {"bob", "hunter2", true}, {"bob", "hunter2", true},
		{"alice", "nope", false}, {"bob", "secret", false}, {"carol", "secret", false}, {"", "", false},
	} {
		var opts []nats.Option
		if tc.user != "" {
			opts = append(opts, nats.UserInfo(tc.user, tc.pass))
		}
		err := connectErr(a, opts...)
		if tc.ok && err != nil {
			t.Fatalf("%s/%s: %v", tc.user, tc.pass, err)
		}
		if !tc.ok {
			wantAuthViolation(t, tc.user+"/"+tc.pass, err)
		}
	}
	if n := a.Broker().Auth().BcryptComputed(); n != 2 {
		t.Errorf("bcrypt ran %d times, want 2 (one success cached, one failure)", n)
	}
	var v struct {
		AuthRequired bool    `json:"auth_required"`
		AuthTimeout  float64 `json:"auth_timeout"`
		AuthFailures int64   `json:"auth_failures"`
	}
	getJSON(t, a.MonitorURL()+"/varz", &v)
	if !v.AuthRequired || v.AuthTimeout != 2 || v.AuthFailures != 4 {
		t.Fatalf("varz %+v, want auth_required, timeout 2, 4 failures", v)
	}
	nc := connect(t, a, nats.UserInfo("alice", "secret"))
	nc.Flush()
	// The connections above close asynchronously: wait for alice's alone.
	eventually(t, 10*time.Second, "alice alone in /connz", func() bool {
		var cz struct {
			Conns []struct {
				User string `json:"authorized_user"`
			} `json:"connections"`
		}
		getJSON(t, a.MonitorURL()+"/connz", &cz)
		return len(cz.Conns) == 1 && cz.Conns[0].User == "alice"
	})
}

// TestAuthToken: the token, plain and bcrypt.
func TestAuthToken(t *testing.T) {
	for _, tok := range []string{"s3cr3t", bcryptOf(t, "s3cr3t")} {
		a := startFromFile(t, "authorization { token: \""+tok+"\" }\n").a
		if err := connectErr(a, nats.Token("s3cr3t")); err != nil {
			t.Fatalf("token %q: %v", tok, err)
		}
		wantAuthViolation(t, "wrong token", connectErr(a, nats.Token("s3cr3")))
		wantAuthViolation(t, "no token", connectErr(a))
	}
}

// TestAuthSingleUser: authorization { user, password }.
func TestAuthSingleUser(t *testing.T) {
	a := startFromFile(t, "authorization {\n user: admin\n password: pw\n}\n").a
	if err := connectErr(a, nats.UserInfo("admin", "pw")); err != nil {
		t.Fatal(err)
	}
	wantAuthViolation(t, "wrong password", connectErr(a, nats.UserInfo("admin", "px")))
}

// TestAuthNkey: an nkey user signs INFO's nonce with its seed; a client
// with another key or a bad signature is refused.
func TestAuthNkey(t *testing.T) {
	user, _ := nkeys.CreateUser()
	pub, _ := user.PublicKey()
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	a := startFromFile(t, "authorization {\n users: [ {nkey: "+pub+"} ]\n}\n").a
	var r = dialRaw(t, a)
	var info struct {
		Nonce        string `json:"nonce"`
		AuthRequired bool   `json:"auth_required"`
	}
	if err := json.Unmarshal([]byte(r.info), &info); err != nil || info.Nonce == "" || !info.AuthRequired {
		t.Fatalf("INFO %s: want auth_required and a nonce", r.info)
	}
	if err := connectErr(a, nats.Nkey(pub, user.Sign)); err != nil {
		t.Fatal(err)
	}
	wantAuthViolation(t, "unknown nkey", connectErr(a, nats.Nkey(otherPub, other.Sign)))
	wantAuthViolation(t, "wrong seed", connectErr(a, nats.Nkey(pub, other.Sign)))
}

// TestAuthCreds: operator mode with the MEMORY resolver; the operator,
// account and user are made here with nkeys and jwt, and the user logs in
// with a creds file as `nats --creds` does. A user the account revoked,
// and a user of an account the server does not know, are refused.
func TestAuthCreds(t *testing.T) {
	dir := t.TempDir()
	opKP, _ := nkeys.CreateOperator()
	opPub, _ := opKP.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "O"
	opJWT, err := oc.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	accKP, _ := nkeys.CreateAccount()
	accPub, _ := accKP.PublicKey()
	userCreds := func(name string, signer nkeys.KeyPair, issuerAccount string) (string, string) {
		ukp, _ := nkeys.CreateUser()
		upub, _ := ukp.PublicKey()
		uc := jwt.NewUserClaims(upub)
		uc.Name = name
		uc.IssuerAccount = issuerAccount
		ujwt, err := uc.Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := ukp.Seed()
		creds, err := jwt.FormatUserConfig(ujwt, seed)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".creds")
		if err := os.WriteFile(path, creds, 0o600); err != nil {
			t.Fatal(err)
		}
		return path, upub
	}
	good, _ := userCreds("good", accKP, "")
	revoked, revokedPub := userCreds("revoked", accKP, "")
	strangerKP, _ := nkeys.CreateAccount()
	stranger, _ := userCreds("stranger", strangerKP, "")

	ac := jwt.NewAccountClaims(accPub)
	ac.Name = "A"
	ac.Revoke(revokedPub)
	accJWT, err := ac.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	opFile := filepath.Join(dir, "op.jwt")
	if err := os.WriteFile(opFile, []byte(opJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startFromFile(t, `
operator: "`+opFile+`"
resolver: MEMORY
resolver_preload: {
  `+accPub+`: "`+accJWT+`"
}
`).a
	if err := connectErr(a, nats.UserCredentials(good)); err != nil {
		t.Fatal(err)
	}
	wantAuthViolation(t, "revoked", connectErr(a, nats.UserCredentials(revoked)))
	wantAuthViolation(t, "unknown account", connectErr(a, nats.UserCredentials(stranger)))
	wantAuthViolation(t, "no creds", connectErr(a, nats.UserInfo("a", "b")))
}

// TestAuthRaw: the wire as nats-server writes it: an operation before
// CONNECT is an 'Authorization Violation' and the connection closes;
// silence gets 'Authentication Timeout'; with no_auth_user a client
// without credentials is that user, even before CONNECT.
func TestAuthRaw(t *testing.T) {
	// A long timeout for the exchanges, a short one for the timeout alone,
	// so that a loaded machine does not turn one into the other.
	a := startFromFile(t, "authorization {\n timeout: 30\n users: [{user: u, password: p}]\n}\n").a
	short := startFromFile(t, "authorization {\n timeout: \"200ms\"\n users: [{user: u, password: p}]\n}\n").a
	r := dialRaw(t, a)
	r.send("PING\r\n")
	r.expect("-ERR 'Authorization Violation'")
	r.expectClosed()

	r = dialRaw(t, a)
	r.send("CONNECT {\"user\":\"u\",\"pass\":\"x\"}\r\n")
	r.expect("-ERR 'Authorization Violation'")
	r.expectClosed()

	r = dialRaw(t, a)
	r.send("CONNECT {\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n")
	r.expect("PONG")

	r = dialRaw(t, short)
	r.expect("-ERR 'Authentication Timeout'")
	r.expectClosed()

	b := startFromFile(t, "authorization {\n users: [{user: u, password: p}, {user: anon, password: x}]\n}\nno_auth_user: anon\n").a
	r = dialRaw(t, b)
	r.send("PING\r\n")
	r.expect("PONG")
	if err := connectErr(b); err != nil {
		t.Fatalf("no_auth_user: %v", err)
	}
	wantAuthViolation(t, "wrong password beside no_auth_user", connectErr(b, nats.UserInfo("u", "q")))
}

// TestAuthReload: a reload changes users, passwords and permissions
// without a restart: new logins use the new users; a connected client
// whose password changed is closed with 'Authorization Violation'; one
// whose permissions shrank loses the subscriptions they no longer allow,
// told with nats-server's reload wording, and stays connected.
func TestAuthReload(t *testing.T) {
	const before = `
authorization {
  users: [
    {user: alice, password: pw1}
    {user: bob, password: pw}
  ]
}
`
	const after = `
authorization {
  users: [
    {user: alice, password: pw2}
    {user: bob, password: pw, permissions: {subscribe: "y.>"}}
    {user: carol, password: pw}
  ]
}
`
	s := startFromFile(t, before)
	wantAuthViolation(t, "carol before", connectErr(s.a, nats.UserInfo("carol", "pw")))
	alice := dialRaw(t, s.a)
	rawLogin(t, alice, "alice", "pw1")
	bob := dialRaw(t, s.a)
	rawLogin(t, bob, "bob", "pw")
	bob.send("SUB x.> 1\r\nSUB y.> 2\r\nPING\r\n")
	bob.expect("PONG")

	if err := s.reload(after); err != nil {
		t.Fatal(err)
	}
	alice.expect("-ERR 'Authorization Violation'")
	alice.expectClosed()
	bob.expect(`-ERR 'Permissions Violation for Subscription to "x.>" (sid "1")'`)
	bob.send("PING\r\n")
	bob.expect("PONG")
	if err := connectErr(s.a, nats.UserInfo("carol", "pw")); err != nil {
		t.Fatalf("carol after reload: %v", err)
	}
	if err := connectErr(s.a, nats.UserInfo("alice", "pw2")); err != nil {
		t.Fatalf("alice's new password: %v", err)
	}
	wantAuthViolation(t, "alice's old password", connectErr(s.a, nats.UserInfo("alice", "pw1")))
	if log := readLog(t, filepath.Join(s.dir, "barge.log")); strings.Contains(log, "pw2") {
		t.Fatal("the log shows a password")
	}
}

package broker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bargemq/barge/auth"
	"github.com/nats-io/nkeys"
)

// The credentials the CONNECT fuzz target's servers accept.
const (
	fuzzAlicePass = "alice-s3cret"
	fuzzBobPass   = "b0b-pw"
	fuzzToken     = "t0ken-xyz"
	// fuzzSigMark in an input is replaced by a valid signature of the
	// connection's nonce, so that the fuzzer can reach an nkey login.
	fuzzSigMark = "@SIG@"
)

// fuzzNkey is the nkey user's key pair, from a fixed seed.
func fuzzNkey(tb testing.TB) nkeys.KeyPair {
	tb.Helper()
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return kp
}

// FuzzConnect feeds arbitrary bytes (CONNECT lines and whatever comes
// around them) to two servers that require authentication: one with users,
// an nkey user and permissions, one with a token. Neither may panic or
// hang, and a connection that got past login must have sent, in one of
// its CONNECT lines, the credentials of the identity it logged in as.
// `go test` runs the seeds (testdata/fuzz/FuzzConnect and the f.Add
// below); `make fuzz` explores.
func FuzzConnect(f *testing.F) {
	kp := fuzzNkey(f)
	pub, _ := kp.PublicKey()
	for _, s := range []string{
		`CONNECT {"user":"alice","pass":"` + fuzzAlicePass + `"}` + "\r\nPING\r\n",
		`CONNECT {"user":"bob","pass":"` + fuzzBobPass + `","verbose":true}` + "\r\nSUB x 1\r\nPUB x 1\r\na\r\n",
		`CONNECT {"user":"alice","pass":"wrong"}` + "\r\nPING\r\n",
		`CONNECT {"nkey":"` + pub + `","sig":"` + fuzzSigMark + `"}` + "\r\nPING\r\n",
		`CONNECT {"nkey":"` + pub + `","sig":"AAAA"}` + "\r\n",
		`CONNECT {"auth_token":"` + fuzzToken + `"}` + "\r\nPING\r\n",
		`CONNECT {"auth_token":"nope"}` + "\r\n",
		"PING\r\nCONNECT {}\r\n",
		"CONNECT {\"user\":\"alice\",\"pass\":\"" + fuzzAlicePass + "\",\"protocol\":2}\r\n",
		"CONNECT {\"USER\":\"alice\",\"Pass\":\"" + fuzzAlicePass + "\"}\r\n",
		"CONNECT {\"user\":\"alice\",\"pass\":null,\"pass\":\"" + fuzzAlicePass + "\"}\r\n",
		"CONNECT {\"user\":\"alice\"\r\n",
		"CONNECT \r\n",
		"CONNECT {\"user\":\"\\u0061lice\",\"pass\":\"" + fuzzAlicePass + "\"}\r\nPING\r\n",
	} {
		f.Add([]byte(s))
	}
	usersAuth, err := auth.New(auth.Config{Users: []auth.User{
		{Name: "alice", Password: fuzzAlicePass},
		{Name: "bob", Password: fuzzBobPass, Permissions: &auth.Permissions{
			Publish:   &auth.SubjectPermission{Allow: []string{"x", "y.>"}},
			Subscribe: &auth.SubjectPermission{Deny: []string{"secret.>"}},
		}},
		{Nkey: pub},
	}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	tokenAuth, err := auth.New(auth.Config{Token: fuzzToken}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, a := range []*auth.Authenticator{usersAuth, tokenAuth} {
			fuzzConnectOnce(t, a, kp, in)
		}
	})
}

// fuzzConnectOnce runs one input against a fresh server using a.
func fuzzConnectOnce(t *testing.T, a *auth.Authenticator, kp nkeys.KeyPair, in []byte) {
	h := newHarness(t, Options{Auth: a})
	tr := newTestTransport("127.0.0.1:50001")
	s := h.srv.Accept(tr)
	c := s.(*client)
	var info struct {
		AuthRequired bool   `json:"auth_required"`
		Nonce        string `json:"nonce"`
	}
	line := strings.TrimPrefix(strings.TrimSuffix(tr.take(), "\r\n"), "INFO ")
	if err := json.Unmarshal([]byte(line), &info); err != nil || !info.AuthRequired {
		t.Fatalf("INFO %q: auth_required not set (%v)", line, err)
	}
	if info.Nonce != "" && bytes.Contains(in, []byte(fuzzSigMark)) {
		sig, err := kp.Sign([]byte(info.Nonce))
		if err != nil {
			t.Fatal(err)
		}
		in = bytes.ReplaceAll(in, []byte(fuzzSigMark), []byte(base64.RawURLEncoding.EncodeToString(sig)))
	}
	err := s.Data(in)
	if err == nil {
		err = s.Data([]byte("\r\nPING\r\n"))
	}
	loggedIn := !c.awaitingAuth.Load()
	if err != nil {
		s.Closed(err)
	}
	if !loggedIn {
		// Refused: with 'Authorization Violation', or before that by
		// a CONNECT the server could not take (bad JSON, protocol).
		if err == nil {
			t.Fatalf("no login, yet the connection is open: %q", in)
		}
		return
	}
	if !sentCredentials(t, a, kp, c.userName(), info.Nonce, in) {
		t.Fatalf("logged in as %q without its credentials: %q", c.userName(), in)
	}
}

// sentCredentials reports whether one of the CONNECT lines of in carries
// valid credentials for the user name logged in as ("" is the token).
// The CONNECT JSON is decoded as the server decodes it (encoding/json).
func sentCredentials(t *testing.T, a *auth.Authenticator, kp nkeys.KeyPair, name, nonce string, in []byte) bool {
	pub, _ := kp.PublicKey()
	for _, raw := range bytes.Split(in, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) < 8 || !strings.EqualFold(string(raw[:7]), "CONNECT") {
			continue
		}
		var cr struct {
			User  string `json:"user"`
			Pass  string `json:"pass"`
			Token string `json:"auth_token"`
			Nkey  string `json:"nkey"`
			Sig   string `json:"sig"`
		}
		if json.Unmarshal(bytes.TrimSpace(raw[7:]), &cr) != nil {
			continue
		}
		switch {
		case name == "" && a.NoAuthUser() == "" && cr.Token == fuzzToken:
			return true
		case name == "alice" && cr.User == "alice" && cr.Pass == fuzzAlicePass:
			return true
		case name == "bob" && cr.User == "bob" && cr.Pass == fuzzBobPass:
			return true
		case name == pub && cr.Nkey == pub:
			sig, err := base64.RawURLEncoding.DecodeString(cr.Sig)
			if err != nil {
				sig, err = base64.StdEncoding.DecodeString(cr.Sig)
			}
			if err == nil && kp.Verify([]byte(nonce), sig) == nil {
				return true
			}
		}
	}
	t.Logf("identity %q", name)
	return false
}

package app_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// TestMaxSubscriptions: max_subscriptions from a config file (with users)
// lets a connection hold that many subscriptions; one more gets
// -ERR 'maximum subscriptions exceeded' (nats.go reports
// ErrMaxSubscriptionsExceeded) and is not made, and the connection stays
// open and keeps its subscriptions, as in nats-server. An UNSUB frees a
// place.
func TestMaxSubscriptions(t *testing.T) {
	a := startFromFile(t, `
max_subscriptions: 2
authorization { users: [ {user: alice, password: pw} ] }
`).a
	errs := make(chan error, 4)
	nc := connect(t, a, nats.UserInfo("alice", "pw"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	got := make(chan string, 8)
	for _, subj := range []string{"a", "b", "c"} {
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { got <- m.Subject }); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrMaxSubscriptionsExceeded) {
			t.Fatalf("async error %v, want ErrMaxSubscriptionsExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no 'maximum subscriptions exceeded' error")
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("connection not usable after the refused SUB: %v", err)
	}
	for _, subj := range []string{"c", "a", "b"} {
		if err := nc.Publish(subj, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Each subscription delivers on its own goroutine: a and b arrive in
	// either order; c, published first, must not arrive at all (the
	// round trip below orders it before a and b on the server).
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case s := <-got:
			if s == "c" || seen[s] {
				t.Fatalf("got a message on %q (c was refused)", s)
			}
			seen[s] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("only got messages on %v", seen)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		t.Fatalf("got a message on %q (c was refused)", s)
	default:
	}

	// The wire: the third SUB is refused, the connection answers PING;
	// after an UNSUB the third fits.
	r := dialRaw(t, a)
	r.send("CONNECT {\"user\":\"alice\",\"pass\":\"pw\",\"verbose\":true}\r\n")
	r.expect("+OK")
	r.send("SUB x 1\r\nSUB y 2\r\nSUB z 3\r\nPING\r\n")
	r.expect("+OK")
	r.expect("+OK")
	r.expect("-ERR 'maximum subscriptions exceeded'")
	r.expect("PONG")
	r.send("UNSUB 1\r\nSUB z 3\r\nPUB z 2\r\nhi\r\n")
	r.expect("+OK")
	r.expect("+OK")
	r.expect("+OK")
	r.expect("MSG z 3 2")
}

// TestMaxSubscriptionsJWT: in operator mode a user JWT's limits.subs
// caps the user's subscriptions below the server's max_subscriptions,
// and an account JWT's limits.subs caps every user of the account.
func TestMaxSubscriptionsJWT(t *testing.T) {
	dir := t.TempDir()
	opKP, _ := nkeys.CreateOperator()
	opPub, _ := opKP.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	accKP, _ := nkeys.CreateAccount()
	accPub, _ := accKP.PublicKey()
	ac := jwt.NewAccountClaims(accPub)
	ac.Limits.Subs = 3
	accJWT, err := ac.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	creds := func(name string, subs int64) string {
		ukp, _ := nkeys.CreateUser()
		upub, _ := ukp.PublicKey()
		uc := jwt.NewUserClaims(upub)
		uc.Limits.Subs = subs
		ujwt, err := uc.Encode(accKP)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := ukp.Seed()
		b, err := jwt.FormatUserConfig(ujwt, seed)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".creds")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	opFile := filepath.Join(dir, "op.jwt")
	if err := os.WriteFile(opFile, []byte(opJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startFromFile(t, `
max_subscriptions: 10
operator: "`+opFile+`"
resolver: MEMORY
resolver_preload: { `+accPub+`: "`+accJWT+`" }
`).a
	for _, tc := range []struct {
		name string
		subs int64 // the user JWT's limit
		want int   // subscriptions allowed
	}{
		{"one", 1, 1},
		{"unlimited", jwt.NoLimit, 3}, // the account's limit
	} {
		errs := make(chan error, 4)
		nc := connect(t, a, nats.UserCredentials(creds(tc.name, tc.subs)),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		for i := 0; i <= tc.want; i++ {
			if _, err := nc.SubscribeSync("s." + string(rune('a'+i))); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrMaxSubscriptionsExceeded) {
				t.Fatalf("%s: async error %v", tc.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: subscription %d was not refused", tc.name, tc.want+1)
		}
		if err := nc.Flush(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		select {
		case err := <-errs:
			t.Fatalf("%s: a second error %v: subscription %d was refused too", tc.name, err, tc.want)
		default:
		}
	}
}

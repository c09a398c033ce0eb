package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// TestJetStreamOperatorAccounts: in operator mode, an account whose JWT
// enables JetStream gets its own, with the JWT's limits; one whose JWT
// does not gets 10039.
func TestJetStreamOperatorAccounts(t *testing.T) {
	dir := t.TempDir()
	opKP, _ := nkeys.CreateOperator()
	opPub, _ := opKP.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	account := func(js bool) (nkeys.KeyPair, string, string) {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: 1, Consumer: -1}
		}
		s, err := ac.Encode(opKP)
		if err != nil {
			t.Fatal(err)
		}
		return kp, pub, s
	}
	creds := func(name string, acc nkeys.KeyPair) string {
		ukp, _ := nkeys.CreateUser()
		upub, _ := ukp.PublicKey()
		ujwt, err := jwt.NewUserClaims(upub).Encode(acc)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := ukp.Seed()
		b, _ := jwt.FormatUserConfig(ujwt, seed)
		path := filepath.Join(dir, name+".creds")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	jsKP, jsPub, jsJWT := account(true)
	noKP, noPub, noJWT := account(false)
	a := startFromFile(t, `
operator: "`+opJWT+`"
resolver: MEMORY
resolver_preload: {
  `+jsPub+`: "`+jsJWT+`"
  `+noPub+`: "`+noJWT+`"
}
`).a
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, _ := jetstream.New(connect(t, a, nats.UserCredentials(creds("js", jsKP))))
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}})
	wantAPIErr(t, "second stream over the JWT's streams: 1", err, 10027)
	no, _ := jetstream.New(connect(t, a, nats.UserCredentials(creds("no", noKP))))
	if _, err := no.AccountInfo(ctx); err != jetstream.ErrJetStreamNotEnabledForAccount {
		t.Fatalf("account without JetStream in its JWT: %v", err)
	}
}

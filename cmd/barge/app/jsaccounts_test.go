package app_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const jsAccountsConf = `
jetstream { }
accounts {
  A: {
    users: [ {user: a, password: pa} ]
    jetstream: { max_streams: 2, max_consumers: 1, max_file: 10MB, max_memory: 1MB }
  }
  B: { users: [ {user: b, password: pb} ], jetstream: enabled }
  C: { users: [ {user: c, password: pc} ] }
}
authorization { users: [ {user: g, password: pg} ] }
`

func jsFor(t *testing.T, a *app.App, user, pass string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(connect(t, a, nats.UserInfo(user, pass)))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func wantAPIErr(t *testing.T, what string, err error, code jetstream.ErrorCode) {
	t.Helper()
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != code {
		t.Fatalf("%s: error %v, want err_code %d", what, err, code)
	}
}

// TestJetStreamPerAccount: each account's $JS.API sees its own streams,
// consumers and KV buckets only, under the same names; the account's
// limits are enforced with nats-server's codes and shown by account info;
// an account without jetstream gets 10039; each account's data is in its
// own folder and survives a restart.
func TestJetStreamPerAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := startFromFile(t, jsAccountsConf)
	jsA, jsB, jsG := jsFor(t, s.a, "a", "pa"), jsFor(t, s.a, "b", "pb"), jsFor(t, s.a, "g", "pg")

	for _, js := range []jetstream.JetStream{jsA, jsB, jsG} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, js := range []jetstream.JetStream{jsA, jsA, jsB} {
		if _, err := js.Publish(ctx, "orders.1", []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		js   jetstream.JetStream
		want uint64
	}{{"A", jsA, 2}, {"B", jsB, 1}, {"$G", jsG, 0}} {
		st, err := tc.js.Stream(ctx, "ORDERS")
		if err != nil {
			t.Fatal(err)
		}
		info, _ := st.Info(ctx)
		if info.State.Msgs != tc.want {
			t.Fatalf("%s's ORDERS has %d messages, want %d", tc.name, info.State.Msgs, tc.want)
		}
	}
	// KV buckets of the same name are separate too.
	kvA, err := jsA.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	kvB, err := jsB.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = kvA.Put(ctx, "k", []byte("from A"))
	if _, err := kvB.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("B reads A's key: %v", err)
	}
	if _, err := jsG.KeyValue(ctx, "cfg"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("$G sees A's bucket: %v", err)
	}

	// A's limits: two streams (ORDERS and KV_cfg), one consumer.
	_, err = jsA.CreateStream(ctx, jetstream.StreamConfig{Name: "THIRD", Subjects: []string{"third"}})
	wantAPIErr(t, "A's third stream", err, 10027)
	if _, err := jsA.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := jsA.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "c1", Description: "update"}); err != nil {
		t.Fatalf("updating A's consumer at the limit: %v", err)
	}
	_, err = jsA.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "c2"})
	wantAPIErr(t, "A's second consumer", err, 10026)
	ai, err := jsA.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ai.Streams != 2 || ai.Consumers != 1 || ai.Limits.MaxStreams != 2 || ai.Limits.MaxConsumers != 1 ||
		ai.Limits.MaxStore != 10<<20 || ai.Limits.MaxMemory != 1<<20 {
		t.Fatalf("A's account info: %+v", ai)
	}
	if bi, err := jsB.AccountInfo(ctx); err != nil || bi.Limits.MaxStreams != -1 || bi.Streams != 2 {
		t.Fatalf("B's account info: %+v %v", bi, err)
	}

	// C has no JetStream.
	_, err = jsFor(t, s.a, "c", "pc").AccountInfo(ctx)
	if !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		t.Fatalf("C's account info: %v, want 10039", err)
	}

	// Each account's data in its own folder; it survives a restart.
	data := filepath.Join(s.dir, "data")
	for _, dir := range []string{"jetstream/ORDERS", "accounts/A/jetstream/ORDERS", "accounts/B/jetstream/ORDERS", "accounts/A/jetstream/KV_cfg"} {
		if _, err := os.Stat(filepath.Join(data, dir)); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	stopApp(t, s.a)
	a2, err := app.Start(s.config(jsAccountsConf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopApp(t, a2) })
	st, err := jsFor(t, a2, "a", "pa").Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := st.Info(ctx); info.State.Msgs != 2 {
		t.Fatalf("A's ORDERS after restart: %d messages", info.State.Msgs)
	}
	kv, err := jsFor(t, a2, "a", "pa").KeyValue(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "from A" {
		t.Fatalf("A's key after restart: %v %v", e, err)
	}
}

// TestJetStreamAccountConfigErrors: account JetStream needs server
// JetStream.
func TestJetStreamAccountConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		conf string
		mod  func(*app.Config)
		want string
	}{
		{`accounts { A: { jetstream: enabled } }`, func(c *app.Config) { c.JetStream = false }, "needs JetStream enabled"},
		{`accounts { A: { jetstream: sometimes } }`, nil, "Expected 'enabled' or 'disabled'"},
		{`accounts { A: { jetstream: { max_streams: x } } }`, nil, `Expected a parseable size for "max_streams"`},
	} {
		cfg := app.Defaults()
		err := loadConf(t, &cfg, tc.conf)
		if err == nil {
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.conf, err, tc.want)
		}
	}
}

// TestJetStreamAccountStorageLimit: a publish that would take the account
// past max_file is refused with 10002 and stores nothing.
func TestJetStreamAccountStorageLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := startFromFile(t, `
accounts {
  A: { users: [ {user: a, password: pa} ], jetstream: { max_file: 64KB } }
}
`)
	js := jsFor(t, s.a, "a", "pa")
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s", make([]byte, 40<<10)); err != nil {
		t.Fatal(err)
	}
	_, err = js.Publish(ctx, "s", make([]byte, 40<<10))
	wantAPIErr(t, "publish past max_file", err, 10002)
	if info, _ := st.Info(ctx); info.State.Msgs != 1 {
		t.Fatalf("stream has %d messages, want 1", info.State.Msgs)
	}
}

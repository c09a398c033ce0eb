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

const permsConf = `
authorization {
  default_permissions: { publish: "public.>", subscribe: "public.>" }
  users: [
    {user: admin, password: a, permissions: {publish: ">", subscribe: ">"}}
    {user: plain, password: p}
    {user: u, password: p, permissions: {
      publish: { allow: ["orders.>", "work", "$JS.API.>", "_INBOX.>"], deny: "orders.secret" }
      subscribe: { allow: ["orders.*", "work grp", "_INBOX.>", "$KV.B.a"], deny: "orders.secret" }
    }}
    {user: w, password: p, permissions: {
      publish: ["$JS.API.>", "_INBOX.>"]
      subscribe: ["_INBOX.>", "orders.a"]
      allow_responses: true
    }}
    {user: svc, password: p, permissions: {
      subscribe: "rpc.>"
      allow_responses: true
    }}
  ]
}
`

// rawLogin dials and logs in as user/pass.
func rawLogin(t *testing.T, r *rawConn, user, pass string) {
	t.Helper()
	r.send(`CONNECT {"user":"` + user + `","pass":"` + pass + `","verbose":false}` + "\r\nPING\r\n")
	r.expect("PONG")
}

// TestPermsWire: violations get nats-server's exact -ERR texts and the
// connection stays open; allowed traffic flows; deny wins over allow; a
// queue entry allows the subject in that group only; default_permissions
// apply to users without their own.
func TestPermsWire(t *testing.T) {
	a := startFromFile(t, permsConf).a
	r := dialRaw(t, a)
	rawLogin(t, r, "u", "p")
	for _, tc := range []struct{ send, want string }{
		{"PUB other 0\r\n\r\n", `-ERR 'Permissions Violation for Publish to "other"'`},
		{"PUB orders.secret 0\r\n\r\n", `-ERR 'Permissions Violation for Publish to "orders.secret"'`},
		{"SUB secret.x 1\r\n", `-ERR 'Permissions Violation for Subscription to "secret.x"'`},
		{"SUB orders.secret 2\r\n", `-ERR 'Permissions Violation for Subscription to "orders.secret"'`},
		{"SUB orders.> 3\r\n", `-ERR 'Permissions Violation for Subscription to "orders.>"'`},
		{"SUB work 4\r\n", `-ERR 'Permissions Violation for Subscription to "work"'`},
		{"SUB work other 5\r\n", `-ERR 'Permissions Violation for Subscription to "work" using queue "other"'`},
	} {
		r.send(tc.send)
		r.expect(tc.want)
	}
	r.send("SUB orders.* 10\r\nSUB work grp 11\r\nPUB orders.a 2\r\nhi\r\nPUB work 1\r\nw\r\nPING\r\n")
	r.expect("MSG orders.a 10 2")
	r.expect("hi")
	r.expect("MSG work 11 1")
	r.expect("w")
	r.expect("PONG")

	// plain has the default permissions.
	p := dialRaw(t, a)
	rawLogin(t, p, "plain", "p")
	p.send("PUB orders.a 0\r\n\r\nSUB public.x 1\r\nPUB public.x 1\r\nz\r\nPING\r\n")
	p.expect(`-ERR 'Permissions Violation for Publish to "orders.a"'`)
	p.expect("MSG public.x 1 1")
	p.expect("z")
	p.expect("PONG")
}

// TestPermsDenyFilter: a wildcard subscription that a deny entry only
// overlaps is accepted, and the denied subjects are not delivered to it.
func TestPermsDenyFilter(t *testing.T) {
	a := startFromFile(t, permsConf).a
	admin := connect(t, a, nats.UserInfo("admin", "a"))
	u := connect(t, a, nats.UserInfo("u", "p"))
	sub, err := u.SubscribeSync("orders.*")
	if err != nil {
		t.Fatal(err)
	}
	u.Flush()
	for _, s := range []string{"orders.secret", "orders.a"} {
		if err := admin.Publish(s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	admin.Flush()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "orders.a" {
		t.Fatalf("got %v %v, want orders.a only", m, err)
	}
}

// TestPermsNatsGo: nats.go reports a violation as an async error and the
// connection stays usable; allow_responses lets a service answer the
// requests it receives once each and publish nothing else.
func TestPermsNatsGo(t *testing.T) {
	a := startFromFile(t, permsConf).a
	errs := make(chan error, 8)
	u := connect(t, a, nats.UserInfo("u", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		errs <- err
	}))
	if err := u.Publish("other", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Publish to "other"`) {
			t.Fatalf("async error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation reported")
	}
	if err := u.Flush(); err != nil || !u.IsConnected() {
		t.Fatalf("connection lost after a violation: %v", err)
	}

	svcErrs := make(chan error, 8)
	svc := connect(t, a, nats.UserInfo("svc", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		svcErrs <- err
	}))
	if _, err := svc.Subscribe("rpc.echo", func(m *nats.Msg) {
		_ = m.Respond(m.Data)
		_ = m.Respond(m.Data) // the second answer is over max 1
	}); err != nil {
		t.Fatal(err)
	}
	svc.Flush()
	admin := connect(t, a, nats.UserInfo("admin", "a"))
	resp, err := admin.Request("rpc.echo", []byte("ping"), 5*time.Second)
	if err != nil || string(resp.Data) != "ping" {
		t.Fatalf("request: %v %v", resp, err)
	}
	select {
	case err := <-svcErrs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), "Publish to") {
			t.Fatalf("svc async error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second response was not refused")
	}
}

// TestPermsJetStreamReads: a user reads stored messages only where it may
// subscribe: consumer create (with and without a filter), fetch from a
// consumer someone else made, message get, direct get and KV get are
// refused with 403 on subjects it may not read, and work on those it may.
func TestPermsJetStreamReads(t *testing.T) {
	a := startFromFile(t, permsConf).a
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adminJS, err := jetstream.New(connect(t, a, nats.UserInfo("admin", "a")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := adminJS.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"orders.a", "orders.secret"} {
		if _, err := adminJS.Publish(ctx, s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ALL", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	kv, err := adminJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "secret"} {
		if _, err := kv.PutString(ctx, k, "v-"+k); err != nil {
			t.Fatal(err)
		}
	}

	js, err := jetstream.New(connect(t, a, nats.UserInfo("u", "p")))
	if err != nil {
		t.Fatal(err)
	}
	ust, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	denied := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "Permissions Violation for Subscription") {
			t.Fatalf("%s: error %v, want a permissions violation", what, err)
		}
	}
	_, err = ust.CreateConsumer(ctx, jetstream.ConsumerConfig{FilterSubject: "orders.secret"})
	denied("consumer on orders.secret", err)
	_, err = ust.CreateConsumer(ctx, jetstream.ConsumerConfig{})
	denied("consumer on the whole stream", err)
	_, err = ust.GetMsg(ctx, 2)
	denied("msg get of orders.secret", err)
	_, err = ust.GetMsg(ctx, 2, jetstream.WithGetMsgSubject("orders.secret"))
	denied("direct get of orders.secret", err)
	_, err = kv.Get(ctx, "a") // the admin's handle, as a sanity check
	if err != nil {
		t.Fatal(err)
	}
	ukv, err := js.KeyValue(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := ukv.Get(ctx, "a"); err != nil || string(e.Value()) != "v-a" {
		t.Fatalf("kv get a: %v %v", e, err)
	}
	_, err = ukv.Get(ctx, "secret")
	denied("kv get secret", err)

	obs, err := adminJS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "OB"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutString(ctx, "doc", "content"); err != nil {
		t.Fatal(err)
	}
	uobs, err := js.ObjectStore(ctx, "OB")
	if err != nil {
		t.Fatal(err)
	}
	_, err = uobs.GetString(ctx, "doc")
	denied("object get", err)

	m, err := ust.GetMsg(ctx, 1)
	if err != nil || m.Subject != "orders.a" {
		t.Fatalf("msg get 1: %v %v", m, err)
	}
	c, err := ust.CreateConsumer(ctx, jetstream.ConsumerConfig{FilterSubject: "orders.a", AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for msg := range batch.Messages() {
		if msg.Subject() != "orders.a" {
			t.Fatalf("fetched %s", msg.Subject())
		}
		n++
	}
	if n != 1 {
		t.Fatalf("fetched %d messages (%v), want 1", n, batch.Error())
	}
	// allow_responses lets a worker ack what it fetched, as in nats-server.
	wjs, err := jetstream.New(connect(t, a, nats.UserInfo("w", "p")))
	if err != nil {
		t.Fatal(err)
	}
	wc, err := wjs.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "W", FilterSubject: "orders.a", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	wb, err := wc.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range wb.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatalf("ack through allow_responses: %v", err)
		}
	}
	if wb.Error() != nil {
		t.Fatal(wb.Error())
	}

	all, err := ust.Consumer(ctx, "ALL")
	if err != nil {
		t.Fatal(err)
	}
	batch, err = all.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err == nil {
		for range batch.Messages() {
			t.Fatal("fetched from a consumer over subjects the user may not read")
		}
		err = batch.Error()
	}
	denied("fetch from ALL", err)
}

// TestPermsJetStreamReadsCluster: on an R3 stream, a restricted user's
// reads are checked whichever node it talks to: requests forwarded to the
// stream's leader carry its permissions.
func TestPermsJetStreamReadsCluster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(path, []byte(permsConf), 0o600); err != nil {
		t.Fatal(err)
	}
	tune, _, _ := raftMembers(t, 3, func(_ int, c *app.Config) {
		if err := c.LoadFile(path); err != nil {
			t.Fatal(err)
		}
	})
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adminJS, err := jetstream.New(connect(t, apps[0], nats.UserInfo("admin", "a")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := createStream(ctx, t, adminJS, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"orders.a", "orders.secret"} {
		if _, err := adminJS.Publish(ctx, s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ALL", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for i, a := range apps {
		js, err := jetstream.New(connect(t, a, nats.UserInfo("u", "p")))
		if err != nil {
			t.Fatal(err)
		}
		var ust jetstream.Stream
		eventually(t, 15*time.Second, "stream on every node", func() bool {
			ust, err = js.Stream(ctx, "ORDERS")
			return err == nil
		})
		if _, err := ust.GetMsg(ctx, 2); err == nil || !strings.Contains(err.Error(), "Permissions Violation for Subscription") {
			t.Fatalf("node %d: msg get of orders.secret: %v", i, err)
		}
		if m, err := ust.GetMsg(ctx, 1); err != nil || m.Subject != "orders.a" {
			t.Fatalf("node %d: msg get 1: %v %v", i, m, err)
		}
		if _, err := ust.CreateConsumer(ctx, jetstream.ConsumerConfig{}); err == nil || !strings.Contains(err.Error(), "Permissions Violation for Subscription") {
			t.Fatalf("node %d: consumer on the whole stream: %v", i, err)
		}
	}
}

package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterPerAccount: on a 3-node JetStream cluster two accounts each
// create an R3 stream of the same name; each account's $JS.API, on every
// node, sees its own stream and messages only; each replica lives in the
// account's folder; max_streams and max_consumers count the account's
// streams and consumers across the cluster; a leader step-down and a restarted member keep the accounts
// apart.
func TestJSClusterPerAccount(t *testing.T) {
	tune, _, dirs := raftMembers(t, 3, func(_ int, c *app.Config) {
		c.Accounts = []app.AccountConfig{
			{Name: "A", JetStream: &app.AccountJetStream{MaxStreams: 2, MaxConsumers: 1}},
			{Name: "B", JetStream: &app.AccountJetStream{}},
		}
		c.Auth.Users = []auth.User{
			{Name: "a", Password: "pa", Account: "A"},
			{Name: "b", Password: "pb", Account: "B"},
		}
	})
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	jsOf := func(i int, user string) (jetstream.JetStream, *nats.Conn) {
		nc := connect(t, apps[i], nats.UserInfo(user, "p"+user), nats.MaxReconnects(-1))
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js, nc
	}
	jsA, ncA := jsOf(0, "a")
	jsB, _ := jsOf(1, "b")
	for _, js := range []jetstream.JetStream{jsA, jsB} {
		if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3}); err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	publish := func(js jetstream.JetStream, n int, what string) {
		t.Helper()
		for i := 0; i < n; i++ {
			if _, err := js.Publish(ctx, "orders.x", []byte(what)); err != nil {
				t.Fatalf("publish %s: %v", what, err)
			}
		}
	}
	pubA, _ := jsOf(2, "a")
	publish(pubA, 3, "a")
	publish(jsB, 5, "b")

	// want checks, through every node, that the account sees only its own
	// ORDERS with n messages, all its own.
	want := func(user string, n uint64) {
		t.Helper()
		for i := range apps {
			js, _ := jsOf(i, user)
			eventually(t, 30*time.Second, fmt.Sprintf("%s's ORDERS on n%d", user, i+1), func() bool {
				s, err := js.Stream(ctx, "ORDERS")
				return err == nil && s.CachedInfo().State.Msgs == n
			})
			s, _ := js.Stream(ctx, "ORDERS")
			m, err := s.GetLastMsgForSubject(ctx, "orders.x")
			if err != nil || string(m.Data) != user {
				t.Fatalf("%s's last message on n%d: %v %v", user, i+1, m, err)
			}
		}
	}
	want("a", 3)
	want("b", 5)
	for i := range apps {
		for _, acc := range []string{"A", "B"} {
			if _, err := os.Stat(filepath.Join(dirs[i], "accounts", acc, "jetstream", "ORDERS")); err != nil {
				t.Fatalf("n%d: %s's replica: %v", i+1, acc, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dirs[i], "jetstream", "ORDERS")); err == nil {
			t.Fatalf("n%d: an account's stream in the global account's folder", i+1)
		}
	}

	// max_streams 2 counts A's streams on every node: an R1 stream made
	// through n2 is the second, a third through n3 is refused.
	jsA2, _ := jsOf(1, "a")
	if _, err := createStream(ctx, t, jsA2, jetstream.StreamConfig{Name: "X", Subjects: []string{"x"}}); err != nil {
		t.Fatalf("second stream: %v", err)
	}
	jsA3, _ := jsOf(2, "a")
	_, err := createStream(ctx, t, jsA3, jetstream.StreamConfig{Name: "Y", Subjects: []string{"y"}, Replicas: 3})
	wantAPIErr(t, "third stream of A", err, 10027)
	if _, err := createStream(ctx, t, jsB, jetstream.StreamConfig{Name: "Y", Subjects: []string{"y"}, Replicas: 3}); err != nil {
		t.Fatalf("B's second stream: %v", err)
	}
	names := func(js jetstream.JetStream) []string {
		var out []string
		l := js.StreamNames(ctx)
		for n := range l.Name() {
			out = append(out, n)
		}
		return out
	}
	eventually(t, 10*time.Second, "stream names per account", func() bool {
		a, b := names(jsA3), names(jsB)
		return len(a) == 2 && len(b) == 2 && fmt.Sprint(a) != fmt.Sprint(b)
	})

	// max_consumers 1 likewise: a durable on ORDERS made through n1, then
	// one on X (led wherever it was placed) made through n3, is refused.
	if _, err := jsA.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "D"}); err != nil {
		t.Fatalf("A's consumer: %v", err)
	}
	_, err = jsA3.CreateOrUpdateConsumer(ctx, "X", jetstream.ConsumerConfig{Durable: "D2"})
	wantAPIErr(t, "second consumer of A", err, 10026)

	// A's leader steps down: A goes on, B is untouched.
	s, err := jsA.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	stepDownStream(t, ncA, "ORDERS", s.CachedInfo().Cluster.Leader)
	publish(jsA, 2, "a")
	want("a", 5)
	want("b", 5)

	// A member restarts and catches up on both accounts' streams.
	stopApp(t, apps[2])
	publish(jsA, 1, "a")
	publish(jsB, 1, "b")
	apps[2] = startClusterNode(t, 2, apps[:2], tune)
	metaOf(t, apps[2])
	want("a", 6)
	want("b", 6)
}

package app_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// accountsConf has two accounts with a user each, a user in the global
// account, and no_auth_user in account A.
const accountsConf = `
accounts {
  A: { users: [ {user: a, password: pa}, {user: a2, password: pa2} ] }
  B: {
    users: [ {user: b, password: pb} ]
    default_permissions: { publish: "b.>", subscribe: ">" }
  }
}
authorization { users: [ {user: g, password: pg} ] }
no_auth_user: a2
`

// expectNone fails if sub receives anything within a short wait that a
// round trip through the server has already bounded (flushes first).
func expectNone(t *testing.T, sub *nats.Subscription, what string) {
	t.Helper()
	if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("%s: got %q on %s, want nothing", what, m.Data, m.Subject)
	} else if !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("%s: %v", what, err)
	}
}

func nextData(t *testing.T, sub *nats.Subscription, what string) string {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return string(m.Data)
}

// TestAccountsIsolation: the same subject in two accounts and the global
// account are three subject spaces; users of one account share theirs
// (no_auth_user included); account default_permissions apply to its users.
func TestAccountsIsolation(t *testing.T) {
	a := startFromFile(t, accountsConf).a
	ncA := connect(t, a, nats.UserInfo("a", "pa"))
	ncA2 := connect(t, a) // no_auth_user a2, in account A
	ncB := connect(t, a, nats.UserInfo("b", "pb"))
	ncG := connect(t, a, nats.UserInfo("g", "pg"))

	subs := map[string]*nats.Subscription{}
	for name, nc := range map[string]*nats.Conn{"A": ncA, "A2": ncA2, "B": ncB, "G": ncG} {
		s, err := nc.SubscribeSync("b.x")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		subs[name] = s
	}
	for name, nc := range map[string]*nats.Conn{"A": ncA, "B": ncB, "G": ncG} {
		if err := nc.Publish("b.x", []byte("from "+name)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if got := nextData(t, subs["A"], "A"); got != "from A" {
		t.Fatalf("A got %q", got)
	}
	if got := nextData(t, subs["A2"], "A2"); got != "from A" {
		t.Fatalf("A2 (no_auth_user) got %q", got)
	}
	if got := nextData(t, subs["B"], "B"); got != "from B" {
		t.Fatalf("B got %q", got)
	}
	if got := nextData(t, subs["G"], "G"); got != "from G" {
		t.Fatalf("G got %q", got)
	}
	for name, s := range subs {
		expectNone(t, s, name)
	}

	// B's default_permissions: publishing outside b.> is a violation.
	errs := make(chan error, 1)
	ncB2 := connect(t, a, nats.UserInfo("b", "pb"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err := ncB2.Publish("a.x", nil); err != nil {
		t.Fatal(err)
	}
	_ = ncB2.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), `Permissions Violation for Publish to "a.x"`) {
			t.Fatalf("B publish outside b.>: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B publish outside b.>: no violation")
	}

	// Request/reply stays within an account: a responder in A does not
	// answer B's requester.
	if _, err := ncA.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte("A says hi")) }); err != nil {
		t.Fatal(err)
	}
	_ = ncA.Flush()
	if m, err := ncA2.Request("svc", nil, 5*time.Second); err != nil || string(m.Data) != "A says hi" {
		t.Fatalf("request in A: %v %v", m, err)
	}
	if _, err := ncG.Request("svc", nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request in $G to A's responder: %v, want no responders", err)
	}
}

// TestAccountsConfigErrors: the accounts block's mistakes are refused with
// nats-server's wording.
func TestAccountsConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{`accounts { $G: { users: [{user: x, password: y}] } }`, `"$G" is a Reserved Account`},
		{`accounts { A: { users: [{user: x, password: y}] }, B: { users: [{user: x, password: z}] } }`, `Duplicate user "x"`},
		{`accounts { A: { bogus: 1 } }`, `unknown setting "bogus"`},
		{`accounts { A: 1 }`, `Expected map entries for accounts`},
		{`authorization { users: [{user: x, password: y, account: C}] }`, `account "C" not defined`},
	} {
		cfg := app.Defaults()
		err := loadConf(t, &cfg, tc.conf)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.conf, err, tc.want)
		}
	}
	// The list form names accounts without users.
	cfg := app.Defaults()
	if err := loadConf(t, &cfg, `accounts: [A, B]`); err != nil || len(cfg.Accounts) != 2 || cfg.Accounts[1].Name != "B" {
		t.Fatalf("accounts list: %v %+v", err, cfg.Accounts)
	}
}

// TestAccountsAcrossCluster: the account travels with routed interest and
// messages: a subscriber in account A on one member gets A's messages
// published on another, and not B's on the same subject.
func TestAccountsAcrossCluster(t *testing.T) {
	apps := startCluster(t, 2, func(_ int, c *app.Config) {
		c.JetStream = false
		c.Accounts = []app.AccountConfig{{Name: "A"}, {Name: "B"}}
		c.Auth.Users = []auth.User{
			{Name: "a", Password: "pa", Account: "A"},
			{Name: "b", Password: "pb", Account: "B"},
		}
	})
	subA := connect(t, apps[0], nats.UserInfo("a", "pa"))
	subB := connect(t, apps[0], nats.UserInfo("b", "pb"))
	sa, _ := subA.SubscribeSync("orders.>")
	sb, _ := subB.SubscribeSync("orders.>")
	qa, _ := subA.QueueSubscribeSync("work", "q")
	_ = subA.Flush()
	_ = subB.Flush()
	eventually(t, 10*time.Second, "interest in A and B", func() bool {
		return apps[1].Broker().RemoteInterestIn("A", "orders.1") == 1 &&
			apps[1].Broker().RemoteInterestIn("B", "orders.1") == 1 &&
			apps[1].Broker().RemoteInterestIn("A", "work") == 1 &&
			apps[1].Broker().RemoteInterestIn("B", "work") == 0 &&
			apps[1].Broker().RemoteInterest("orders.1") == 0
	})
	pubA := connect(t, apps[1], nats.UserInfo("a", "pa"))
	pubB := connect(t, apps[1], nats.UserInfo("b", "pb"))
	_ = pubA.Publish("orders.1", []byte("a1"))
	_ = pubB.Publish("orders.1", []byte("b1"))
	_ = pubB.Publish("work", []byte("b-work"))
	_ = pubA.Publish("work", []byte("a-work"))
	big := strings.Repeat("x", 200<<10) // streamed over the route in frames
	_ = pubA.Publish("orders.big", []byte(big))
	_ = pubA.Flush()
	_ = pubB.Flush()
	if got := nextData(t, sa, "A"); got != "a1" {
		t.Fatalf("A got %q", got)
	}
	if got := nextData(t, sa, "A big"); got != big {
		t.Fatalf("A got %d bytes, want the large message", len(got))
	}
	if got := nextData(t, sb, "B"); got != "b1" {
		t.Fatalf("B got %q", got)
	}
	if got := nextData(t, qa, "A queue"); got != "a-work" {
		t.Fatalf("A's queue got %q", got)
	}
	expectNone(t, sa, "A")
	expectNone(t, sb, "B")
	expectNone(t, qa, "A queue")
}

// loadConf writes conf to a file and applies it to cfg.
func loadConf(t *testing.T, cfg *app.Config, conf string) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "barge.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg.LoadFile(path)
}

// TestAccountLimits: an account's max_connections refuses the next login
// with nats-server's error and closes it; max_subscriptions refuses a
// client's next SUB and keeps the connection.
func TestAccountLimits(t *testing.T) {
	a := startFromFile(t, `
accounts {
  A: { users: [ {user: a, password: pa} ], limits: { max_connections: 1, max_subscriptions: 2 } }
}
`).a
	errs := make(chan error, 4)
	nc := connect(t, a, nats.UserInfo("a", "pa"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		errs <- err
	}))
	err := connectErr(a, nats.UserInfo("a", "pa"))
	if err == nil || !strings.Contains(err.Error(), "maximum account active connections exceeded") {
		t.Fatalf("second connection: %v", err)
	}
	s1, _ := nc.SubscribeSync("x")
	_, _ = nc.SubscribeSync("y")
	_, _ = nc.SubscribeSync("z")
	_ = nc.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "maximum subscriptions exceeded") {
			t.Fatalf("third subscription: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("third subscription: no error")
	}
	_ = nc.Publish("x", []byte("still open"))
	if got := nextData(t, s1, "x"); got != "still open" {
		t.Fatalf("got %q", got)
	}
	nc.Close()
	eventually(t, 5*time.Second, "A's connection released", func() bool {
		return a.Broker().Account("A").NumConnections() == 0
	})
	if err := connectErr(a, nats.UserInfo("a", "pa")); err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
}

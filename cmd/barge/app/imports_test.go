package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// importsConf: A exports a stream and services; B imports them with a
// prefix, a `to` mapping and as local subjects.
const importsConf = `
accounts {
  A: {
    users: [ {user: a, password: pa} ]
    exports: [
      {stream: "events.>"}
      {stream: "private.>", accounts: [C]}
      {service: "help.*"}
      {service: "none.*"}
      {service: "feed", response_type: stream}
      {service: "once", response_type: singleton}
    ]
  }
  B: {
    users: [ {user: b, password: pb} ]
    imports: [
      {stream: {account: A, subject: "events.>"}, prefix: "from_a"}
      {stream: {account: A, subject: "events.*"}, to: "ev.*"}
      {service: {account: A, subject: "help.*"}, to: "ask.*"}
      {service: {account: A, subject: "none.*"}, to: "ask.none.*"}
      {service: {account: A, subject: "feed"}}
      {service: {account: A, subject: "once"}}
    ]
  }
  C: { users: [ {user: c, password: pc} ] }
}
`

// TestStreamImports: a message published in A on an exported subject
// reaches B's subscribers under the mapped subjects, and nothing else
// crosses.
func TestStreamImports(t *testing.T) {
	a := startFromFile(t, importsConf).a
	ncA := connect(t, a, nats.UserInfo("a", "pa"))
	ncB := connect(t, a, nats.UserInfo("b", "pb"))
	ncC := connect(t, a, nats.UserInfo("c", "pc"))
	pre, _ := ncB.SubscribeSync("from_a.events.>")
	to, _ := ncB.SubscribeSync("ev.*")
	raw, _ := ncB.SubscribeSync("events.>")
	cs, _ := ncC.SubscribeSync(">")
	_ = ncB.Flush()
	_ = ncC.Flush()
	_ = ncA.Publish("events.x", []byte("one"))
	_ = ncA.Publish("events.x.y", []byte("two"))
	_ = ncA.Publish("other", []byte("no"))
	_ = ncA.Flush()
	for _, want := range []string{"from_a.events.x one", "from_a.events.x.y two"} {
		m, err := pre.NextMsg(5 * time.Second)
		if err != nil || m.Subject+" "+string(m.Data) != want {
			t.Fatalf("prefix import: %v %v, want %s", m, err, want)
		}
	}
	if m, err := to.NextMsg(5 * time.Second); err != nil || m.Subject != "ev.x" || string(m.Data) != "one" {
		t.Fatalf("to import: %v %v", m, err)
	}
	expectNone(t, to, "ev.* (events.x.y has two tokens)")
	expectNone(t, raw, "B's unmapped events.>")
	expectNone(t, cs, "C imports nothing")
}

// TestServiceImports: B's requests on the import's local subject reach A's
// responder on the exported subject and the responses come back to B's
// requester; a streamed response delivers every message, a singleton only
// the first.
func TestServiceImports(t *testing.T) {
	a := startFromFile(t, importsConf).a
	ncA := connect(t, a, nats.UserInfo("a", "pa"))
	ncB := connect(t, a, nats.UserInfo("b", "pb"))
	if _, err := ncA.Subscribe("help.*", func(m *nats.Msg) {
		_ = m.Respond([]byte("A helps with " + m.Subject))
	}); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"feed", "once"} {
		if _, err := ncA.Subscribe(subj, func(m *nats.Msg) {
			for i := range 3 {
				_ = ncA.Publish(m.Reply, []byte{'0' + byte(i)})
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	_ = ncA.Flush()

	m, err := ncB.Request("ask.docs", []byte("?"), 5*time.Second)
	if err != nil || string(m.Data) != "A helps with help.docs" {
		t.Fatalf("service request: %v %v", m, err)
	}
	// A service nobody in A answers: B's requester gets no responders.
	if _, err := ncB.Request("ask.none.x", nil, 5*time.Second); err != nats.ErrNoResponders {
		t.Fatalf("request to an unanswered service: %v, want no responders", err)
	}
	// In B, help.* is nobody's.
	if _, err := ncB.Request("help.docs", nil, 5*time.Second); err != nats.ErrNoResponders {
		t.Fatalf("unmapped request: %v, want no responders", err)
	}

	for _, tc := range []struct {
		subj string
		want string
	}{{"feed", "012"}, {"once", "0"}} {
		inbox := nats.NewInbox()
		sub, _ := ncB.SubscribeSync(inbox)
		_ = ncB.PublishRequest(tc.subj, inbox, nil)
		var got strings.Builder
		for range len(tc.want) {
			m, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("%s: %v after %q", tc.subj, err, got.String())
			}
			got.Write(m.Data)
		}
		expectNone(t, sub, tc.subj+" after its responses")
		if got.String() != tc.want {
			t.Fatalf("%s: responses %q, want %q", tc.subj, got.String(), tc.want)
		}
	}
}

// TestImportsConfigErrors: an import of what is not exported to the
// importer, from an unknown account, or with a mapping that does not fit,
// is refused.
func TestImportsConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{`accounts { A: { exports: [{stream: "x.>", accounts: [C]}] }, B: { imports: [{stream: {account: A, subject: "x.>"}}] }, C: {} }`,
			`stream import "x.>" from "A": not exported to it`},
		{`accounts { A: { exports: [{stream: "x.>"}] }, B: { imports: [{service: {account: A, subject: "x.y"}}] } }`,
			`service import "x.y" from "A": not exported to it`},
		{`accounts { B: { imports: [{stream: {account: Z, subject: "x"}}] } }`, `import from "Z": account not defined`},
		{`accounts { A: { exports: [{stream: "x.*"}] }, B: { imports: [{stream: {account: A, subject: "x.*"}, to: "y.>"}] } }`,
			`does not match the subject's wildcards`},
		{`accounts { A: { exports: [{stream: "x", response_type: stream}] } }`, `Detected response directive on non-service`},
		{`accounts { A: { exports: [{service: "x", response_type: bogus}] } }`, `Unknown response type: "bogus"`},
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
}

// TestServiceImportAcrossCluster: the requester in B on one member, the
// responder in A on another: the request and its response cross both the
// accounts and the route.
func TestServiceImportAcrossCluster(t *testing.T) {
	apps := startCluster(t, 2, func(_ int, c *app.Config) {
		c.JetStream = false
		c.Accounts = []app.AccountConfig{
			{Name: "A", Exports: []app.ExportConfig{{Service: true, Subject: "svc"}, {Subject: "news"}}},
			{Name: "B", Imports: []app.ImportConfig{
				{Service: true, Account: "A", Subject: "svc"},
				{Account: "A", Subject: "news"},
			}},
		}
		c.Auth.Users = []auth.User{{Name: "a", Password: "pa", Account: "A"}, {Name: "b", Password: "pb", Account: "B"}}
	})
	ncA := connect(t, apps[1], nats.UserInfo("a", "pa"))
	if _, err := ncA.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) }); err != nil {
		t.Fatal(err)
	}
	_ = ncA.Flush()
	ncB := connect(t, apps[0], nats.UserInfo("b", "pb"))
	news, _ := ncB.SubscribeSync("news")
	_ = ncB.Flush()
	eventually(t, 10*time.Second, "A's svc interest", func() bool {
		return apps[0].Broker().RemoteInterestIn("A", "svc") == 1 && apps[1].Broker().RemoteInterestIn("B", "news") == 1
	})
	m, err := ncB.Request("svc", nil, 5*time.Second)
	if err != nil || string(m.Data) != "pong" {
		t.Fatalf("request across the route: %v %v", m, err)
	}
	_ = ncA.Publish("news", []byte("extra"))
	_ = ncA.Flush()
	if got := nextData(t, news, "news"); got != "extra" {
		t.Fatalf("stream import across the route: %q", got)
	}
	expectNone(t, news, "news (once)")
}

package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAccountsReload: a reload of the accounts block lets new users log
// in, closes the connections of users removed or moved to another
// account, installs new imports and starts JetStream for an account that
// gains it; changing an account's JetStream limits is refused.
func TestAccountsReload(t *testing.T) {
	s := startFromFile(t, `
accounts {
  A: { users: [ {user: a, password: pa}, {user: mover, password: pm} ], exports: [ {stream: "news.>"} ], jetstream: enabled }
  B: { users: [ {user: b, password: pb} ] }
}
`)
	closed := func(user, pass string) (*nats.Conn, chan struct{}) {
		ch := make(chan struct{})
		nc := connect(t, s.a, nats.UserInfo(user, pass), nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(ch) }))
		return nc, ch
	}
	_, bGone := closed("b", "pb")
	_, moverGone := closed("mover", "pm")
	ncA, aGone := closed("a", "pa")
	if err := connectErr(s.a, nats.UserInfo("c", "pc")); err == nil {
		t.Fatal("c logged in before the reload")
	}

	err := s.reload(`
accounts {
  A: { users: [ {user: a, password: pa} ], exports: [ {stream: "news.>"} ], jetstream: enabled }
  B: { users: [ {user: mover, password: pm} ] }
  C: {
    users: [ {user: c, password: pc} ]
    imports: [ {stream: {account: A, subject: "news.>"}, prefix: "a"} ]
    jetstream: { max_streams: 1 }
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan struct{}{"b (removed)": bGone, "mover (moved to B)": moverGone} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: connection not closed", name)
		}
	}
	select {
	case <-aGone:
		t.Fatal("a's connection was closed")
	default:
	}
	ncC := connect(t, s.a, nats.UserInfo("c", "pc"))
	sub, _ := ncC.SubscribeSync("a.news.>")
	_ = ncC.Flush()
	_ = ncA.Publish("news.1", []byte("hello C"))
	_ = ncA.Flush()
	if got := nextData(t, sub, "C's import"); got != "hello C" {
		t.Fatalf("C got %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, _ := jetstream.New(ncC)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C1", Subjects: []string{"c.>"}}); err != nil {
		t.Fatalf("C's JetStream after the reload: %v", err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "C2", Subjects: []string{"d.>"}})
	wantAPIErr(t, "C's second stream", err, 10027)

	err = s.reload(`
accounts {
  A: { users: [ {user: a, password: pa} ], jetstream: { max_streams: 5 } }
}
`)
	if err == nil || !strings.Contains(err.Error(), `config reload not supported for jetstream of account "A"`) {
		t.Fatalf("reload changing A's jetstream: %v", err)
	}
}

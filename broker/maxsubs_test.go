package broker

import (
	"testing"

	"github.com/bargemq/barge/auth"
)

// TestMaxSubs: with max_subscriptions 2 a third SUB (a duplicate sid
// too, as nats-server checks the limit first) gets -ERR 'maximum
// subscriptions exceeded' and the connection carries on; an UNSUB frees a
// place; a reload that keeps the user does not cut a client holding
// exactly its limit.
func TestMaxSubs(t *testing.T) {
	cfg := auth.Config{Users: []auth.User{{Name: "u", Password: "p"}}}
	a, err := auth.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{Auth: a, MaxSubs: 2})
	c := h.connect(`{"user":"u","pass":"p"}`)
	c.send("SUB a 1\r\nSUB b 2\r\nPING\r\n")
	c.expect("PONG\r\n")
	c.send("SUB c 3\r\nSUB a 1\r\nPING\r\n")
	c.expect("-ERR 'maximum subscriptions exceeded'\r\n-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n")
	c.send("UNSUB 1\r\nSUB c 3\r\nPUB c 2\r\nhi\r\nPING\r\n")
	c.expect("MSG c 3 2\r\nhi\r\nPONG\r\n")

	a2, err := auth.New(cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	h.srv.SetAuth(a2)
	if closed, why := c.tr.closed(); closed {
		t.Fatalf("a reload closed a client at its limit: %v", why)
	}
	c.send("PING\r\n")
	c.expect("PONG\r\n")
	if n := c.s.(*client).numSubs(); n != 2 {
		t.Fatalf("%d subscriptions after the reload, want 2", n)
	}
}

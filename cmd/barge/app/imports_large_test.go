package app_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// bigPayload is a message over broker.MaxInternalMsg (8 MiB), with a
// pattern that shows a misplaced byte.
func bigPayload() []byte {
	b := make([]byte, 9<<20+123)
	for i := range b {
		b[i] = byte(i*7 + i>>13)
	}
	return b
}

// wantBig waits for the large message on sub, with subject subj and its
// header.
func wantBig(t *testing.T, sub *nats.Subscription, subj string, want []byte) {
	t.Helper()
	m, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subj, err)
	}
	if m.Subject != subj || !bytes.Equal(m.Data, want) || m.Header.Get("K") != "v" {
		t.Fatalf("got %q (%d bytes, header %v), want %q (%d bytes)", m.Subject, len(m.Data), m.Header, subj, len(want))
	}
}

// TestStreamImportLargeMessage: a message over 8 MiB published in A on an
// exported subject reaches B's subscribers under both imports' mappings,
// headers and every byte intact, and one member of B's queue group; B's
// unmapped subscription and C get nothing.
func TestStreamImportLargeMessage(t *testing.T) {
	a := startFromFile(t, importsConf).a
	ncA := connect(t, a, nats.UserInfo("a", "pa"))
	ncB := connect(t, a, nats.UserInfo("b", "pb"))
	ncB2 := connect(t, a, nats.UserInfo("b", "pb"))
	ncC := connect(t, a, nats.UserInfo("c", "pc"))
	pre, _ := ncB.SubscribeSync("from_a.events.>")
	to, _ := ncB.SubscribeSync("ev.*")
	raw, _ := ncB.SubscribeSync("events.>")
	q1, _ := ncB.QueueSubscribeSync("ev.big", "q")
	q2, _ := ncB2.QueueSubscribeSync("ev.big", "q")
	cs, _ := ncC.SubscribeSync(">")
	for _, nc := range []*nats.Conn{ncB, ncB2, ncC} {
		_ = nc.Flush()
	}
	big := bigPayload()
	msg := nats.NewMsg("events.big")
	msg.Header.Set("K", "v")
	msg.Data = big
	if err := ncA.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	_ = ncA.Flush()
	wantBig(t, pre, "from_a.events.big", big)
	wantBig(t, to, "ev.big", big)
	got := 0
	for _, q := range []*nats.Subscription{q1, q2} {
		if m, err := q.NextMsg(2 * time.Second); err == nil && bytes.Equal(m.Data, big) {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("queue group got the message %d times, want once", got)
	}
	expectNone(t, raw, "B's unmapped events.>")
	expectNone(t, cs, "C imports nothing")
}

// TestStreamImportLargeMessageAcrossCluster: the same with B's subscriber
// on the other member: the message is routed in B under the mapped
// subject, in pieces, once.
func TestStreamImportLargeMessageAcrossCluster(t *testing.T) {
	apps := startCluster(t, 2, func(_ int, c *app.Config) {
		c.JetStream = false
		c.Accounts = []app.AccountConfig{
			{Name: "A", Exports: []app.ExportConfig{{Subject: "news.>"}}},
			{Name: "B", Imports: []app.ImportConfig{{Account: "A", Subject: "news.>", To: "a.news.>"}}},
		}
		c.Auth.Users = []auth.User{{Name: "a", Password: "pa", Account: "A"}, {Name: "b", Password: "pb", Account: "B"}}
	})
	ncB := connect(t, apps[1], nats.UserInfo("b", "pb"))
	news, _ := ncB.SubscribeSync("a.news.>")
	_ = ncB.Flush()
	eventually(t, 10*time.Second, "B's interest", func() bool {
		return apps[0].Broker().RemoteInterestIn("B", "a.news.x") == 1
	})
	ncA := connect(t, apps[0], nats.UserInfo("a", "pa"))
	big := bigPayload()
	msg := nats.NewMsg("news.x")
	msg.Header.Set("K", "v")
	msg.Data = big
	if err := ncA.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	_ = ncA.Flush()
	wantBig(t, news, "a.news.x", big)
	expectNone(t, news, "a.news.> (once)")
}

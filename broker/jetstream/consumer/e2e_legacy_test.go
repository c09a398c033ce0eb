package consumer_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestLegacySeedDemo is the seed demo: publish, then subscribe with
// DeliverAll, DeliverLast and DeliverNew.
func TestLegacySeedDemo(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := legacyJS(t, nc)
	_, err := js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	must(t, err)
	for _, s := range []string{"1", "2", "3"} {
		_, err := js.Publish("orders.new", []byte("o"+s))
		must(t, err)
	}
	all, err := js.SubscribeSync("orders.>", nats.DeliverAll())
	must(t, err)
	if got := join(nextMsgs(t, all, 3)); got != "o1 o2 o3" {
		t.Fatalf("DeliverAll: %q", got)
	}
	last, err := js.SubscribeSync("orders.>", nats.DeliverLast())
	must(t, err)
	m3, err := last.NextMsg(5 * time.Second)
	must(t, err)
	if string(m3.Data) != "o3" {
		t.Fatalf("DeliverLast: %q", m3.Data)
	}
	must(t, m3.Ack())
	nw, err := js.SubscribeSync("orders.>", nats.DeliverNew())
	must(t, err)
	if _, err := nw.NextMsg(100 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("DeliverNew before publish: %v", err)
	}
	_, err = js.Publish("orders.new", []byte("o4"))
	must(t, err)
	if got := join(nextMsgs(t, nw, 1)); got != "o4" {
		t.Fatalf("DeliverNew: %q", got)
	}
	m, err := last.NextMsg(5 * time.Second)
	must(t, err)
	md, err := m.Metadata()
	must(t, err)
	if md.Stream != "ORDERS" || md.Sequence.Stream != 4 || md.Sequence.Consumer != 2 || md.NumDelivered != 1 || md.NumPending != 0 {
		t.Fatalf("metadata %+v", md)
	}
	must(t, m.AckSync())
	ci, err := last.ConsumerInfo()
	must(t, err)
	if ci.AckFloor.Stream != 4 || ci.NumAckPending != 0 || !ci.PushBound {
		t.Fatalf("info %+v", ci)
	}
}

func TestLegacyStartPositionsAndAcks(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := legacyJS(t, nc)
	_, err := js.AddStream(&nats.StreamConfig{Name: "S", Subjects: []string{"s.*"}})
	must(t, err)
	for i, s := range []string{"s.a", "s.b", "s.a", "s.b"} {
		_, err := js.Publish(s, []byte{'0' + byte(i+1)})
		must(t, err)
	}
	seq, err := js.SubscribeSync("s.*", nats.StartSequence(3))
	must(t, err)
	if got := join(nextMsgs(t, seq, 2)); got != "3 4" {
		t.Fatalf("StartSequence: %q", got)
	}
	tm, err := js.SubscribeSync("s.*", nats.StartTime(time.Now().Add(-time.Hour)))
	must(t, err)
	if got := join(nextMsgs(t, tm, 4)); got != "1 2 3 4" {
		t.Fatalf("StartTime: %q", got)
	}
	lps, err := js.SubscribeSync("s.*", nats.DeliverLastPerSubject())
	must(t, err)
	if got := join(nextMsgs(t, lps, 2)); got != "3 4" {
		t.Fatalf("DeliverLastPerSubject: %q", got)
	}

	// Pull with explicit acks, nak, in-progress and term.
	sub, err := js.PullSubscribe("s.a", "worker", nats.AckWait(time.Second))
	must(t, err)
	msgs, err := sub.Fetch(2, nats.MaxWait(3*time.Second))
	must(t, err)
	if len(msgs) != 2 {
		t.Fatalf("fetch %d", len(msgs))
	}
	must(t, msgs[0].Nak())
	must(t, msgs[1].InProgress())
	again, err := sub.Fetch(1, nats.MaxWait(3*time.Second))
	must(t, err)
	md, _ := again[0].Metadata()
	if string(again[0].Data) != "1" || md.NumDelivered != 2 {
		t.Fatalf("after nak: %q %+v", again[0].Data, md)
	}
	must(t, again[0].Term())
	must(t, msgs[1].AckSync())
	ci, err := sub.ConsumerInfo()
	must(t, err)
	if ci.NumAckPending != 0 || ci.AckFloor.Stream != 3 || ci.NumRedelivered != 0 {
		t.Fatalf("info %+v", ci)
	}
	if _, err := sub.Fetch(1, nats.MaxWait(300*time.Millisecond)); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("empty fetch: %v", err)
	}

	// Ack none and ack all through push subscriptions.
	none, err := js.SubscribeSync("s.b", nats.AckNone())
	must(t, err)
	nextMsgs(t, none, 2)
	ack, err := js.SubscribeSync("s.b", nats.AckAll(), nats.ManualAck())
	must(t, err)
	m1, _ := ack.NextMsg(5 * time.Second)
	m2, _ := ack.NextMsg(5 * time.Second)
	must(t, m2.AckSync())
	ci, err = ack.ConsumerInfo()
	must(t, err)
	if ci.NumAckPending != 0 || ci.AckFloor.Stream != 4 || m1 == nil {
		t.Fatalf("ack all: %+v", ci)
	}
}

func TestLegacyQueueAndOrdered(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := legacyJS(t, nc)
	_, err := js.AddStream(&nats.StreamConfig{Name: "Q", Subjects: []string{"q"}})
	must(t, err)
	got := make(chan string, 100)
	for range 2 {
		_, err := js.QueueSubscribe("q", "grp", func(m *nats.Msg) {
			got <- string(m.Data)
			_ = m.Ack()
		}, nats.Durable("grp"))
		must(t, err)
	}
	ord := make(chan string, 100)
	_, err = js.Subscribe("q", func(m *nats.Msg) { ord <- string(m.Data) }, nats.OrderedConsumer())
	must(t, err)
	for i := range 20 {
		_, err := js.Publish("q", []byte{'a' + byte(i)})
		must(t, err)
	}
	seen := map[string]bool{}
	for range 20 {
		select {
		case s := <-got:
			seen[s] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("queue group got %d of 20", len(seen))
		}
	}
	for i := range 20 {
		select {
		case s := <-ord:
			if s != string(rune('a'+i)) {
				t.Fatalf("ordered: message %d is %q", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ordered consumer got %d of 20", i)
		}
	}
}

// TestBadConsumerRequest: a malformed create is answered with an error and
// the server keeps serving.
func TestBadConsumerRequest(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := legacyJS(t, nc)
	_, err := js.AddStream(&nats.StreamConfig{Name: "B", Subjects: []string{"b"}})
	must(t, err)
	r, err := nc.Request("$JS.API.CONSUMER.CREATE.B", []byte(`{"stream_name":"B","config":{"deliver_policy":"bogus"}}`), 5*time.Second)
	must(t, err)
	if len(r.Data) == 0 || !contains(string(r.Data), `"error"`) {
		t.Fatalf("reply %s", r.Data)
	}
	_, err = js.AddConsumer("B", &nats.ConsumerConfig{Durable: "d.x"})
	if err == nil {
		t.Fatal("bad durable name accepted")
	}
	_, err = js.AddConsumer("B", &nats.ConsumerConfig{Durable: "ok", AckPolicy: nats.AckExplicitPolicy})
	must(t, err)
}

package consumer_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxDeliverAdvisory is the advisory as a nats.go client reads it, with
// nats-server's field names.
type maxDeliverAdvisory struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	StreamSeq  uint64    `json:"stream_seq"`
	Deliveries uint64    `json:"deliveries"`
}

// subAdvisories subscribes to stream's max-deliveries advisories.
func subAdvisories(t *testing.T, nc *nats.Conn, stream string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + ".>")
	must(t, err)
	must(t, nc.Flush())
	return sub
}

// wantAdvisory reads the one advisory for message seq of stream/consumer
// after deliveries, and checks no second one is queued behind it.
func wantAdvisory(t *testing.T, sub *nats.Subscription, stream, consumer string, seq, deliveries uint64) {
	t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no max-deliveries advisory: %v", err)
	}
	var a maxDeliverAdvisory
	must(t, json.Unmarshal(m.Data, &a))
	if m.Subject != "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+stream+"."+consumer ||
		a.Type != "io.nats.jetstream.advisory.v1.max_deliver" || a.ID == "" || a.Time.IsZero() ||
		a.Stream != stream || a.Consumer != consumer || a.StreamSeq != seq || a.Deliveries != deliveries {
		t.Fatalf("advisory on %s: %s", m.Subject, m.Data)
	}
	if n, _, _ := sub.Pending(); n != 0 {
		t.Fatalf("%d more advisories", n)
	}
}

// fetchOne fetches one message and checks it is data with delivery count n.
func fetchOne(t *testing.T, cons jetstream.Consumer, data string, n uint64) jetstream.Msg {
	t.Helper()
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	must(t, err)
	var got jetstream.Msg
	for m := range b.Messages() {
		got = m
	}
	if got == nil {
		t.Fatalf("delivery %d of %q: nothing (%v)", n, data, b.Error())
	}
	md, err := got.Metadata()
	must(t, err)
	if string(got.Data()) != data || md.NumDelivered != n {
		t.Fatalf("delivery %d: %q, delivered count %d", n, got.Data(), md.NumDelivered)
	}
	return got
}

// wantNothing checks that a no-wait fetch finds nothing to deliver.
func wantNothing(t *testing.T, cons jetstream.Consumer) {
	t.Helper()
	b, err := cons.FetchNoWait(10)
	must(t, err)
	for m := range b.Messages() {
		md, _ := m.Metadata()
		t.Fatalf("delivered past max_deliver: %q, delivery %d", m.Data(), md.NumDelivered)
	}
}

// TestJSMaxDeliverPullNak: a pull consumer with max_deliver 3 whose message
// is nak'd on every delivery (without and with a delay) delivers it exactly
// 3 times, then publishes one advisory and lets it go.
func TestJSMaxDeliverPullNak(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "M", Subjects: []string{"m.>"}})
	must(t, err)
	adv := subAdvisories(t, nc, "M")
	for _, tc := range []struct {
		name string
		nak  func(m jetstream.Msg) error
	}{
		{"NAK", func(m jetstream.Msg) error { return m.Nak() }},
		{"DELAY", func(m jetstream.Msg) error { return m.NakWithDelay(20 * time.Millisecond) }},
	} {
		seq, err := js.Publish(c, "m."+tc.name, []byte(tc.name))
		must(t, err)
		cons, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: tc.name, FilterSubject: "m." + tc.name,
			AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 3})
		must(t, err)
		for n := uint64(1); n <= 3; n++ {
			must(t, tc.nak(fetchOne(t, cons, tc.name, n)))
		}
		wantAdvisory(t, adv, "M", tc.name, seq.Sequence, 3)
		wantNothing(t, cons)
		info, err := cons.Info(c)
		must(t, err)
		if info.NumAckPending != 0 || info.NumRedelivered != 1 || info.AckFloor.Stream != seq.Sequence || info.Delivered.Consumer != 3 {
			t.Fatalf("%s: info after max_deliver: %+v", tc.name, info)
		}
	}
}

// TestJSMaxDeliverPushNak: a push subscription with nats.MaxDeliver(3) that
// naks every delivery gets 3 (it once got thousands a second).
func TestJSMaxDeliverPushNak(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := legacyJS(t, nc)
	_, err := js.AddStream(&nats.StreamConfig{Name: "P", Subjects: []string{"p"}})
	must(t, err)
	adv := subAdvisories(t, nc, "P")
	_, err = js.Publish("p", []byte("x"))
	must(t, err)
	sub, err := js.SubscribeSync("p", nats.Durable("D"), nats.MaxDeliver(3), nats.ManualAck())
	must(t, err)
	for n := uint64(1); n <= 3; n++ {
		m, err := sub.NextMsg(5 * time.Second)
		must(t, err)
		md, err := m.Metadata()
		must(t, err)
		if md.NumDelivered != n {
			t.Fatalf("delivery %d carries count %d", n, md.NumDelivered)
		}
		must(t, m.Nak())
	}
	// The advisory follows the last delivery on the connection: whatever
	// was delivered before it is queued by now.
	wantAdvisory(t, adv, "P", "D", 1, 3)
	if n, _, _ := sub.Pending(); n != 0 {
		t.Fatalf("%d more deliveries", n)
	}
	ci, err := sub.ConsumerInfo()
	must(t, err)
	if ci.NumAckPending != 0 || ci.Delivered.Consumer != 3 {
		t.Fatalf("info %+v", ci)
	}
}

// TestJSMaxDeliverRestart: a message with max_deliver-1 deliveries when the
// server stops gets exactly one more after the restart, then is given up.
func TestJSMaxDeliverRestart(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir)
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "R", Subjects: []string{"r"}})
	must(t, err)
	_, err = js.Publish(c, "r", []byte("x"))
	must(t, err)
	// Without a waiting pull request nothing is delivered, so however long
	// the stop takes the message leaves with 2 deliveries.
	cons, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Second, MaxDeliver: 3})
	must(t, err)
	must(t, fetchOne(t, cons, "x", 1).Nak())
	must(t, fetchOne(t, cons, "x", 2).Nak())
	nc.Close()
	stop(a)

	a = startServer(t, dir)
	nc = connect(t, a)
	js = newJS(t, nc)
	adv := subAdvisories(t, nc, "R")
	cons, err = js.Consumer(c, "R", "D")
	must(t, err)
	// Due again ack wait after the last delivery.
	must(t, fetchOne(t, cons, "x", 3).Nak())
	wantAdvisory(t, adv, "R", "D", 1, 3)
	wantNothing(t, cons)
	info, err := cons.Info(c)
	must(t, err)
	if info.NumAckPending != 0 || info.NumRedelivered != 1 || info.AckFloor.Stream != 1 {
		t.Fatalf("info after max_deliver: %+v", info)
	}
}

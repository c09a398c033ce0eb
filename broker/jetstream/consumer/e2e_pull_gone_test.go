package consumer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// goneRequest sends a pull request for durable D of stream G from a
// throwaway inbox and unsubscribes the inbox: the requester gave up.
func goneRequest(t *testing.T, nc *nats.Conn, body string) {
	t.Helper()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.G.D", inbox, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// waitConnections waits (up to 5 s) until the server counts n client
// connections.
func waitConnections(t *testing.T, a *app.App, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.Broker().Varz().Connections != n {
		if time.Now().After(deadline) {
			t.Fatalf("connections: %d, want %d", a.Broker().Varz().Connections, n)
		}
		<-time.After(5 * time.Millisecond) // poll: the close is noticed by the server asynchronously
	}
}

// A pull request whose requester went away (its inbox unsubscribed, or its
// connection closed) takes no message: nats-server drops such a request,
// and a message sent to nobody would wait out ack_wait (a minute here)
// before a live requester got it. The fault run's live consumer suspected
// this for its redeliveries; the cause was elsewhere (its client failing
// over to a node with another durable of the same name), and this pins
// the behaviour down.
func TestPullRequesterGoneTakesNothing(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "G", Subjects: []string{"g"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "G", jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxWaiting: 4})
	if err != nil {
		t.Fatal(err)
	}

	goneRequest(t, nc, `{"batch":5,"expires":60000000000}`)
	other := connect(t, a)
	inbox := other.NewInbox()
	if _, err := other.SubscribeSync(inbox); err != nil {
		t.Fatal(err)
	}
	if err := other.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.G.D", inbox, []byte(`{"batch":5,"expires":60000000000}`)); err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	other.Close()
	waitConnections(t, a, 1)

	for _, m := range []string{"m1", "m2"} {
		if _, err := js.Publish(ctx, "g", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if md.NumDelivered != 1 {
			t.Errorf("%s delivered %d times: it went to a requester that was gone", m.Data(), md.NumDelivered)
		}
		got = append(got, string(m.Data()))
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "m1" || got[1] != "m2" {
		t.Fatalf("fetched %q, want m1 m2 at once (not after ack_wait)", got)
	}
}

// Requests whose requester went away do not hold max_waiting slots: a
// live request is accepted (nats-server drops the gone ones before it
// answers 409 Exceeded MaxWaiting), and gets the next message.
func TestPullGoneRequestsFreeMaxWaiting(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "G", Subjects: []string{"g"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "G", jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, MaxWaiting: 2})
	if err != nil {
		t.Fatal(err)
	}
	goneRequest(t, nc, `{"batch":1,"expires":60000000000}`)
	goneRequest(t, nc, `{"batch":1,"expires":60000000000}`)

	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "g", []byte("m1")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
	}
	if err := batch.Error(); err != nil {
		t.Fatalf("live fetch with max_waiting full of gone requests: %v", err)
	}
	if len(got) != 1 || got[0] != "m1" {
		t.Fatalf("fetched %q, want m1", got)
	}
}

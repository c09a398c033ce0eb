package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterConsumerReset: CONSUMER.RESET of an R3 stream's durable,
// asked through a node that may not lead it, is forwarded to the leader,
// which resets the consumer and keeps the new position in the shared
// consumer state: the next fetch, through another node, starts there.
func TestJSClusterConsumerReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, js := clusterJS(t, 3)
	if _, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "RS", Subjects: []string{"rs.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := js[0].Publish(ctx, "rs.x", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	c, err := js[1].CreateConsumer(ctx, "RS", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	fetchOne := func(c jetstream.Consumer) (uint64, uint64) {
		t.Helper()
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			return md.Sequence.Stream, md.Sequence.Consumer
		}
		t.Fatalf("nothing fetched: %v", batch.Error())
		return 0, 0
	}
	if s, _ := fetchOne(c); s != 1 {
		t.Fatalf("first fetch: %d", s)
	}
	for _, j := range js {
		resp, err := j.ResetConsumerToSequence(ctx, "RS", "D", 6)
		if err != nil || resp.ResetSeq != 6 || resp.NumPending != 5 {
			t.Fatalf("reset: %+v %v", resp, err)
		}
	}
	c2, err := js[2].Consumer(ctx, "RS", "D")
	if err != nil {
		t.Fatal(err)
	}
	if s, cs := fetchOne(c2); s != 6 || cs != 1 {
		t.Fatalf("after reset: stream %d consumer %d", s, cs)
	}
}

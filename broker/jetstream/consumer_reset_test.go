package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetchSeqs fetches n messages from c and returns their stream and
// consumer sequences, acking each.
func fetchSeqs(t *testing.T, c jetstream.Consumer, n int) (sseq, cseq []uint64) {
	t.Helper()
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	must(t, err)
	for m := range batch.Messages() {
		md, err := m.Metadata()
		must(t, err)
		sseq = append(sseq, md.Sequence.Stream)
		cseq = append(cseq, md.Sequence.Consumer)
		must(t, m.Ack())
	}
	if len(sseq) != n {
		t.Fatalf("fetched %v, want %d", sseq, n)
	}
	return sseq, cseq
}

// TestConsumerReset: $JS.API.CONSUMER.RESET as nats-server 2.14 answers it,
// through nats.go: an empty reset goes back to the ack floor (unacked
// messages come again, consumer sequences restart at 1), a sequence moves
// a deliver-all consumer anywhere, the deliver policy bounds it (10204),
// and the reset position is durable across a restart.
func TestConsumerReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	nc := connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"}})
	must(t, err)
	for range 10 {
		_, err := js.Publish(ctx, "r.x", []byte("m"))
		must(t, err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	must(t, err)
	batch, err := c.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
	must(t, err)
	i := 0
	for m := range batch.Messages() {
		if i < 2 {
			must(t, m.Ack())
		}
		i++
	}
	eventually(t, 5*time.Second, "ack floor 2", func() bool {
		ci, err := c.Info(ctx)
		return err == nil && ci.AckFloor.Stream == 2
	})

	resp, err := js.ResetConsumer(ctx, "R", "D")
	must(t, err)
	if resp.ResetSeq != 3 || resp.Delivered.Stream != 2 || resp.AckFloor.Stream != 2 || resp.AckFloor.Consumer != 0 ||
		resp.NumAckPending != 0 || resp.NumPending != 8 || resp.Config.Metadata["_nats.level"] == "" {
		t.Fatalf("reset: %+v", resp)
	}
	sseq, cseq := fetchSeqs(t, c, 3)
	if sseq[0] != 3 || sseq[2] != 5 || cseq[0] != 1 || cseq[2] != 3 {
		t.Fatalf("after reset: stream %v consumer %v", sseq, cseq)
	}

	resp, err = js.ResetConsumerToSequence(ctx, "R", "D", 9)
	must(t, err)
	if resp.ResetSeq != 9 || resp.NumPending != 2 {
		t.Fatalf("reset to 9: %+v", resp)
	}
	if sseq, _ := fetchSeqs(t, c, 1); sseq[0] != 9 {
		t.Fatalf("after reset to 9: %v", sseq)
	}
	resp, err = js.ResetConsumerToSequence(ctx, "R", "D", 7)
	must(t, err)
	if resp.ResetSeq != 7 {
		t.Fatalf("reset to 7: %+v", resp)
	}

	_, err = s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "S", DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 5})
	must(t, err)
	_, err = s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "N", DeliverPolicy: jetstream.DeliverNewPolicy})
	must(t, err)
	for _, tc := range []struct {
		name string
		seq  uint64
		want string
	}{{"S", 4, "invalid reset: below start seq"}, {"N", 4, "invalid reset: not allowed"}} {
		_, err := js.ResetConsumerToSequence(ctx, "R", tc.name, tc.seq)
		if !errors.Is(err, jetstream.ErrConsumerInvalidReset) {
			t.Fatalf("%s: %v, want 10204", tc.name, err)
		}
		// nats.go replaces the description: read the server's.
		msg, err := nc.Request("$JS.API.CONSUMER.RESET.R."+tc.name, []byte(`{"seq":4}`), 5*time.Second)
		must(t, err)
		var r struct {
			Type  string              `json:"type"`
			Error *jetstream.APIError `json:"error"`
		}
		must(t, json.Unmarshal(msg.Data, &r))
		if r.Type != "io.nats.jetstream.api.v1.consumer_reset_response" || r.Error == nil ||
			r.Error.ErrorCode != 10204 || r.Error.Description != tc.want {
			t.Fatalf("%s: %s, want %q", tc.name, msg.Data, tc.want)
		}
	}
	if resp, err := js.ResetConsumerToSequence(ctx, "R", "S", 6); err != nil || resp.ResetSeq != 6 {
		t.Fatalf("S to 6: %+v %v", resp, err)
	}
	if resp, err := js.ResetConsumer(ctx, "R", "N"); err != nil || resp.ResetSeq != 11 {
		t.Fatalf("N to its ack floor: %+v %v", resp, err)
	}
	_, err = js.ResetConsumer(ctx, "R", "NOPE")
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("missing consumer: %v", err)
	}

	stop(a)
	a = startServer(t, dir, nil)
	js, err = jetstream.New(connect(t, a.ClientURL()))
	must(t, err)
	c, err = js.Consumer(ctx, "R", "D")
	must(t, err)
	if sseq, cseq := fetchSeqs(t, c, 1); sseq[0] != 7 || cseq[0] != 1 {
		t.Fatalf("after restart: stream %v consumer %v", sseq, cseq)
	}
}

// TestConsumerResetInterest: under interest retention a reset past
// unacknowledged messages lets the stream drop them, as an ack would.
func TestConsumerResetInterest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startServer(t, "", nil)
	js, err := jetstream.New(connect(t, a.ClientURL()))
	must(t, err)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "I", Subjects: []string{"i.>"}, Retention: jetstream.InterestPolicy})
	must(t, err)
	_, err = s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	must(t, err)
	for range 10 {
		_, err := js.Publish(ctx, "i.x", []byte("m"))
		must(t, err)
	}
	if _, err := js.ResetConsumerToSequence(ctx, "I", "D", 6); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "messages 1-5 removed", func() bool {
		si, err := s.Info(ctx)
		return err == nil && si.State.Msgs == 5 && si.State.FirstSeq == 6
	})
}

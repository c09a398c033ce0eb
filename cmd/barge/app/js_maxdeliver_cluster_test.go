package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterMaxDeliverLeaderChange: a durable of an R3 stream with
// max_deliver 3 delivers a message twice, the stream's leader steps down,
// and the new leader, resuming from the replicated state, delivers it once
// more (the ack reply counting 3), then gives it up with one
// max-deliveries advisory, which reaches a subscriber on another member.
func TestJSClusterMaxDeliverLeaderChange(t *testing.T) {
	apps, li := replicatedStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc := connect(t, apps[(li+1)%3], nats.MaxReconnects(-1))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.CC.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "cc.x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "CC", jetstream.ConsumerConfig{Durable: "MD",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, MaxDeliver: 3})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(wait time.Duration) (jetstream.Msg, uint64) {
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
		if err != nil {
			return nil, 0
		}
		for m := range b.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			return m, md.NumDelivered
		}
		return nil, 0
	}
	for n := uint64(1); n <= 2; n++ {
		m, dc := fetch(5 * time.Second)
		if m == nil || dc != n {
			t.Fatalf("delivery %d: %v, count %d", n, m, dc)
		}
		// A nak with a reply is answered once the state with this delivery
		// is in the meta shard, where the next leader reads it.
		if _, err := nc.Request(m.Reply(), []byte("-NAK"), 5*time.Second); err != nil {
			t.Fatalf("nak %d: %v", n, err)
		}
	}

	stepDownStream(t, nc, "CC", fmt.Sprintf("n%d", li+1))

	var third jetstream.Msg
	eventually(t, 30*time.Second, "the third delivery on the new leader", func() bool {
		m, dc := fetch(2 * time.Second)
		if m != nil && dc != 3 {
			t.Fatalf("after the leader change: delivery count %d, want 3", dc)
		}
		third = m
		return m != nil
	})
	if err := third.Nak(); err != nil {
		t.Fatal(err)
	}
	am, err := adv.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no max-deliveries advisory: %v", err)
	}
	var a struct {
		Type       string `json:"type"`
		Stream     string `json:"stream"`
		Consumer   string `json:"consumer"`
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if err := json.Unmarshal(am.Data, &a); err != nil || am.Subject != "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.CC.MD" ||
		a.Type != "io.nats.jetstream.advisory.v1.max_deliver" || a.Stream != "CC" || a.Consumer != "MD" || a.StreamSeq != 1 || a.Deliveries != 3 {
		t.Fatalf("advisory on %s: %s (%v)", am.Subject, am.Data, err)
	}
	b, err := cons.FetchNoWait(1)
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		md, _ := m.Metadata()
		t.Fatalf("delivered past max_deliver: delivery %d", md.NumDelivered)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumAckPending != 0 || info.AckFloor.Stream != 1 || info.NumRedelivered != 1 {
		t.Fatalf("info after max_deliver: %+v, %v", info, err)
	}
	if n, _, _ := adv.Pending(); n != 0 {
		t.Fatalf("%d more advisories", n)
	}
}

// stepDownStream asks stream's leader (old) to hand over and waits until
// another member leads it. A leadership transfer is a request raft may
// drop (the target not caught up in time): it asks again until it happened.
func stepDownStream(t *testing.T, nc *nats.Conn, stream, old string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	moved := func() bool {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			return false
		}
		ci := s.CachedInfo().Cluster
		return ci != nil && ci.Leader != "" && ci.Leader != old
	}
	deadline := time.Now().Add(30 * time.Second)
	for !moved() {
		if time.Now().After(deadline) {
			t.Fatal("the stream leader did not step down")
		}
		msg, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 10*time.Second)
		if err != nil || !strings.Contains(string(msg.Data), `"success":true`) {
			t.Fatalf("stepdown: %v %v", err, msg)
		}
		wait := time.Now().Add(3 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		for !moved() && time.Now().Before(wait) {
			<-tick.C
		}
		tick.Stop()
	}
}

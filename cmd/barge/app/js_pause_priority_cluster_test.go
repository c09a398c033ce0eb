package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterConsumerPauseAndPin: a pinned_client durable of an R3
// stream, used through a member that does not lead it, is pinned to a
// client and then paused (PauseConsumer); after the stream's leader steps
// down, the new leader reports the same pause and pin, still delivers
// nothing, and once resumed delivers to the same pinned client.
func TestJSClusterConsumerPauseAndPin(t *testing.T) {
	apps, li := replicatedStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nc := connect(t, apps[(li+1)%3], nats.MaxReconnects(-1))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := js.Publish(ctx, "cc.x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "CC", jetstream.ConsumerConfig{Durable: "PP", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"g"}})
	if err != nil {
		t.Fatal(err)
	}
	fetchOne := func(what string) jetstream.Msg {
		t.Helper()
		b, err := cons.Fetch(1, jetstream.FetchPriorityGroup("g"), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for m := range b.Messages() {
			// A double ack returns once the ack, and with it the pin
			// taken before it, is in the replicated state.
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("%s: ack: %v", what, err)
			}
			return m
		}
		t.Fatalf("%s: no message: %v", what, b.Error())
		return nil
	}
	m := fetchOne("first fetch")
	pin := m.Headers().Get("Nats-Pin-Id")
	if string(m.Data()) != "1" || pin == "" {
		t.Fatalf("first fetch: %q pin %q", m.Data(), pin)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	pr, err := js.PauseConsumer(ctx, "CC", "PP", until)
	if err != nil || !pr.Paused || !pr.PauseUntil.Equal(until) {
		t.Fatalf("pause: %+v, %v", pr, err)
	}
	// A no_wait pull of the pinned client ends with 404 while paused.
	noWait := func(what string) {
		t.Helper()
		body := fmt.Sprintf(`{"batch":1,"no_wait":true,"group":"g","id":%q}`, pin)
		r, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT.CC.PP", []byte(body), 10*time.Second)
		if err != nil || r.Header.Get("Status") != "404" {
			t.Fatalf("%s: %v %v %q", what, err, r.Header, r.Data)
		}
	}
	noWait("no_wait while paused")

	stepDownStream(t, nc, "CC", fmt.Sprintf("n%d", li+1))
	var info *jetstream.ConsumerInfo
	eventually(t, 30*time.Second, "the consumer's info on the new leader", func() bool {
		info, err = cons.Info(ctx)
		return err == nil
	})
	if !info.Paused || info.PauseRemaining <= 59*time.Minute || info.Config.PauseUntil == nil || !info.Config.PauseUntil.Equal(until) {
		t.Fatalf("pause on the new leader: paused %v remaining %v until %v", info.Paused, info.PauseRemaining, info.Config.PauseUntil)
	}
	if len(info.PriorityGroups) != 1 || info.PriorityGroups[0].PinnedClientID != pin {
		t.Fatalf("pin on the new leader: %+v (want %q)", info.PriorityGroups, pin)
	}
	noWait("no_wait while paused, on the new leader")

	pr, err = js.ResumeConsumer(ctx, "CC", "PP")
	if err != nil || pr.Paused {
		t.Fatalf("resume: %+v, %v", pr, err)
	}
	m = fetchOne("fetch after the resume")
	if string(m.Data()) != "2" || m.Headers().Get("Nats-Pin-Id") != pin {
		t.Fatalf("after the resume: %q pin %q (want %q)", m.Data(), m.Headers().Get("Nats-Pin-Id"), pin)
	}
	if info, err := cons.Info(ctx); err != nil || info.Paused || info.Config.PauseUntil != nil {
		t.Fatalf("info after the resume: %+v, %v", info, err)
	}
}

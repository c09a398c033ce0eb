package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterDurableSource: a replicated stream sources a replicated
// origin through a filtered flow_control consumer of it (durable
// sourcing), across leader changes of both streams, the source's leader
// moved off the origin's leader so its progress reaches the consumer by
// forwarding: every message of the consumer's filter is copied once, and
// the consumer's delivered and ack floor follow the copies.
func TestJSClusterDurableSource(t *testing.T) {
	apps, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "consumer created", func() bool {
		_, err := js[1].CreateOrUpdatePushConsumer(ctx, "O", jetstream.ConsumerConfig{Durable: "C", DeliverSubject: "dsrc.C",
			AckPolicy: jetstream.AckFlowControlPolicy, FlowControl: true, IdleHeartbeat: time.Second, MaxAckPending: 1000,
			FilterSubject: "o.a"})
		return err == nil
	})
	if _, err := createStream(ctx, t, js[2], jetstream.StreamConfig{Name: "S", Subjects: []string{"s.own"}, Replicas: 3,
		Sources: []*jetstream.StreamSource{{Name: "O", Consumer: &jetstream.StreamConsumerSource{Name: "C", DeliverSubject: "dsrc.C"}}}}); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, apps[0])
	n := 0
	publish := func(k int) {
		for range k {
			n++
			m := nats.NewMsg("o." + string("ab"[n%2]))
			m.Header.Set("X-N", fmt.Sprint(n))
			if _, err := js[0].PublishMsg(ctx, m); err != nil {
				t.Fatalf("publish %d: %v", n, err)
			}
		}
	}
	leader := func(name string) string {
		var l string
		eventually(t, 30*time.Second, name+" has a leader", func() bool {
			s, err := js[0].Stream(ctx, name)
			if err != nil || s.CachedInfo().Cluster == nil {
				return false
			}
			l = s.CachedInfo().Cluster.Leader
			return l != ""
		})
		return l
	}
	publish(100)
	stepDownStream(t, nc, "O", leader("O"))
	publish(100)
	stepDownStream(t, nc, "S", leader("S"))
	for leader("S") == leader("O") {
		stepDownStream(t, nc, "S", leader("S"))
	}
	publish(100)
	want := n / 2
	eventually(t, 60*time.Second, "S caught up", func() bool {
		s, err := js[0].Stream(ctx, "S")
		return err == nil && s.CachedInfo().State.Msgs >= uint64(want)
	})
	s, err := js[0].Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("S seq %d: %v", seq, err)
		}
		k := msg.Header.Get("X-N")
		if seen[k] || msg.Subject != "o.a" {
			t.Fatalf("S seq %d: message %s on %s (twice: %v)", seq, k, msg.Subject, seen[k])
		}
		seen[k] = true
		if src := msg.Header.Get("Nats-Stream-Source"); !strings.HasPrefix(src, "O:C=") {
			t.Fatalf("S seq %d: Nats-Stream-Source %q", seq, src)
		}
	}
	if len(seen) != want {
		t.Fatalf("S holds %d of %d messages", len(seen), want)
	}
	var last *jetstream.ConsumerInfo
	eventually(t, 30*time.Second, "the consumer follows the source", func() bool {
		c, err := js[1].PushConsumer(ctx, "O", "C")
		if err != nil {
			return false
		}
		last = c.CachedInfo()
		return last.Delivered.Consumer == uint64(want) && last.AckFloor.Consumer == uint64(want) &&
			last.AckFloor.Stream == uint64(n) && last.NumPending == 0
	})
}

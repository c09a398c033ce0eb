package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterNumPendingSkipsDeleted: on an R3 stream with interior
// deletes, a consumer's num_pending counts the messages left (as
// nats-server does), not the sequences between its start and the end.
func TestJSClusterNumPendingSkipsDeleted(t *testing.T) {
	_, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "NPR3", Subjects: []string{"np.>"}, Replicas: 3})
	mustOK(t, err)
	for i := 1; i <= 50; i++ {
		_, err := js[0].Publish(ctx, fmt.Sprintf("np.%d", i%2), []byte("x"))
		mustOK(t, err)
	}
	mustOK(t, s.DeleteMsg(ctx, 10))
	mustOK(t, s.DeleteMsg(ctx, 11))
	for i, c := range []struct {
		filter string
		start  uint64
		want   uint64
	}{{"", 0, 48}, {"", 4, 45}, {"", 11, 39}, {"", 30, 21}, {"np.1", 4, 22}} {
		cfg := jetstream.ConsumerConfig{Durable: fmt.Sprintf("c%d", i), AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: c.filter}
		if c.start > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, c.start
		}
		var cons jetstream.Consumer
		eventually(t, 15*time.Second, "consumer created", func() bool {
			cons, err = s.CreateOrUpdateConsumer(ctx, cfg)
			return err == nil
		})
		if got := cons.CachedInfo().NumPending; got != c.want {
			t.Errorf("filter %q start %d: num_pending %d, want %d", c.filter, c.start, got, c.want)
		}
	}
}

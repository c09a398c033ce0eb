package jetstream_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestConsumerAckFlowControl: a push consumer with ack policy
// flow_control (nats-server 2.14) is acknowledged only by its
// flow-control replies' Nats-Last-Stream header: it stops at
// max_ack_pending with a flow-control request, ignores ordinary acks,
// never redelivers, asks again with an idle heartbeat, and takes
// nats-server's defaults, refusals and API level 4.
func TestConsumerAckFlowControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "FC", Subjects: []string{"fc.>"}})
	must(t, err)
	for i := 1; i <= 10; i++ {
		_, err := js.Publish(ctx, "fc.x", []byte(strconv.Itoa(i)))
		must(t, err)
	}

	for _, tc := range []struct {
		cfg  jetstream.ConsumerConfig
		code int
	}{
		{jetstream.ConsumerConfig{Durable: "P"}, 10218},
		{jetstream.ConsumerConfig{Durable: "M", DeliverSubject: "in.m", MaxAckPending: -1}, 10220},
		{jetstream.ConsumerConfig{Durable: "W", DeliverSubject: "in.w", AckWait: 5 * time.Second}, 10221},
		{jetstream.ConsumerConfig{Durable: "D", DeliverSubject: "in.d", MaxDeliver: 3}, 10222},
	} {
		tc.cfg.AckPolicy = jetstream.AckFlowControlPolicy
		_, err := js.CreateConsumer(ctx, "FC", tc.cfg)
		if !strings.Contains(err.Error(), "err_code="+strconv.Itoa(tc.code)) {
			t.Fatalf("%s: %v, want %d", tc.cfg.Durable, err, tc.code)
		}
	}

	sub, err := nc.SubscribeSync("in.fc")
	must(t, err)
	c, err := js.CreateConsumer(ctx, "FC", jetstream.ConsumerConfig{Durable: "C", DeliverSubject: "in.fc",
		AckPolicy: jetstream.AckFlowControlPolicy, MaxAckPending: 4})
	must(t, err)
	cfg := c.CachedInfo().Config
	if !cfg.FlowControl || cfg.IdleHeartbeat != time.Second || cfg.AckWait != 0 || cfg.Metadata["_nats.req.level"] != "4" {
		t.Fatalf("config: %+v", cfg)
	}

	// next returns the next data message's stream sequence, or 0 and the
	// reply subject of a flow-control request; heartbeats are skipped
	// unless wantHB.
	next := func(wantHB bool) (uint64, string) {
		t.Helper()
		for {
			m, err := sub.NextMsg(5 * time.Second)
			must(t, err)
			if strings.HasPrefix(m.Reply, "$JS.FC.") {
				return 0, m.Reply
			}
			if m.Header.Get("Status") == "100" {
				if wantHB {
					return 0, ""
				}
				continue
			}
			md, err := m.Metadata()
			must(t, err)
			if wantHB {
				t.Fatalf("message %d while waiting for a heartbeat", md.Sequence.Stream)
			}
			if md.Sequence.Stream == 1 {
				must(t, m.Ack()) // ignored
			}
			return md.Sequence.Stream, ""
		}
	}
	expect := func(from, to uint64) string {
		t.Helper()
		for s := from; s <= to; s++ {
			if got, _ := next(false); got != s {
				t.Fatalf("got %d, want %d", got, s)
			}
		}
		seq, fc := next(false)
		if seq != 0 || fc == "" {
			t.Fatalf("got message %d, want a flow-control request after %d", seq, to)
		}
		return fc
	}
	reply := func(fc string, last uint64) {
		t.Helper()
		m := nats.NewMsg(fc)
		if last > 0 {
			m.Header.Set("Nats-Last-Stream", strconv.FormatUint(last, 10))
			m.Header.Set("Nats-Last-Consumer", strconv.FormatUint(last, 10))
		}
		must(t, nc.PublishMsg(m))
	}
	ackFloor := func(want uint64, pending int) {
		t.Helper()
		eventually(t, 5*time.Second, "ack floor", func() bool {
			ci, err := c.Info(ctx)
			return err == nil && ci.AckFloor.Stream == want && ci.NumAckPending == pending
		})
	}

	fc := expect(1, 4)
	ackFloor(0, 4) // the ack of 1 was ignored
	reply(fc, 2)
	fc = expect(5, 6)
	ackFloor(2, 4)
	reply(fc, 6)
	fc = expect(7, 10)
	ackFloor(6, 4)
	// A reply without a position settles nothing; the next idle
	// heartbeat comes with a new request, as nothing is acknowledged.
	reply(fc, 0)
	next(true)
	if seq, fc2 := next(false); seq != 0 || fc2 == "" || fc2 == fc {
		t.Fatalf("after the heartbeat: %d %q", seq, fc2)
	} else {
		fc = fc2
	}
	ackFloor(6, 4)
	reply(fc, 10)
	ackFloor(10, 0)
}

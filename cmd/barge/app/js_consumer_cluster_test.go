package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// replicatedStream starts a 3-node cluster, creates an R3 stream "CC" on
// subjects cc.> and returns the apps and the index of the stream's leader.
func replicatedStream(t *testing.T) ([]*app.App, int) {
	t.Helper()
	apps := startMetaCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(connect(t, apps[0]))
	if err != nil {
		t.Fatal(err)
	}
	s, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "CC", Subjects: []string{"cc.>"}, Replicas: 3})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	leader := ""
	eventually(t, 15*time.Second, "a stream leader", func() bool {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != ""
	})
	return apps, int(leader[1] - '1') // members are named n1..n3
}

// TestJSClusterConsumerAnyNode: a durable pull consumer of an R3 stream
// created through one member is fetched and acked by a client of another;
// every member answers its info with the same state; a push consumer
// delivers to a subscriber on a member that does not lead the stream; a
// consumer deleted through the third member is gone everywhere.
func TestJSClusterConsumerAnyNode(t *testing.T) {
	apps, li := replicatedStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := (li+1)%3, (li+2)%3, li // a and b do not lead the stream
	jss := make([]jetstream.JetStream, 3)
	for i, ap := range apps {
		js, err := jetstream.New(connect(t, ap))
		if err != nil {
			t.Fatal(err)
		}
		jss[i] = js
	}
	for i := 0; i < 10; i++ {
		if _, err := jss[b].Publish(ctx, fmt.Sprintf("cc.%d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if _, err := jss[a].CreateOrUpdateConsumer(ctx, "CC", jetstream.ConsumerConfig{Durable: "PULL", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("create on %d: %v", a, err)
	}
	cons, err := jss[b].Consumer(ctx, "CC", "PULL")
	if err != nil {
		t.Fatalf("consumer on %d: %v", b, err)
	}
	got := 0
	for got < 10 {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if string(m.Data()) != fmt.Sprint(got) {
				t.Fatalf("message %d: %q", got, m.Data())
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack %d: %v", got, err)
			}
			got++
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	for i, js := range jss {
		cc, err := js.Consumer(ctx, "CC", "PULL")
		if err != nil {
			t.Fatalf("info on %d: %v", i, err)
		}
		in := cc.CachedInfo()
		if in.AckFloor.Stream != 10 || in.Delivered.Stream != 10 || in.NumAckPending != 0 {
			t.Fatalf("info on %d: delivered %+v ack floor %+v pending %d", i, in.Delivered, in.AckFloor, in.NumAckPending)
		}
	}
	sb, err := jss[b].Stream(ctx, "CC")
	if err != nil {
		t.Fatal(err)
	}
	names := sb.ConsumerNames(ctx)
	n := 0
	for range names.Name() {
		n++
	}
	if names.Err() != nil || n != 1 {
		t.Fatalf("names on %d: %d, %v", b, n, names.Err())
	}

	// Push: the subscriber and the consumer's creator are on a member
	// that does not lead the stream.
	nc := connect(t, apps[a])
	ljs, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	recv := make(chan *nats.Msg, 20)
	sub, err := ljs.Subscribe("cc.>", func(m *nats.Msg) { recv <- m }, nats.Durable("PUSH"), nats.ManualAck(),
		nats.AckExplicit(), nats.DeliverAll())
	if err != nil {
		t.Fatalf("push subscribe: %v", err)
	}
	for i := 0; i < 10; i++ {
		select {
		case m := <-recv:
			if string(m.Data) != fmt.Sprint(i) || m.Subject != fmt.Sprintf("cc.%d", i) {
				t.Fatalf("push %d: %s %q", i, m.Subject, m.Data)
			}
			if err := m.AckSync(); err != nil {
				t.Fatalf("push ack %d: %v", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("push: %d of 10", i)
		}
	}
	_ = sub.Unsubscribe()

	// Flow control: 8 MiB pushed with a 2 MiB first window go through only
	// if the subscriber's flow-control replies reach the leader.
	big := make([]byte, 1<<20)
	for i := 0; i < 8; i++ {
		if _, err := jss[b].Publish(ctx, "cc.big", big); err != nil {
			t.Fatalf("publish big %d: %v", i, err)
		}
	}
	bigs := make(chan int, 8)
	fsub, err := ljs.Subscribe("cc.big", func(m *nats.Msg) { bigs <- len(m.Data) }, nats.Durable("FC"),
		nats.AckNone(), nats.DeliverAll(), nats.EnableFlowControl(), nats.IdleHeartbeat(time.Second))
	if err != nil {
		t.Fatalf("flow-controlled subscribe: %v", err)
	}
	for i := 0; i < 8; i++ {
		select {
		case n := <-bigs:
			if n != 1<<20 {
				t.Fatalf("flow-controlled message %d: %d bytes", i, n)
			}
		case <-ctx.Done():
			t.Fatalf("flow control: %d of 8 messages", i)
		}
	}
	_ = fsub.Unsubscribe()

	// Delete through the leader's client, then the others do not find it.
	if err := jss[c].DeleteConsumer(ctx, "CC", "PULL"); err != nil {
		t.Fatalf("delete on %d: %v", c, err)
	}
	for i, js := range jss {
		if _, err := js.Consumer(ctx, "CC", "PULL"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("info on %d after delete: %v", i, err)
		}
	}
}

// TestJSClusterConsumerFailover: after the stream's leader shuts down, the
// durable continues on the new leader from its replicated state: messages
// acknowledged with a double ack are not delivered again, the unacked ones
// are redelivered, and the rest follow.
func TestJSClusterConsumerFailover(t *testing.T) {
	consumerFailover(t, func(apps []*app.App, li int, _ *nats.Conn) { stopApp(t, apps[li]) })
}

// TestJSClusterConsumerStepDown: the same after a leadership transfer,
// where the old leader stops its consumer without a last state write: what
// the new leader knows is what the 20 ms checkpoints and the double acks
// wrote.
func TestJSClusterConsumerStepDown(t *testing.T) {
	consumerFailover(t, func(apps []*app.App, li int, nc *nats.Conn) {
		stepDownStream(t, nc, "CC", fmt.Sprintf("n%d", li+1))
	})
}

// consumerFailover runs a durable through a change of the stream's leader
// made by move.
func consumerFailover(t *testing.T, move func(apps []*app.App, li int, nc *nats.Conn)) {
	apps, li := replicatedStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ci := (li + 1) % 3
	nc := connect(t, apps[ci], nats.MaxReconnects(-1))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const total = 20
	for i := 1; i <= total; i++ {
		if _, err := js.Publish(ctx, "cc.x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// Created through the leader's own client, fetched through another
	// member's.
	ljs, err := jetstream.New(connect(t, apps[li]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ljs.CreateOrUpdateConsumer(ctx, "CC", jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, "CC", "D")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	acked := make(map[uint64]bool)
	n := 0
	for m := range batch.Messages() {
		md, _ := m.Metadata()
		if n < 6 {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack %d: %v", md.Sequence.Stream, err)
			}
			acked[md.Sequence.Stream] = true
		}
		n++
	}
	if n != 10 || len(acked) != 6 {
		t.Fatalf("fetched %d, acked %d", n, len(acked))
	}

	moved := time.Now()
	move(apps, li, nc)
	var resumed time.Duration

	seen := make(map[uint64]uint64) // stream seq → deliveries seen after the failover
	eventually(t, 60*time.Second, "every unacked message on the new leader", func() bool {
		batch, err := cons.Fetch(total, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			seq := md.Sequence.Stream
			if acked[seq] {
				t.Fatalf("message %d was acked before the failover and came again (delivery %d)", seq, md.NumDelivered)
			}
			seen[seq] = md.NumDelivered
			if resumed == 0 {
				resumed = time.Since(moved)
			}
			_ = m.DoubleAck(ctx)
		}
		return len(seen) == total-len(acked)
	})
	t.Logf("first delivery %v after the leader change began", resumed)
	for seq := uint64(7); seq <= 10; seq++ {
		if seen[seq] < 2 {
			t.Fatalf("message %d: delivery %d after the failover, want a redelivery", seq, seen[seq])
		}
	}
}

// TestJSClusterConsumerNonMember: an R2 stream on a 3-node cluster; the
// node without a replica forwards consumer requests (through a member to
// the leader) and acks, so its client creates, fetches, acks and inspects
// a durable, and stream info works there too.
func TestJSClusterConsumerNonMember(t *testing.T) {
	apps := startMetaCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js0, err := jetstream.New(connect(t, apps[0]))
	if err != nil {
		t.Fatal(err)
	}
	s, err := createStream(ctx, t, js0, jetstream.StreamConfig{Name: "R2", Subjects: []string{"r2.>"}, Replicas: 2})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	var info *jetstream.StreamInfo
	eventually(t, 15*time.Second, "a stream leader and a replica", func() bool {
		info, err = s.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 1
	})
	in := map[string]bool{info.Cluster.Leader: true, info.Cluster.Replicas[0].Name: true}
	out, member := -1, -1
	for i := range apps {
		if name := fmt.Sprintf("n%d", i+1); !in[name] {
			out = i
		} else if member < 0 {
			member = i
		}
	}
	if out < 0 {
		t.Fatalf("every node has a replica: %+v", info.Cluster)
	}
	jsm, err := jetstream.New(connect(t, apps[member]))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := jsm.Publish(ctx, "r2.x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	jso, err := jetstream.New(connect(t, apps[out]))
	if err != nil {
		t.Fatal(err)
	}
	// The non-member learns the stream's members from the meta shard's
	// poll; until then it answers "not found".
	var cons jetstream.Consumer
	eventually(t, 10*time.Second, "consumer created through the non-member", func() bool {
		cons, err = jso.CreateOrUpdateConsumer(ctx, "R2", jetstream.ConsumerConfig{Durable: "N", AckPolicy: jetstream.AckExplicitPolicy})
		return err == nil
	})
	for got := 0; got < 5; {
		batch, err := cons.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if string(m.Data()) != fmt.Sprint(got) {
				t.Fatalf("message %d: %q", got, m.Data())
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack %d: %v", got, err)
			}
			got++
		}
	}
	ci, err := cons.Info(ctx)
	if err != nil || ci.AckFloor.Stream != 5 || ci.NumAckPending != 0 {
		t.Fatalf("info through the non-member: %+v, %v", ci, err)
	}
	so, err := jso.Stream(ctx, "R2")
	if err != nil || so.CachedInfo().State.Msgs != 5 {
		t.Fatalf("stream info through the non-member: %v", err)
	}
}

// TestJSClusterConsumerFetchRate (BARGE_CC_BENCH=1) fetches the same 1 MiB
// messages of an R3 stream through a client of the leader and through a
// client of another member (deliveries cross a route) and logs the rates.
func TestJSClusterConsumerFetchRate(t *testing.T) {
	if os.Getenv("BARGE_CC_BENCH") == "" {
		t.Skip("set BARGE_CC_BENCH=1")
	}
	apps, li := replicatedStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n, size = 256, 1 << 20
	js, err := jetstream.New(connect(t, apps[li]))
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := js.PublishAsync("cc.bench", body); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publish did not complete")
	}
	for _, node := range []int{li, (li + 1) % 3} {
		cjs, err := jetstream.New(connect(t, apps[node]))
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("B%d", node)
		cons, err := cjs.CreateOrUpdateConsumer(ctx, "CC", jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckNonePolicy})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for got := 0; got < n; {
			batch, err := cons.Fetch(64, jetstream.FetchMaxWait(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for m := range batch.Messages() {
				if len(m.Data()) != size {
					t.Fatalf("message of %d bytes", len(m.Data()))
				}
				got++
			}
		}
		el := time.Since(start)
		t.Logf("client on %s (leader %v): %d x 1 MiB in %v = %.0f MiB/s", fmt.Sprintf("n%d", node+1), node == li, n, el, float64(n)/el.Seconds())
	}
}

package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterJS starts an n-node raft cluster and returns a JetStream context
// per node, once every node has the meta shard.
func clusterJS(t *testing.T, n int) ([]*app.App, []jetstream.JetStream) {
	t.Helper()
	apps := startMetaCluster(t, n)
	js := make([]jetstream.JetStream, n)
	for i, a := range apps {
		var err error
		if js[i], err = jetstream.New(connect(t, a)); err != nil {
			t.Fatal(err)
		}
	}
	return apps, js
}

// streamNamesOn lists the stream names a node answers, sorted.
func streamNamesOn(ctx context.Context, js jetstream.JetStream) []string {
	var names []string
	l := js.StreamNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if l.Err() != nil {
		return nil
	}
	slices.Sort(names)
	return names
}

// fetchAll reads n messages through a durable consumer created on js.
func fetchAll(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string, n int) []jetstream.Msg {
	t.Helper()
	var cons jetstream.Consumer
	var err error
	eventually(t, 15*time.Second, "consumer created", func() bool {
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Logf("create consumer: %v", err)
		}
		return err == nil
	})
	var out []jetstream.Msg
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			if err := m.Ack(); err != nil {
				t.Fatalf("ack: %v", err)
			}
			out = append(out, m)
			got++
		}
		if got == 0 {
			t.Fatalf("fetch: nothing after %d of %d (%v)", len(out), n, batch.Error())
		}
	}
	return out
}

// TestJSPlacementR1AnyNode: in a cluster an R1 stream is placed through the
// meta shard (on the node that received the create, the least loaded), so
// every node lists it and serves it: publishes on another node are routed
// to its member and acked, a consumer created there reads them in order;
// STREAM.NAMES, STREAM.LIST and $JS.API.INFO count it (and an R2 stream) on
// every node.
func TestJSPlacementR1AnyNode(t *testing.T) {
	_, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "ONE", Subjects: []string{"one.>"}})
	if err != nil {
		t.Fatalf("create R1: %v", err)
	}
	eventually(t, 10*time.Second, "R1 led by n1 alone", func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader == "n1" && len(info.Cluster.Replicas) == 0
	})
	if _, err := createStream(ctx, t, js[1], jetstream.StreamConfig{Name: "TWO", Subjects: []string{"two.>"}, Replicas: 2}); err != nil {
		t.Fatalf("create R2: %v", err)
	}
	want := []string{"ONE", "TWO"}
	for i := range js {
		eventually(t, 10*time.Second, fmt.Sprintf("node %d lists both streams", i+1), func() bool {
			return slices.Equal(streamNamesOn(ctx, js[i]), want)
		})
		var listed []string
		l := js[i].ListStreams(ctx)
		for si := range l.Info() {
			listed = append(listed, si.Config.Name)
		}
		if slices.Sort(listed); l.Err() != nil || !slices.Equal(listed, want) {
			t.Fatalf("node %d list: %v, %v", i+1, listed, l.Err())
		}
		ai, err := js[i].AccountInfo(ctx)
		if err != nil || ai.Streams != 2 {
			t.Fatalf("node %d account info: %+v, %v", i+1, ai, err)
		}
	}
	// Publish on node 3, which holds no replica.
	for i := 0; i < 10; i++ {
		ack, err := js[2].Publish(ctx, "one.x", []byte(fmt.Sprint(i)))
		if err != nil || ack.Stream != "ONE" || ack.Sequence != uint64(i+1) {
			t.Fatalf("publish %d: %+v, %v", i, ack, err)
		}
	}
	msgs := fetchAll(ctx, t, js[2], "ONE", 10)
	for i, m := range msgs {
		if string(m.Data()) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, m.Data())
		}
	}
	info, err := js[2].Stream(ctx, "ONE")
	if err != nil || info.CachedInfo().State.Msgs != 10 {
		t.Fatalf("info from node 3: %v", err)
	}
	// Node 3 holds no replica of ONE: the list and account info take its
	// numbers from its leader.
	l := js[2].ListStreams(ctx)
	for si := range l.Info() {
		if si.Config.Name == "ONE" && (si.State.Msgs != 10 || si.State.Consumers != 1 || si.Cluster == nil || si.Cluster.Leader != "n1") {
			t.Fatalf("listed on node 3: %+v %+v", si.State, si.Cluster)
		}
	}
	if ai, err := js[2].AccountInfo(ctx); err != nil || ai.Streams != 2 || ai.Consumers != 1 || ai.Store < 10 {
		t.Fatalf("account info on node 3: %+v, %v", ai, err)
	}
	// Deleted through node 3: gone from every node.
	if err := js[2].DeleteStream(ctx, "ONE"); err != nil {
		t.Fatalf("delete through node 3: %v", err)
	}
	for i := range js {
		eventually(t, 10*time.Second, fmt.Sprintf("node %d lists TWO only", i+1), func() bool {
			return slices.Equal(streamNamesOn(ctx, js[i]), []string{"TWO"})
		})
	}
	// An R1 KV bucket made on node 1: written on node 3, read on node 2.
	if _, err := js[0].CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG"}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	var kv3, kv2 jetstream.KeyValue
	eventually(t, 10*time.Second, "bucket seen on nodes 2 and 3", func() bool {
		kv3, err = js[2].KeyValue(ctx, "CFG")
		if err != nil {
			return false
		}
		kv2, err = js[1].KeyValue(ctx, "CFG")
		return err == nil
	})
	eventually(t, 10*time.Second, "put on node 3", func() bool {
		_, err = kv3.Put(ctx, "k", []byte("v1"))
		return err == nil
	})
	if rev, err := kv3.Update(ctx, "k", []byte("v2"), 1); err != nil || rev != 2 {
		t.Fatalf("update on node 3: %d, %v", rev, err)
	}
	if e, err := kv2.Get(ctx, "k"); err != nil || string(e.Value()) != "v2" || e.Revision() != 2 {
		t.Fatalf("get on node 2: %v", err)
	}
}

// TestJSPlacementNonMemberPublish: an R2 stream of a 3-node cluster takes
// publishes on the node without a replica, small ones and a 20 MiB one,
// asynchronously: the PubAcks carry consecutive sequences in publish
// order, and each message is stored once.
func TestJSPlacementNonMemberPublish(t *testing.T) {
	apps, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "R2", Subjects: []string{"r2.>"}, Replicas: 2})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var info *jetstream.StreamInfo
	eventually(t, 15*time.Second, "a stream leader and a replica", func() bool {
		info, err = s.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 1
	})
	in := map[string]bool{info.Cluster.Leader: true, info.Cluster.Replicas[0].Name: true}
	out := -1
	for i := range apps {
		if !in[fmt.Sprintf("n%d", i+1)] {
			out = i
		}
	}
	eventually(t, 10*time.Second, "the non-member knows the stream", func() bool {
		return slices.Equal(streamNamesOn(ctx, js[out]), []string{"R2"})
	})
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	sum := sha256.Sum256(big)
	const n = 41 // message 20 is the big one
	payload := func(i int) []byte {
		if i == 20 {
			return big
		}
		return []byte(fmt.Sprint(i))
	}
	var futs []jetstream.PubAckFuture
	for i := 0; i < n; i++ {
		f, err := js[out].PublishAsync(fmt.Sprintf("r2.%d", i), payload(i))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		futs = append(futs, f)
	}
	for i, f := range futs {
		select {
		case ack := <-f.Ok():
			if ack.Sequence != uint64(i+1) || ack.Stream != "R2" {
				t.Fatalf("ack %d: %+v", i, ack)
			}
		case err := <-f.Err():
			t.Fatalf("ack %d: %v", i, err)
		case <-ctx.Done():
			t.Fatalf("ack %d: %v", i, ctx.Err())
		}
	}
	si, err := js[out].Stream(ctx, "R2")
	if err != nil || si.CachedInfo().State.Msgs != n || si.CachedInfo().State.LastSeq != n {
		t.Fatalf("stored once: %+v, %v", si.CachedInfo().State, err)
	}
	msgs := fetchAll(ctx, t, js[out], "R2", n)
	for i, m := range msgs {
		if m.Subject() != fmt.Sprintf("r2.%d", i) {
			t.Fatalf("message %d: subject %q", i, m.Subject())
		}
		if i == 20 {
			if sha256.Sum256(m.Data()) != sum {
				t.Fatalf("big message differs (%d bytes)", len(m.Data()))
			}
		} else if !bytes.Equal(m.Data(), payload(i)) {
			t.Fatalf("message %d: %q", i, m.Data())
		}
	}
}

// TestJSPlacementR5: an R5 stream on five nodes takes publishes on every
// node, goes on when one node (a follower) stops, and a consumer reads
// everything in order.
func TestJSPlacementR5(t *testing.T) {
	apps, js := clusterJS(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "R5", Subjects: []string{"r5"}, Replicas: 5}); err != nil {
		t.Fatalf("create: %v", err)
	}
	seq := 0
	publish := func(node int) {
		t.Helper()
		for k := 0; k < 5; k++ {
			var ack *jetstream.PubAck
			var err error
			eventually(t, 15*time.Second, fmt.Sprintf("publish %d on node %d", seq, node+1), func() bool {
				ack, err = js[node].Publish(ctx, "r5", []byte(fmt.Sprint(seq)), jetstream.WithMsgID(fmt.Sprint(seq)))
				return err == nil
			})
			if ack.Sequence != uint64(seq+1) {
				t.Fatalf("publish %d: %+v", seq, ack)
			}
			seq++
		}
	}
	for i := range apps {
		publish(i)
	}
	// Stop a follower of both the meta shard and the stream: losing a
	// leader stalls proposals for an election and more (seconds, see
	// README "Faults"; TestJSClusterConsumerFailover covers that).
	si, err := js[0].Stream(ctx, "R5")
	if err != nil || si.CachedInfo().Cluster == nil {
		t.Fatalf("stream info: %v", err)
	}
	metaLeader, _ := metaOf(t, apps[0]).Leader()
	down := -1
	for i := len(apps) - 1; i >= 0 && down < 0; i-- {
		if name := fmt.Sprintf("n%d", i+1); name != si.CachedInfo().Cluster.Leader && uint64(i+1) != metaLeader {
			down = i
		}
	}
	stopApp(t, apps[down])
	for i := range apps {
		if i != down {
			publish(i)
		}
	}
	msgs := fetchAll(ctx, t, js[(down+2)%len(js)], "R5", seq)
	for i, m := range msgs {
		if string(m.Data()) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, m.Data())
		}
	}
}

// TestJSPlacementForwardRate (BARGE_PLACEMENT_BENCH=1) publishes the same
// messages to an R2 stream of a 3-node cluster through a client of the
// stream's leader and through a client of the node without a replica
// (routed to a member) and logs the rates.
func TestJSPlacementForwardRate(t *testing.T) {
	if os.Getenv("BARGE_PLACEMENT_BENCH") == "" {
		t.Skip("BARGE_PLACEMENT_BENCH=1 to run")
	}
	apps, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "RATE", Subjects: []string{"rate"}, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	var info *jetstream.StreamInfo
	eventually(t, 15*time.Second, "a stream leader and a replica", func() bool {
		info, err = s.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 1
	})
	leader, out := -1, -1
	for i := range apps {
		switch name := fmt.Sprintf("n%d", i+1); {
		case name == info.Cluster.Leader:
			leader = i
		case name != info.Cluster.Replicas[0].Name:
			out = i
		}
	}
	eventually(t, 10*time.Second, "the non-member knows the stream", func() bool {
		return slices.Equal(streamNamesOn(ctx, js[out]), []string{"RATE"})
	})
	for _, size := range []int{1 << 10, 1 << 20, 8 << 20} {
		n := max(64, (256<<20)/size)
		if size == 1<<10 {
			n = 5000
		}
		body := make([]byte, size)
		for _, node := range []int{leader, out} {
			start := time.Now()
			var futs []jetstream.PubAckFuture
			for i := 0; i < n; i++ {
				f, err := js[node].PublishAsync("rate", body, jetstream.WithStallWait(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				futs = append(futs, f)
			}
			for _, f := range futs {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					t.Fatal(err)
				}
			}
			el := time.Since(start)
			t.Logf("size=%d from n%d (leader=%v): %d msgs in %v: %.0f msg/s, %.1f MiB/s", size, node+1, node == leader,
				n, el.Round(time.Millisecond), float64(n)/el.Seconds(), float64(n*size)/el.Seconds()/(1<<20))
		}
	}
}

package app_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterReplicatedStream: an R3 stream created through one member
// runs on all three; a client on a non-leader member publishes (acked after
// the quorum applies) and consumes; stream info names the leader; after
// the leader shuts down a new one is elected and every acknowledged
// message, old and new, is readable in order.
func TestJSClusterReplicatedStream(t *testing.T) {
	apps := startMetaCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js1, err := jetstream.New(connect(t, apps[1]))
	if err != nil {
		t.Fatal(err)
	}
	s, err := createStream(ctx, t, js1, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatalf("create R3: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil || info.Config.Replicas != 3 {
		t.Fatalf("info: %+v, %v", info, err)
	}
	leader := ""
	eventually(t, 15*time.Second, "a stream leader", func() bool {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			leader = info.Cluster.Leader
			return len(info.Cluster.Replicas) == 2
		}
		return false
	})
	li := int(leader[1] - '1') // members are named n1..n3
	pi := (li + 1) % 3
	js, err := jetstream.New(connect(t, apps[pi], nats.MaxReconnects(-1)))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 3<<20+5)
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			data := []byte(fmt.Sprintf("m%03d", i))
			if i%10 == 3 {
				data = append(data, big...)
			}
			ack, err := js.Publish(ctx, fmt.Sprintf("r3.%d", i), data)
			if err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
			if ack.Sequence != uint64(i+1) || ack.Stream != "R3" {
				t.Fatalf("publish %d: ack %+v", i, ack)
			}
		}
	}
	publish(0, 20)

	// The leader goes; the survivors elect another and take publishes.
	stopApp(t, apps[li])
	publish(20, 30)

	cons, err := js.CreateOrUpdateConsumer(ctx, "R3", jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	for i := 0; i < 30; {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			want := fmt.Sprintf("m%03d", i)
			if !bytes.HasPrefix(m.Data(), []byte(want)) || (i%10 == 3) != (len(m.Data()) > 1<<20) {
				t.Fatalf("message %d: %q... (%d bytes)", i, m.Data()[:4], len(m.Data()))
			}
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	info, err = s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 30 || info.State.LastSeq != 30 || info.Cluster.Leader == leader {
		t.Fatalf("after failover: state %+v leader %q (was %q)", info.State, info.Cluster.Leader, leader)
	}
}

// TestJSClusterStepDown: STREAM.LEADER.STEPDOWN moves the stream's
// leadership to another member.
func TestJSClusterStepDown(t *testing.T) {
	apps, _, _ := startRaftCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	metaOf(t, apps[0])
	nc := connect(t, apps[0])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "SD", Subjects: []string{"sd"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	leaderOf := func() string {
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	var before string
	eventually(t, 15*time.Second, "a leader", func() bool { before = leaderOf(); return before != "" })
	msg, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN.SD", nil, 10*time.Second)
	if err != nil || !bytes.Contains(msg.Data, []byte(`"success":true`)) {
		t.Fatalf("stepdown: %v %s", err, msg.Data)
	}
	eventually(t, 15*time.Second, "another leader", func() bool { l := leaderOf(); return l != "" && l != before })
	for i := 0; i < 3; i++ {
		if _, err := js.Publish(ctx, "sd", []byte("after")); err != nil {
			t.Fatalf("publish after stepdown: %v", err)
		}
	}
	// Nats-Expected-Last-Sequence is decided in raft order.
	if _, err := js.Publish(ctx, "sd", []byte("x"), jetstream.WithExpectLastSequence(1)); err == nil ||
		!strings.Contains(err.Error(), "wrong last sequence") {
		t.Fatalf("wrong expected last sequence: %v", err)
	}
	if _, err := js.Publish(ctx, "sd", []byte("x"), jetstream.WithExpectLastMsgID("a")); err == nil {
		t.Fatal("Nats-Expected-Last-Msg-Id accepted on a replicated stream")
	}
	if ack, err := js.Publish(ctx, "sd", []byte("x"), jetstream.WithExpectLastSequence(3)); err != nil || ack.Sequence != 4 {
		t.Fatalf("right expected last sequence: %+v %v", ack, err)
	}
	// Message delete and purge go through raft: every replica sees them.
	if err := s.DeleteMsg(ctx, 2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatalf("purge: %v", err)
	}
	for _, a := range apps {
		js2, err := jetstream.New(connect(t, a))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "purge on every replica", func() bool {
			s2, err := js2.Stream(ctx, "SD")
			if err != nil {
				return false
			}
			info := s2.CachedInfo()
			return info.State.Msgs == 1 && info.State.LastSeq == 4
		})
	}
}

// TestJSClusterCatchUpFromSnapshot: a member that was down while the
// others took raft snapshots every 16 entries and compacted their logs
// (keeping 4 behind) catches up, through a streamed snapshot of the
// segments where the log it needs is gone, and its clients read every
// message.
func TestJSClusterCatchUpFromSnapshot(t *testing.T) {
	var raftAddrs, dirs []string
	for i := 0; i < 3; i++ {
		raftAddrs = append(raftAddrs, freeAddr(t))
		dirs = append(dirs, t.TempDir())
	}
	tune := func(i int, c *app.Config) {
		c.ClusterSize = 3
		c.RaftAddr = raftAddrs[i]
		c.StoreDir = dirs[i]
		c.LogFile = fmt.Sprintf("%s/barge-%d.log", dirs[i], time.Now().UnixNano())
		c.RaftSnapshotEntries = 16
		c.RaftCompactionOverhead = 4
	}
	apps := startCluster(t, 3, tune)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	metaOf(t, apps[0])
	js, err := jetstream.New(connect(t, apps[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "SN", Subjects: []string{"sn"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "sn", []byte("0")); err != nil {
		t.Fatal(err)
	}
	stopApp(t, apps[2])
	const n = 60
	for i := 1; i < n; i++ {
		if _, err := js.Publish(ctx, "sn", []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	apps[2] = startClusterNode(t, 2, apps[:2], tune)
	js3, err := jetstream.New(connect(t, apps[2]))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the restarted member has every message", func() bool {
		s, err := js3.Stream(ctx, "SN")
		return err == nil && s.CachedInfo().State.Msgs == n
	})
	cons, err := js3.OrderedConsumer(ctx, "SN", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; {
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if string(m.Data()) != fmt.Sprint(i) {
				t.Fatalf("message %d: %q", i, m.Data())
			}
			i++
		}
	}
}

package app_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterAsyncPublishOrder: one connection publishes 1 KiB and
// 2 MiB messages asynchronously (no waiting between them) into an R3
// stream, first on the stream leader's node and then on a member that
// forwards its proposals; every message is acked with the sequence of its
// place in the connection's order, and reading the stream back gives them
// in that order, payloads intact.
func TestJSClusterAsyncPublishOrder(t *testing.T) {
	apps := startMetaCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	js0, err := jetstream.New(connect(t, apps[0]))
	if err != nil {
		t.Fatal(err)
	}
	s, err := createStream(ctx, t, js0, jetstream.StreamConfig{Name: "ORD", Subjects: []string{"ord.>"}, Replicas: 3})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	leader := ""
	eventually(t, 15*time.Second, "a stream leader", func() bool {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			leader = info.Cluster.Leader
			return true
		}
		return false
	})
	li := int(leader[1] - '1') // members are named n1..n3
	const n = 150
	body := func(i int) []byte {
		size := 1024
		if i%25 == 7 {
			size = 2 << 20
		}
		b := bytes.Repeat([]byte{byte(i)}, size)
		binary.BigEndian.PutUint32(b, uint32(i))
		return b
	}
	total := 0
	for round, node := range []int{li, (li + 1) % 3} {
		js, err := jetstream.New(connect(t, apps[node]), jetstream.WithPublishAsyncMaxPending(4*n))
		if err != nil {
			t.Fatal(err)
		}
		futures := make([]jetstream.PubAckFuture, n)
		for i := range n {
			if futures[i], err = js.PublishAsync(fmt.Sprintf("ord.%d", i), body(total+i)); err != nil {
				t.Fatalf("round %d: publish %d: %v", round, i, err)
			}
		}
		for i, f := range futures {
			select {
			case ack := <-f.Ok():
				if want := uint64(total + i + 1); ack.Sequence != want {
					t.Fatalf("round %d (node n%d): message %d acked as sequence %d, want %d", round, node+1, i, ack.Sequence, want)
				}
			case err := <-f.Err():
				t.Fatalf("round %d: message %d: %v", round, i, err)
			case <-ctx.Done():
				t.Fatalf("round %d: message %d: no ack", round, i)
			}
		}
		total += n
	}
	for seq := 1; seq <= total; seq++ {
		m, err := s.GetMsg(ctx, uint64(seq))
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		if !bytes.Equal(m.Data, body(seq-1)) {
			t.Fatalf("sequence %d holds message %d (%d bytes), want %d", seq, binary.BigEndian.Uint32(m.Data), len(m.Data), seq-1)
		}
	}
}

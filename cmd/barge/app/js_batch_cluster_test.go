package app_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// TestJSClusterFastBatchR3: orbit.go's FastPublisher fills an R3 stream
// through a node of the cluster (each message a replicated publish, the
// flow acks following the applies), the commit's PubAck names the batch,
// and every replica ends with the whole batch.
func TestJSClusterFastBatchR3(t *testing.T) {
	_, jss := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js := jss[1]
	_, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "FB3", Subjects: []string{"fb3.>"}, Replicas: 3, AllowBatchPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := jetstreamext.NewFastPublisher(js, jetstreamext.FastPublishFlowControl{Flow: 50, MaxOutstandingAcks: 2, AckTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := 1; i < n; i++ {
		if _, err := fp.Add("fb3.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	ack, err := fp.Commit(ctx, "fb3.x", []byte("last"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != "FB3" || ack.Sequence != n || ack.BatchSize != n {
		t.Fatalf("commit ack %+v", ack)
	}
	for i, js := range jss {
		eventually(t, 30*time.Second, "node "+strconv.Itoa(i)+" holds the batch", func() bool {
			s, err := js.Stream(ctx, "FB3")
			return err == nil && s.CachedInfo().State.Msgs == n
		})
	}
}

// TestJSClusterFastBatchStepDown: the stream leader steps down in the
// middle of a fast batch; the batch goes on through the same node (its
// state lives where the publisher is connected, and each message is a
// replicated publish that any member may submit) and the commit's PubAck
// counts every message, all of them stored on every replica.
func TestJSClusterFastBatchStepDown(t *testing.T) {
	apps, jss := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js := jss[0]
	s, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "FBS", Subjects: []string{"fbs.>"}, Replicas: 3, AllowBatchPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := jetstreamext.NewFastPublisher(js, jetstreamext.FastPublishFlowControl{Flow: 20, MaxOutstandingAcks: 2, AckTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 1; i <= n/2; i++ {
		if _, err := fp.Add("fbs.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("info %+v %v", info, err)
	}
	stepDownStream(t, connect(t, apps[1]), "FBS", info.Cluster.Leader)
	for i := n/2 + 1; i < n; i++ {
		if _, err := fp.Add("fbs.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("add %d after the step-down: %v", i, err)
		}
	}
	ack, err := fp.Commit(ctx, "fbs.x", []byte("last"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != n || ack.BatchSize != n {
		t.Fatalf("commit ack %+v", ack)
	}
	for i, js := range jss {
		eventually(t, 30*time.Second, "node "+strconv.Itoa(i)+" holds the batch", func() bool {
			s, err := js.Stream(ctx, "FBS")
			return err == nil && s.CachedInfo().State.Msgs == n
		})
	}
}

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterFirstSeqAndBytes: a replicated stream honours first_seq and
// counts bytes as an R1 stream of the cluster does (nats-server's file-store
// figure: five 5-byte messages on orders.eu are 220 B).
func TestJSClusterFirstSeqAndBytes(t *testing.T) {
	apps := startMetaCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(connect(t, apps[0]))
	if err != nil {
		t.Fatal(err)
	}
	r3, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "R3", Subjects: []string{"orders.>"}, Replicas: 3, FirstSeq: 1000})
	if err != nil {
		t.Fatalf("create R3: %v", err)
	}
	r1, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "R1", Subjects: []string{"r1.eu.xxx"}})
	if err != nil {
		t.Fatalf("create R1: %v", err)
	}
	info, err := r3.Info(ctx)
	if err != nil || info.State.FirstSeq != 1000 || info.State.LastSeq != 999 {
		t.Fatalf("new R3: %+v, %v", info, err)
	}
	for i := range 5 {
		ack, err := js.Publish(ctx, "orders.eu", []byte("hello"))
		if err != nil || ack.Sequence != uint64(1000+i) {
			t.Fatalf("R3 publish %d: %+v, %v", i, ack, err)
		}
		if _, err := js.Publish(ctx, "r1.eu.xxx", []byte("hello")); err != nil {
			t.Fatalf("R1 publish %d: %v", i, err)
		}
	}
	for _, s := range []jetstream.Stream{r3, r1} {
		info, err := s.Info(ctx)
		if err != nil || info.State.Msgs != 5 || info.State.Bytes != 220 {
			t.Fatalf("%s: %+v, %v; want 5 msgs, 220 bytes", s.CachedInfo().Config.Name, info.State, err)
		}
	}
	if info, err := r3.Info(ctx); err != nil || info.State.FirstSeq != 1000 || info.State.LastSeq != 1004 {
		t.Fatalf("R3 sequences: %+v, %v", info.State, err)
	}
}

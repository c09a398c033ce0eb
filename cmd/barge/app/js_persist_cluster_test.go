package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestJSClusterPersistModeAsync: in a cluster an async persist mode is
// refused on a replicated stream (create, and scaling an async R1 up) as
// nats-server refuses it, and an R1 placed through the meta shard keeps it:
// every node shows it, publishes are acknowledged and stored.
func TestJSClusterPersistModeAsync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, js := clusterJS(t, 3)
	wantDesc := func(err error, desc string) {
		t.Helper()
		var ae *jetstream.APIError
		if !errors.As(err, &ae) || ae.ErrorCode != 10052 || ae.Description != desc {
			t.Fatalf("err = %v, want 10052 %q", err, desc)
		}
	}
	_, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "R3", Replicas: 3, PersistMode: jetstream.AsyncPersistMode})
	wantDesc(err, "async persist mode is not supported on replicated streams")

	if _, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "A1", Subjects: []string{"a1.>"},
		PersistMode: jetstream.AsyncPersistMode}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ack, err := js[1].Publish(ctx, "a1.x", []byte("m"))
		if err != nil || ack.Sequence != uint64(i+1) {
			t.Fatalf("publish %d: %+v %v", i, ack, err)
		}
	}
	for _, j := range js {
		s, err := j.Stream(ctx, "A1")
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.Config.PersistMode != jetstream.AsyncPersistMode || info.State.Msgs != 10 || info.Config.Metadata["_nats.req.level"] != "2" {
			t.Fatalf("info: %v %+v %v", info.Config.PersistMode, info.State, info.Config.Metadata)
		}
	}
	_, err = js[2].UpdateStream(ctx, jetstream.StreamConfig{Name: "A1", Subjects: []string{"a1.>"}, Replicas: 3,
		PersistMode: jetstream.AsyncPersistMode})
	wantDesc(err, "async persist mode is not supported on replicated streams")
}

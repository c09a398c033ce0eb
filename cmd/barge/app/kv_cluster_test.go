package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvOn opens bucket through a client of a different node each, once that
// node runs its replica.
func kvOn(t *testing.T, ctx context.Context, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	t.Helper()
	var kv jetstream.KeyValue
	eventually(t, 15*time.Second, "bucket on every node", func() bool {
		var err error
		kv, err = js.KeyValue(ctx, bucket)
		return err == nil
	})
	return kv
}

// TestKVClusterR3: nats.go's KeyValue on an R3 bucket, with each
// operation sent through a client of another node: Create refuses a
// present key and Update a stale revision (decided in raft order at
// apply), Delete, Purge (a subject rollup), History, Watch; Nats-Msg-Id
// dedup across nodes; stream info reports the replicas current; the
// bucket's history is updated through STREAM.UPDATE.
func TestKVClusterR3(t *testing.T) {
	apps := startMetaCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var js [3]jetstream.JetStream
	for i, a := range apps {
		var err error
		if js[i], err = jetstream.New(connect(t, a)); err != nil {
			t.Fatal(err)
		}
	}
	kv0, err := js[0].CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", Replicas: 3, History: 5})
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	kv1, kv2 := kvOn(t, ctx, js[1], "CFG"), kvOn(t, ctx, js[2], "CFG")

	r1, err := kv0.Put(ctx, "a", []byte("1"))
	if err != nil || r1 != 1 {
		t.Fatalf("put: %d %v", r1, err)
	}
	if _, err := kv1.Create(ctx, "a", []byte("again")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create of a present key: %v", err)
	}
	if rev, err := kv1.Create(ctx, "b", []byte("new")); err != nil || rev != 2 {
		t.Fatalf("create: %d %v", rev, err)
	}
	r3, err := kv2.Update(ctx, "a", []byte("2"), r1)
	if err != nil || r3 != 3 {
		t.Fatalf("update: %d %v", r3, err)
	}
	if _, err := kv0.Update(ctx, "a", []byte("stale"), r1); err == nil {
		t.Fatal("update with a stale revision accepted")
	}
	// Reads are each node's replica: eventually every node has the update.
	for _, kv := range []jetstream.KeyValue{kv0, kv1, kv2} {
		eventually(t, 10*time.Second, "a=2 on every node", func() bool {
			e, err := kv.Get(ctx, "a")
			return err == nil && string(e.Value()) == "2" && e.Revision() == r3
		})
	}
	if err := kv1.Delete(ctx, "b"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, 10*time.Second, "b deleted", func() bool {
		_, err := kv0.Get(ctx, "b")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	// A deleted key can be created again (its last entry is the delete).
	if _, err := kv2.Create(ctx, "b", []byte("back")); err != nil {
		t.Fatalf("create after delete: %v", err)
	}

	// Watch through node 2 while node 0 writes.
	w, err := kv2.Watch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, v := range []string{"x", "y", "z"} {
		if _, err := kv0.Put(ctx, "c", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	timeout := time.After(15 * time.Second)
	for len(seen) < 3 {
		select {
		case e := <-w.Updates():
			if e != nil {
				seen = append(seen, string(e.Value()))
			}
		case <-timeout:
			t.Fatalf("watch saw %v", seen)
		}
	}
	if strings.Join(seen, "") != "xyz" {
		t.Fatalf("watch saw %v", seen)
	}
	var hist []jetstream.KeyValueEntry
	eventually(t, 10*time.Second, "history of c on node 1", func() bool {
		hist, err = kv1.History(ctx, "c")
		return err == nil && len(hist) == 3
	})
	// Purge is a rollup of the key: only the purge marker stays.
	if err := kv2.Purge(ctx, "c"); err != nil {
		t.Fatalf("purge: %v", err)
	}
	eventually(t, 10*time.Second, "purged c", func() bool {
		h, err := kv0.History(ctx, "c")
		return err == nil && len(h) == 1 && h[0].Operation() == jetstream.KeyValuePurge
	})

	// Nats-Msg-Id dedup, decided in raft order whichever node proposes.
	nc1, nc2 := connect(t, apps[1]), connect(t, apps[2])
	jsa, _ := jetstream.New(nc1)
	jsb, _ := jetstream.New(nc2)
	ack1, err := jsa.Publish(ctx, "$KV.CFG.d", []byte("once"), jetstream.WithMsgID("m-1"))
	if err != nil || ack1.Duplicate {
		t.Fatalf("first: %+v %v", ack1, err)
	}
	ack2, err := jsb.Publish(ctx, "$KV.CFG.d", []byte("twice"), jetstream.WithMsgID("m-1"))
	if err != nil || !ack2.Duplicate || ack2.Sequence != ack1.Sequence {
		t.Fatalf("duplicate: %+v %v (first %+v)", ack2, err, ack1)
	}
	if _, err := jsa.Publish(ctx, "$KV.CFG.d", []byte("x"), jetstream.WithExpectLastMsgID("m-0")); err == nil ||
		!strings.Contains(err.Error(), "wrong last msg ID: m-1") {
		t.Fatalf("expected last msg id: %v", err)
	}
	if _, err := jsa.Publish(ctx, "$KV.CFG.d", []byte("x"), jetstream.WithExpectLastMsgID("m-1")); err != nil {
		t.Fatalf("right expected last msg id: %v", err)
	}

	// Stream info: the other two replicas report in, current with no lag.
	eventually(t, 15*time.Second, "replicas current", func() bool {
		s, err := js[1].Stream(ctx, "KV_CFG")
		if err != nil {
			return false
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" || len(ci.Replicas) != 2 {
			return false
		}
		for _, p := range ci.Replicas {
			if !p.Current || p.Lag != 0 || p.Active > 10*time.Second {
				return false
			}
		}
		return true
	})

	// STREAM.UPDATE of the replicated bucket: history 5 -> 2 everywhere.
	if _, err := js[2].UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", Replicas: 3, History: 2}); err != nil {
		t.Fatalf("update bucket: %v", err)
	}
	for i := 0; i < 4; i++ {
		if _, err := kv1.Put(ctx, "h", []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range []jetstream.KeyValue{kv0, kv1, kv2} {
		eventually(t, 10*time.Second, "history 2 on every node", func() bool {
			h, err := kv.History(ctx, "h")
			st, serr := kv.Status(ctx)
			return err == nil && serr == nil && len(h) == 2 && st.History() == 2
		})
	}
	if _, err := js[0].UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", Replicas: 1, History: 2}); err == nil {
		t.Fatal("num_replicas change accepted")
	}
}

// TestJSClusterStreamUpdateSubjects: a subject added to a replicated
// stream through one node is captured on the others.
func TestJSClusterStreamUpdateSubjects(t *testing.T) {
	apps := startMetaCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js0, _ := jetstream.New(connect(t, apps[0]))
	js2, _ := jetstream.New(connect(t, apps[2], nats.MaxReconnects(-1)))
	cfg := jetstream.StreamConfig{Name: "UPD", Subjects: []string{"u.a"}, Replicas: 3, MaxMsgSize: 100}
	if _, err := createStream(ctx, t, js0, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Subjects = append(cfg.Subjects, "u.b")
	if _, err := js0.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("update: %v", err)
	}
	eventually(t, 10*time.Second, "u.b captured on node 2", func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		ack, err := js2.Publish(pctx, "u.b", []byte("x"))
		return err == nil && ack.Stream == "UPD"
	})
	// The immutable fields are refused as R1 refuses them.
	bad := cfg
	bad.Storage = jetstream.MemoryStorage
	if _, err := js0.UpdateStream(ctx, bad); err == nil {
		t.Fatal("storage change accepted")
	}
}

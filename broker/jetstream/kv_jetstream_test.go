package jetstream_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestKVJetStreamPackage drives the jetstream package's KeyValue: bucket
// create/update/delete, Put, Get, revisions, Create, Update, Delete, Purge,
// History, Keys, ListKeys and Status.
func TestKVJetStreamPackage(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "app", History: 3})
	must(t, err)
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "app", History: 4}); !errors.Is(err, jetstream.ErrBucketExists) {
		t.Fatalf("create with another config: %v", err)
	}
	rev, err := kv.Put(ctx, "k", []byte("v1"))
	must(t, err)
	if rev != 1 {
		t.Fatalf("put revision %d", rev)
	}
	_, err = kv.PutString(ctx, "k", "v2")
	must(t, err)
	e, err := kv.Get(ctx, "k")
	must(t, err)
	if string(e.Value()) != "v2" || e.Revision() != 2 || e.Operation() != jetstream.KeyValuePut {
		t.Fatalf("get: %q rev %d", e.Value(), e.Revision())
	}
	e, err = kv.GetRevision(ctx, "k", 1)
	must(t, err)
	if string(e.Value()) != "v1" {
		t.Fatalf("revision 1: %q", e.Value())
	}
	if _, err := kv.Get(ctx, "none"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := kv.Create(ctx, "k", []byte("x")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create existing: %v", err)
	}
	if _, err := kv.Update(ctx, "k", []byte("x"), 1); !errors.Is(err, jetstream.ErrKeyExists) {
		// nats.go reports a revision mismatch as ErrKeyExists (10071).
		t.Fatalf("update stale: %v", err)
	}
	rev, err = kv.Update(ctx, "k", []byte("v3"), 2)
	must(t, err)
	if rev != 3 {
		t.Fatalf("update revision %d", rev)
	}
	must(t, kv.Delete(ctx, "k", jetstream.LastRevision(3)))
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	rev, err = kv.Create(ctx, "k", []byte("v4")) // over a delete marker
	must(t, err)
	if rev != 5 {
		t.Fatalf("create over delete marker: revision %d", rev)
	}
	hist, err := kv.History(ctx, "k")
	must(t, err)
	var ops []jetstream.KeyValueOp
	for _, h := range hist {
		ops = append(ops, h.Operation())
	}
	// History 3: v3, DEL, v4.
	if !slices.Equal(ops, []jetstream.KeyValueOp{jetstream.KeyValuePut, jetstream.KeyValueDelete, jetstream.KeyValuePut}) {
		t.Fatalf("history ops %v", ops)
	}
	must(t, kv.Purge(ctx, "k"))
	hist, err = kv.History(ctx, "k")
	must(t, err)
	if len(hist) != 1 || hist[0].Operation() != jetstream.KeyValuePurge {
		t.Fatalf("after purge %d entries", len(hist))
	}

	for _, k := range []string{"a.1", "a.2", "b"} {
		_, err := kv.PutString(ctx, k, k)
		must(t, err)
	}
	keys, err := kv.Keys(ctx)
	must(t, err)
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a.1", "a.2", "b"}) {
		t.Fatalf("keys %v", keys)
	}
	kl, err := kv.ListKeysFiltered(ctx, "a.*")
	must(t, err)
	var listed []string
	for k := range kl.Keys() {
		listed = append(listed, k)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, []string{"a.1", "a.2"}) {
		t.Fatalf("filtered keys %v", listed)
	}

	st, err := kv.Status(ctx)
	must(t, err)
	if st.Bucket() != "app" || st.History() != 3 || st.Values() != 4 || st.Bytes() == 0 {
		t.Fatalf("status: %+v", st.Config())
	}
	must(t, kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)))
	if _, err := kv.History(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("history after purge deletes: %v", err)
	}

	kv, err = js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "app", History: 8, Description: "d"})
	must(t, err)
	st, err = kv.Status(ctx)
	must(t, err)
	if st.History() != 8 || st.Config().Description != "d" {
		t.Fatalf("after update: %+v", st.Config())
	}
	_, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "other"})
	must(t, err)
	names := js.KeyValueStoreNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	must(t, names.Error())
	slices.Sort(got)
	if !slices.Equal(got, []string{"app", "other"}) {
		t.Fatalf("names %v", got)
	}
	must(t, js.DeleteKeyValue(ctx, "app"))
	if _, err := js.KeyValue(ctx, "app"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("deleted bucket: %v", err)
	}
}

// TestKVJetStreamPackageWatch checks Watch/WatchAll through the jetstream
// package: initial values, the nil marker, updates, deletes; plus
// UpdatesOnly, IncludeHistory and MetaOnly.
func TestKVJetStreamPackageWatch(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "w", History: 10})
	must(t, err)
	for _, kvp := range [][2]string{{"s.1", "a"}, {"s.2", "b"}, {"s.1", "c"}} {
		_, err := kv.PutString(ctx, kvp[0], kvp[1])
		must(t, err)
	}
	next := func(w jetstream.KeyWatcher) jetstream.KeyValueEntry {
		t.Helper()
		select {
		case e := <-w.Updates():
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no watch update")
			return nil
		}
	}
	want := func(w jetstream.KeyWatcher, key, val string, op jetstream.KeyValueOp) jetstream.KeyValueEntry {
		t.Helper()
		e := next(w)
		if e == nil {
			t.Fatalf("init marker, want %s=%s", key, val)
		}
		if e.Key() != key || string(e.Value()) != val || e.Operation() != op {
			t.Fatalf("got %s=%q op %v, want %s=%q op %v", e.Key(), e.Value(), e.Operation(), key, val, op)
		}
		return e
	}
	wantMarker := func(w jetstream.KeyWatcher) {
		t.Helper()
		if e := next(w); e != nil {
			t.Fatalf("want marker, got %s=%q", e.Key(), e.Value())
		}
	}

	all, err := kv.WatchAll(ctx)
	must(t, err)
	defer all.Stop()
	hist, err := kv.Watch(ctx, "s.1", jetstream.IncludeHistory())
	must(t, err)
	defer hist.Stop()
	upd, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	must(t, err)
	defer upd.Stop()
	meta, err := kv.WatchAll(ctx, jetstream.MetaOnly())
	must(t, err)
	defer meta.Stop()

	want(all, "s.2", "b", jetstream.KeyValuePut)
	e := want(all, "s.1", "c", jetstream.KeyValuePut)
	if e.Revision() != 3 || e.Delta() != 0 {
		t.Fatalf("last initial entry: revision %d delta %d", e.Revision(), e.Delta())
	}
	wantMarker(all)
	want(hist, "s.1", "a", jetstream.KeyValuePut)
	want(hist, "s.1", "c", jetstream.KeyValuePut)
	wantMarker(hist)
	want(meta, "s.2", "", jetstream.KeyValuePut)
	want(meta, "s.1", "", jetstream.KeyValuePut)
	wantMarker(meta)

	_, err = kv.PutString(ctx, "s.1", "d")
	must(t, err)
	must(t, kv.Delete(ctx, "s.2"))
	want(all, "s.1", "d", jetstream.KeyValuePut)
	want(all, "s.2", "", jetstream.KeyValueDelete)
	want(hist, "s.1", "d", jetstream.KeyValuePut)
	want(upd, "s.1", "d", jetstream.KeyValuePut)
	want(upd, "s.2", "", jetstream.KeyValueDelete)

	// ResumeFromRevision replays from a revision on.
	res, err := kv.WatchAll(ctx, jetstream.ResumeFromRevision(4))
	must(t, err)
	defer res.Stop()
	want(res, "s.1", "d", jetstream.KeyValuePut)
	want(res, "s.2", "", jetstream.KeyValueDelete)
}

// TestKVTTLDisabledBucket: a per-key TTL (Nats-TTL) on a bucket made
// without LimitMarkerTTL (its stream has no allow_msg_ttl) is refused with
// 10166 as nats-server refuses it, and nothing is stored.
func TestKVTTLDisabledBucket(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ttl"})
	must(t, err)
	_, err = kv.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Minute))
	var ae *jetstream.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != 10166 {
		t.Fatalf("Create with KeyTTL: %v", err)
	}
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("refused key stored: %v", err)
	}
}

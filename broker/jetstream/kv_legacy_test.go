package jetstream_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestKVLegacy drives nats.go's legacy KeyValue API (js.CreateKeyValue)
// through every operation a bucket offers.
func TestKVLegacy(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)

	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "cfg", History: 5, Description: "settings"})
	must(t, err)
	// Creating the same bucket again is idempotent.
	_, err = js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "cfg", History: 5, Description: "settings"})
	must(t, err)

	rev, err := kv.Put("a", []byte("1"))
	must(t, err)
	if rev != 1 {
		t.Fatalf("first put revision %d", rev)
	}
	e, err := kv.Get("a")
	must(t, err)
	if string(e.Value()) != "1" || e.Revision() != 1 || e.Key() != "a" || e.Operation() != nats.KeyValuePut || e.Bucket() != "cfg" {
		t.Fatalf("get: %+v", e)
	}
	if e.Created().IsZero() || time.Since(e.Created()) > time.Minute {
		t.Fatalf("created %v", e.Created())
	}
	_, err = kv.PutString("a", "2")
	must(t, err)
	e, err = kv.GetRevision("a", 1)
	must(t, err)
	if string(e.Value()) != "1" {
		t.Fatalf("revision 1: %q", e.Value())
	}
	if _, err := kv.GetRevision("a", 99); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("missing revision: %v", err)
	}
	if _, err := kv.Get("nope"); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}

	// Create fails when the key exists; Update needs the current revision.
	if _, err := kv.Create("a", []byte("x")); !errors.Is(err, nats.ErrKeyExists) {
		t.Fatalf("create existing: %v", err)
	}
	rev, err = kv.Create("b", []byte("b1"))
	must(t, err)
	if rev != 3 {
		t.Fatalf("create revision %d", rev)
	}
	if _, err := kv.Update("b", []byte("b2"), 1); err == nil {
		t.Fatal("update with a stale revision succeeded")
	} else {
		wantCode(t, err, 10071)
	}
	rev, err = kv.Update("b", []byte("b2"), 3)
	must(t, err)
	if rev != 4 {
		t.Fatalf("update revision %d", rev)
	}

	// Delete leaves a marker: Get says deleted, Create succeeds again.
	must(t, kv.Delete("b"))
	if _, err := kv.Get("b"); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	rev, err = kv.Create("b", []byte("b3"))
	must(t, err)
	if rev != 6 {
		t.Fatalf("create after delete revision %d", rev)
	}
	// Delete with a revision guard.
	if err := kv.Delete("b", nats.LastRevision(1)); err == nil {
		t.Fatal("delete with stale revision succeeded")
	}

	// History keeps up to 5 per key, in order, with the operations.
	for _, v := range []string{"3", "4", "5", "6"} {
		_, err := kv.PutString("a", v)
		must(t, err)
	}
	hist, err := kv.History("a")
	must(t, err)
	var vals []string
	for _, h := range hist {
		vals = append(vals, string(h.Value()))
	}
	if !slices.Equal(vals, []string{"2", "3", "4", "5", "6"}) {
		t.Fatalf("history %v", vals)
	}
	// Purge rolls the key up to one PURGE marker.
	must(t, kv.Purge("a"))
	hist, err = kv.History("a")
	must(t, err)
	if len(hist) != 1 || hist[0].Operation() != nats.KeyValuePurge {
		t.Fatalf("history after purge: %d entries, op %v", len(hist), hist[0].Operation())
	}
	if _, err := kv.Get("a"); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("purged key: %v", err)
	}

	_, err = kv.PutString("c.x", "cx")
	must(t, err)
	keys, err := kv.Keys()
	must(t, err)
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"b", "c.x"}) {
		t.Fatalf("keys %v", keys)
	}
	kl, err := kv.ListKeys()
	must(t, err)
	var listed []string
	for k := range kl.Keys() {
		listed = append(listed, k)
	}
	_ = kl.Stop() // the lister stops itself once done: a second stop says "invalid subscription"
	slices.Sort(listed)
	if !slices.Equal(listed, []string{"b", "c.x"}) {
		t.Fatalf("listed keys %v", listed)
	}

	st, err := kv.Status()
	must(t, err)
	if st.Bucket() != "cfg" || st.History() != 5 || st.Values() == 0 || st.BackingStore() != "JetStream" {
		t.Fatalf("status: bucket %q history %d values %d", st.Bucket(), st.History(), st.Values())
	}

	// PurgeDeletes removes the markers of deleted and purged keys.
	must(t, kv.PurgeDeletes(nats.DeleteMarkersOlderThan(-1)))
	hist, err = kv.History("a")
	if !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("history after purge deletes: %v, %d", err, len(hist))
	}

	// The legacy API has no UpdateKeyValue: update the bucket's stream,
	// then delete the bucket.
	si, err := js.StreamInfo("KV_cfg")
	must(t, err)
	si.Config.MaxMsgsPerSubject = 10
	_, err = js.UpdateStream(&si.Config)
	must(t, err)
	st, err = kv.Status()
	must(t, err)
	if st.History() != 10 {
		t.Fatalf("history after update %d", st.History())
	}
	var names []string
	for n := range js.KeyValueStoreNames() {
		names = append(names, n)
	}
	if !slices.Equal(names, []string{"cfg"}) {
		t.Fatalf("bucket names %v", names)
	}
	must(t, js.DeleteKeyValue("cfg"))
	if _, err := js.KeyValue("cfg"); !errors.Is(err, nats.ErrBucketNotFound) {
		t.Fatalf("deleted bucket: %v", err)
	}
}

// TestKVLegacyWatch checks Watch and WatchAll: the initial values, the nil
// marker, then updates, then deletes and purges.
func TestKVLegacyWatch(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "w"})
	must(t, err)
	for _, k := range []string{"x.1", "x.2", "y"} {
		_, err := kv.PutString(k, "v-"+k)
		must(t, err)
	}
	_, err = kv.PutString("x.1", "v2-x.1") // initial values hold only the newest
	must(t, err)

	all, err := kv.WatchAll()
	must(t, err)
	defer all.Stop()
	xs, err := kv.Watch("x.*")
	must(t, err)
	defer xs.Stop()

	next := func(w nats.KeyWatcher) nats.KeyValueEntry {
		t.Helper()
		select {
		case e := <-w.Updates():
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no watch update")
			return nil
		}
	}
	want := func(w nats.KeyWatcher, key, val string, op nats.KeyValueOp) {
		t.Helper()
		e := next(w)
		if e == nil {
			t.Fatalf("got init marker, want %s=%s", key, val)
		}
		if e.Key() != key || string(e.Value()) != val || e.Operation() != op {
			t.Fatalf("got %s=%q op %v, want %s=%q op %v", e.Key(), e.Value(), e.Operation(), key, val, op)
		}
	}
	wantMarker := func(w nats.KeyWatcher) {
		t.Helper()
		if e := next(w); e != nil {
			t.Fatalf("want init marker, got %s=%q", e.Key(), e.Value())
		}
	}
	want(all, "x.2", "v-x.2", nats.KeyValuePut)
	want(all, "y", "v-y", nats.KeyValuePut)
	want(all, "x.1", "v2-x.1", nats.KeyValuePut)
	wantMarker(all)
	want(xs, "x.2", "v-x.2", nats.KeyValuePut)
	want(xs, "x.1", "v2-x.1", nats.KeyValuePut)
	wantMarker(xs)

	_, err = kv.PutString("x.3", "new")
	must(t, err)
	_, err = kv.PutString("y", "y2")
	must(t, err)
	must(t, kv.Delete("x.2"))
	must(t, kv.Purge("y"))

	want(all, "x.3", "new", nats.KeyValuePut)
	want(all, "y", "y2", nats.KeyValuePut)
	want(all, "x.2", "", nats.KeyValueDelete)
	want(all, "y", "", nats.KeyValuePurge)
	want(xs, "x.3", "new", nats.KeyValuePut)
	want(xs, "x.2", "", nats.KeyValueDelete)

	// A watcher on an empty bucket gets the marker at once.
	empty, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "empty"})
	must(t, err)
	ew, err := empty.WatchAll()
	must(t, err)
	defer ew.Stop()
	wantMarker(ew)
	_, err = empty.PutString("k", "v")
	must(t, err)
	want(ew, "k", "v", nats.KeyValuePut)
}

package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestKeyValueMirrorAndSources creates buckets with a mirror and with
// sources as nats.go does (KeyValueConfig.Mirror / Sources): the mirror
// holds the origin's revisions and answers the origin's direct gets
// (mirror_direct) once the origin is gone; the sourced bucket reads the
// origin's keys under its own name, deletes included.
func TestKeyValueMirrorAndSources(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	origin, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ORIG", History: 5})
	must(t, err)
	for _, kv := range [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}} {
		_, err := origin.PutString(ctx, kv[0], kv[1])
		must(t, err)
	}
	must(t, origin.Delete(ctx, "b"))

	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "MIR", Mirror: &jetstream.StreamSource{Name: "ORIG"}})
	must(t, err)
	si := waitStream(t, ctx, js, "KV_MIR", "kv mirror copied", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 4 })
	if si.Config.Mirror == nil || si.Config.Mirror.Name != "KV_ORIG" || !si.Config.MirrorDirect || len(si.Config.Subjects) != 0 {
		t.Fatalf("mirror bucket config %+v", si.Config)
	}
	// A put through the mirror bucket goes to the origin's subjects.
	mkv, err := js.KeyValue(ctx, "MIR")
	must(t, err)
	_, err = mkv.PutString(ctx, "c", "4")
	must(t, err)
	waitStream(t, ctx, js, "KV_MIR", "kv mirror follows", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 5 })
	if e, err := origin.Get(ctx, "c"); err != nil || string(e.Value()) != "4" {
		t.Fatalf("put through the mirror: %v %v", e, err)
	}

	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "AGG", Sources: []*jetstream.StreamSource{{Name: "ORIG"}}})
	must(t, err)
	agg, err := js.KeyValue(ctx, "AGG")
	must(t, err)
	eventually(t, 30*time.Second, "sourced bucket has c", func() bool {
		e, err := agg.Get(ctx, "c")
		return err == nil && string(e.Value()) == "4"
	})
	if e, err := agg.Get(ctx, "a"); err != nil || string(e.Value()) != "3" {
		t.Fatalf("sourced a: %v %v", e, err)
	}
	if _, err := agg.Get(ctx, "b"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("sourced deleted b: %v", err)
	}
	keys, err := agg.Keys(ctx)
	must(t, err)
	if len(keys) != 2 {
		t.Fatalf("sourced keys %v", keys)
	}

	// The origin bucket handle reads through the mirror once the origin
	// stream is gone.
	must(t, js.DeleteStream(ctx, "KV_ORIG"))
	e, err := origin.Get(ctx, "a")
	if err != nil || !bytes.Equal(e.Value(), []byte("3")) || e.Revision() != 3 {
		t.Fatalf("get through mirror_direct: %v %v", e, err)
	}
}

// TestObjectStoreSourced copies an object store bucket into another one
// with a source whose transform renames the bucket's subjects (nats.go's
// ObjectStoreConfig has no mirror or sources): the object, its chunks and
// its metadata read back through nats.go under the new bucket.
func TestObjectStoreSourced(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	orig, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "ORIG"})
	must(t, err)
	data := make([]byte, 3<<20+17)
	pattern(data, 3)
	_, err = orig.PutBytes(ctx, "blob", data)
	must(t, err)

	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "OBJ_COPY", Subjects: []string{"$O.COPY.C.>", "$O.COPY.M.>"},
		AllowRollup: true, AllowDirect: true, Discard: jetstream.DiscardNew,
		Sources: []*jetstream.StreamSource{{Name: "OBJ_ORIG",
			SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "$O.ORIG.>", Destination: "$O.COPY.>"}}}}})
	must(t, err)
	cp, err := js.ObjectStore(ctx, "COPY")
	must(t, err)
	eventually(t, 30*time.Second, "object copied", func() bool {
		got, err := cp.GetBytes(ctx, "blob")
		return err == nil && bytes.Equal(got, data)
	})
}

// TestSourceRepublish: a source's copies are republished as published
// messages are.
func TestSourceRepublish(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	must(t, err)
	sub, err := nc.SubscribeSync("live.>")
	must(t, err)
	must(t, nc.Flush())
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{{Name: "O"}},
		RePublish: &jetstream.RePublish{Source: ">", Destination: "live.>"}})
	must(t, err)
	_, err = js.Publish(ctx, "o.a", []byte("x"))
	must(t, err)
	m, err := sub.NextMsg(10 * time.Second)
	must(t, err)
	if m.Subject != "live.o.a" || m.Header.Get("Nats-Stream") != "S" || m.Header.Get("Nats-Sequence") != "1" || string(m.Data) != "x" {
		t.Fatalf("republished copy %s %v %q", m.Subject, m.Header, m.Data)
	}
}

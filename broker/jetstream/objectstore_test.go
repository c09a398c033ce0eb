package jetstream_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// patternReader yields n deterministic pseudo-random bytes without holding
// them in memory, so large objects can be put and their digest known.
type patternReader struct {
	n, off int64
	x      uint64
}

func newPatternReader(n int64, seed uint64) *patternReader {
	return &patternReader{n: n, x: seed | 1}
}

// Read fills p with the next bytes of the pattern (xorshift64).
func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := range p {
		if i%8 == 0 {
			r.x ^= r.x << 13
			r.x ^= r.x >> 7
			r.x ^= r.x << 17
		}
		p[i] = byte(r.x >> (8 * (i % 8)))
	}
	r.off += int64(len(p))
	return len(p), nil
}

// patternSum is the SHA-256 of n pattern bytes from seed.
func patternSum(t testing.TB, n int64, seed uint64) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, newPatternReader(n, seed), make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// hashWriter is the writer a Get copies into: it keeps only the SHA-256.
type hashWriter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func newHashWriter() *hashWriter { return &hashWriter{h: sha256.New()} }

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func (w *hashWriter) sum() [32]byte {
	var s [32]byte
	w.h.Sum(s[:0])
	return s
}

// objectSizes are the sizes the normal suite round-trips; 1 GiB is in
// TestObjectStoreHuge (BARGE_HUGE=1).
var objectSizes = []struct {
	name string
	n    int64
}{{"0B", 0}, {"1B", 1}, {"200KiB", 200 << 10}, {"10MiB", 10 << 20}}

// TestObjectStoreLegacy drives nats.go's legacy ObjectStore: bucket
// create, Put from a reader and Get to a writer with SHA-256 equal for 0 B,
// 1 B, 200 KiB and 10 MiB, GetInfo (size, chunks, digest), links, List,
// Watch, Delete, Status, Seal and bucket delete.
func TestObjectStoreLegacy(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)
	obs, err := js.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: "files", Description: "test"})
	must(t, err)

	w, err := obs.Watch()
	must(t, err)
	defer w.Stop()
	select {
	case e := <-w.Updates():
		if e != nil {
			t.Fatalf("watch on empty bucket: %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no initial watch marker")
	}

	for i, sz := range objectSizes {
		name := "obj-" + sz.name
		info, err := obs.Put(&nats.ObjectMeta{Name: name, Description: sz.name}, newPatternReader(sz.n, uint64(i)))
		must(t, err)
		wantChunks := uint32((sz.n + 128<<10 - 1) / (128 << 10))
		if info.Size != uint64(sz.n) || info.Chunks != wantChunks {
			t.Fatalf("%s: put info size %d chunks %d", name, info.Size, info.Chunks)
		}
		gi, err := obs.GetInfo(name)
		must(t, err)
		if gi.Size != uint64(sz.n) || gi.Chunks != wantChunks || gi.Digest != info.Digest || gi.Description != sz.name {
			t.Fatalf("%s: info %+v", name, gi)
		}
		res, err := obs.Get(name)
		must(t, err)
		hw := newHashWriter()
		if _, err := io.Copy(hw, res); err != nil {
			t.Fatalf("%s: get: %v", name, err)
		}
		res.Close()
		if hw.n != sz.n || hw.sum() != patternSum(t, sz.n, uint64(i)) {
			t.Fatalf("%s: got %d bytes, digest mismatch", name, hw.n)
		}
		select {
		case e := <-w.Updates():
			if e == nil || e.Name != name {
				t.Fatalf("watch: %+v, want %s", e, name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no watch update for %s", name)
		}
	}

	// Replacing an object purges the old chunks.
	_, err = obs.PutString("obj-1B", "replaced")
	must(t, err)
	s, err := obs.GetString("obj-1B")
	must(t, err)
	if s != "replaced" {
		t.Fatalf("replaced object %q", s)
	}

	// Links to an object and to a bucket.
	target, err := obs.GetInfo("obj-200KiB")
	must(t, err)
	_, err = obs.AddLink("alias", target)
	must(t, err)
	b, err := obs.GetBytes("alias")
	must(t, err)
	if sha256.Sum256(b) != patternSum(t, 200<<10, 2) {
		t.Fatal("link content differs")
	}
	other, err := js.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: "other"})
	must(t, err)
	_, err = obs.AddBucketLink("to-other", other)
	must(t, err)
	li, err := obs.GetInfo("to-other")
	must(t, err)
	if li.Opts == nil || li.Opts.Link == nil || li.Opts.Link.Bucket != "other" {
		t.Fatalf("bucket link %+v", li)
	}

	list, err := obs.List()
	must(t, err)
	var names []string
	for _, o := range list {
		names = append(names, o.Name)
	}
	slices.Sort(names)
	want := []string{"alias", "obj-0B", "obj-10MiB", "obj-1B", "obj-200KiB", "to-other"}
	if !slices.Equal(names, want) {
		t.Fatalf("list %v", names)
	}

	must(t, obs.Delete("obj-10MiB"))
	if _, err := obs.Get("obj-10MiB"); !errors.Is(err, nats.ErrObjectNotFound) {
		t.Fatalf("deleted object: %v", err)
	}
	di, err := obs.GetInfo("obj-10MiB", nats.GetObjectInfoShowDeleted())
	must(t, err)
	if !di.Deleted {
		t.Fatalf("deleted info %+v", di)
	}
	st, err := obs.Status()
	must(t, err)
	if st.Bucket() != "files" || st.Description() != "test" || st.Size() > 1<<20 {
		// The 10 MiB object's chunks are purged.
		t.Fatalf("status bucket %q size %d", st.Bucket(), st.Size())
	}
	must(t, obs.Seal())
	if _, err := obs.PutString("late", "x"); err == nil {
		t.Fatal("put into a sealed bucket succeeded")
	}
	must(t, js.DeleteObjectStore("files"))
	if _, err := js.ObjectStore("files"); !errors.Is(err, nats.ErrStreamNotFound) {
		t.Fatalf("deleted bucket: %v", err)
	}
}

// TestObjectStoreJetStreamPackage drives the jetstream package's
// ObjectStore with the same sizes, plus UpdateMeta, Watch and List.
func TestObjectStoreJetStreamPackage(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "blobs"})
	must(t, err)
	if _, err := obs.List(ctx); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatalf("list empty: %v", err)
	}
	w, err := obs.Watch(ctx, jetstream.UpdatesOnly())
	must(t, err)
	defer w.Stop()

	for i, sz := range objectSizes {
		name := "o/" + sz.name // names are base64-encoded into the meta subject
		info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name}, newPatternReader(sz.n, uint64(i+10)))
		must(t, err)
		sum := patternSum(t, sz.n, uint64(i+10))
		if info.Size != uint64(sz.n) {
			t.Fatalf("%s: size %d", name, info.Size)
		}
		res, err := obs.Get(ctx, name)
		must(t, err)
		hw := newHashWriter()
		if _, err := io.Copy(hw, res); err != nil {
			t.Fatalf("%s: get: %v", name, err)
		}
		res.Close()
		if hw.sum() != sum {
			t.Fatalf("%s: digest mismatch (%d bytes)", name, hw.n)
		}
		select {
		case e := <-w.Updates():
			if e == nil || e.Name != name || e.Size != uint64(sz.n) {
				t.Fatalf("watch: %+v", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no watch update for %s", name)
		}
	}
	must(t, obs.UpdateMeta(ctx, "o/1B", jetstream.ObjectMeta{Name: "renamed", Description: "moved"}))
	if _, err := obs.GetInfo(ctx, "o/1B"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("old name after rename: %v", err)
	}
	b, err := obs.GetBytes(ctx, "renamed")
	must(t, err)
	if !bytes.Equal(b, mustRead(t, newPatternReader(1, 11))) {
		t.Fatalf("renamed object %x", b)
	}
	list, err := obs.List(ctx)
	must(t, err)
	if len(list) != len(objectSizes) {
		t.Fatalf("list has %d objects", len(list))
	}
	must(t, obs.Delete(ctx, "renamed"))
	st, err := obs.Status(ctx)
	must(t, err)
	if st.Bucket() != "blobs" || st.Sealed() {
		t.Fatalf("status %q sealed %v", st.Bucket(), st.Sealed())
	}
	names := js.ObjectStoreNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if !slices.Equal(got, []string{"blobs"}) {
		t.Fatalf("object store names %v", got)
	}
	must(t, js.DeleteObjectStore(ctx, "blobs"))
}

func mustRead(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	must(t, err)
	return b
}

// TestObjectStoreHuge round-trips a 1 GiB object through both nats.go
// APIs with SHA-256 equal. Too slow for `make test` under -race: it runs
// only with BARGE_HUGE=1, e.g.
//
//	BARGE_HUGE=1 go test ./broker/jetstream -run TestObjectStoreHuge -v -timeout 10m
func TestObjectStoreHuge(t *testing.T) {
	if os.Getenv("BARGE_HUGE") == "" {
		t.Skip("set BARGE_HUGE=1 to round-trip 1 GiB objects")
	}
	const size = 1 << 30
	a := startServer(t, "", nil)
	sum := patternSum(t, size, 7)
	check := func(what string, r io.Reader) {
		t.Helper()
		hw := newHashWriter()
		if _, err := io.CopyBuffer(hw, r, make([]byte, 1<<20)); err != nil {
			t.Fatalf("%s: get: %v", what, err)
		}
		if hw.n != size || hw.sum() != sum {
			t.Fatalf("%s: %d bytes, digest mismatch", what, hw.n)
		}
	}

	_, ljs := legacy(t, a)
	lobs, err := ljs.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: "huge-legacy"})
	must(t, err)
	start := time.Now()
	info, err := lobs.Put(&nats.ObjectMeta{Name: "big"}, newPatternReader(size, 7))
	must(t, err)
	t.Logf("legacy put 1 GiB: %v", time.Since(start))
	if info.Size != size || info.Chunks != size/(128<<10) {
		t.Fatalf("legacy info %+v", info)
	}
	start = time.Now()
	res, err := lobs.Get("big")
	must(t, err)
	check("legacy", res)
	res.Close()
	t.Logf("legacy get 1 GiB: %v", time.Since(start))
	must(t, ljs.DeleteObjectStore("huge-legacy"))

	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "huge"})
	must(t, err)
	start = time.Now()
	_, err = obs.Put(ctx, jetstream.ObjectMeta{Name: "big"}, newPatternReader(size, 7))
	must(t, err)
	t.Logf("jetstream put 1 GiB: %v", time.Since(start))
	start = time.Now()
	jres, err := obs.Get(ctx, "big")
	must(t, err)
	check("jetstream", jres)
	jres.Close()
	t.Logf("jetstream get 1 GiB: %v", time.Since(start))
}

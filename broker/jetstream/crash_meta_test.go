package jetstream_test

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/internal/crashfs"
	"github.com/bargemq/barge/log"
	"github.com/nats-io/nats.go"
)

// crashStore is a server whose store goes through a crashfs over a MemFS
// (unsynced writes vanish in a crash), in a real temp dir for the rest
// (log file, staging).
type crashStore struct {
	t   *testing.T
	dir string
	rec *crashfs.FS
}

// crashKeeps are the crashes tried: one loses every unsynced byte, one
// keeps half of them (torn files).
var crashKeeps = []struct {
	name string
	keep func(string, int64) int64
}{
	{"lose", nil},
	{"torn", func(_ string, n int64) int64 { return n / 2 }},
}

// newCrashStore makes dir's chain of directories durable on a new MemFS,
// as an existing store_dir is on a real disk.
func newCrashStore(t *testing.T, keep func(string, int64) int64) *crashStore {
	dir := t.TempDir()
	mem := log.NewMemFS()
	must(t, mem.MkdirAll(dir, 0o755))
	for d := dir; d != "/"; d = filepath.Dir(d) {
		must(t, mem.SyncDir(filepath.Dir(d)))
	}
	return &crashStore{t: t, dir: dir, rec: crashfs.New(mem, keep)}
}

// start runs a server on fsys (the recorder, or a crash image).
func (c *crashStore) start(fsys log.FS) (*app.App, nats.JetStreamContext) {
	a := startServer(c.t, c.dir, func(cfg *app.Config) { cfg.StoreFS = fsys })
	_, js := legacy(c.t, a)
	return a, js
}

// eachImage starts a server on every image and runs check on it; last
// says the image is the one after the last operation.
func (c *crashStore) eachImage(images []crashfs.Image, check func(img crashfs.Image, last bool, js nats.JetStreamContext)) {
	c.t.Helper()
	if len(images) == 0 {
		c.t.Fatal("no operation recorded")
	}
	for i, img := range images {
		c.t.Logf("crash after %s", img.Op)
		a, js := c.start(img.FS)
		check(img, i == len(images)-1, js)
		stop(a)
	}
}

// has reports whether the image holds the file at the path under the
// store's jetstream directory.
func (c *crashStore) has(img crashfs.Image, rel string) bool {
	_, err := log.ReadFile(img.FS, filepath.Join(c.dir, "jetstream", rel))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.t.Fatalf("after %s: read %s: %v", img.Op, rel, err)
	}
	return err == nil
}

// TestCrashDuringStreamCreateAndUpdate crashes a stream create, then a
// stream update, then its delete, after every file-system operation they
// make: the stream comes back with no meta.json torn, with the old or the
// new config and its messages, and works; a delete leaves the whole stream
// or nothing of it.
func TestCrashDuringStreamCreateAndUpdate(t *testing.T) {
	for _, k := range crashKeeps {
		t.Run(k.name, func(t *testing.T) { crashStreamCreateAndUpdate(t, newCrashStore(t, k.keep)) })
	}
}

func crashStreamCreateAndUpdate(t *testing.T, c *crashStore) {
	a, js := c.start(c.rec)
	cfg1 := &nats.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Description: "first"}
	c.rec.Record()
	_, err := js.AddStream(cfg1)
	must(t, err)
	created := c.rec.Stop()
	for i := 1; i <= 3; i++ {
		_, err := js.Publish(fmt.Sprint("s.", i), []byte(fmt.Sprint(i)))
		must(t, err)
	}
	cfg2 := &nats.StreamConfig{Name: "S", Subjects: []string{"s.>", "t"}, Description: "second", MaxMsgs: 100}
	c.rec.Record()
	_, err = js.UpdateStream(cfg2)
	must(t, err)
	updated := c.rec.Stop()
	c.rec.Record()
	must(t, js.DeleteStream("S"))
	deleted := c.rec.Stop()
	stop(a)

	c.eachImage(created, func(img crashfs.Image, last bool, js nats.JetStreamContext) {
		op := img.Op
		si, err := js.StreamInfo("S")
		if errors.Is(err, nats.ErrStreamNotFound) {
			// The create did not survive, and left no meta.json it
			// could not read; nothing of it blocks a new one.
			if last || c.has(img, "S/meta.json") {
				t.Fatalf("after %s: the stream did not come back", op)
			}
			_, err = js.AddStream(cfg1)
			if err != nil {
				t.Fatalf("after %s: create again: %v", op, err)
			}
		} else if err != nil {
			t.Fatalf("after %s: %v", op, err)
		} else {
			if si.Config.Description != "first" || si.State.Msgs != 0 {
				t.Fatalf("after %s: %+v %+v", op, si.Config, si.State)
			}
		}
		if pa, err := js.Publish("s.x", []byte("x")); err != nil || pa.Sequence != 1 {
			t.Fatalf("after %s: publish: %+v %v", op, pa, err)
		}
	})
	var olds, news int
	c.eachImage(updated, func(img crashfs.Image, last bool, js nats.JetStreamContext) {
		op := img.Op
		si, err := js.StreamInfo("S")
		if err != nil {
			t.Fatalf("after %s: %v", op, err)
		}
		switch {
		case si.Config.Description == "first" && reflect.DeepEqual(si.Config.Subjects, cfg1.Subjects) && si.Config.MaxMsgs <= 0:
			olds++
		case si.Config.Description == "second" && reflect.DeepEqual(si.Config.Subjects, cfg2.Subjects) && si.Config.MaxMsgs == 100:
			news++
		case last:
			t.Fatalf("after %s: the update did not survive its end: %+v", op, si.Config)
		default:
			t.Fatalf("after %s: config is neither the old nor the new: %+v", op, si.Config)
		}
		if si.State.Msgs != 3 || si.State.LastSeq != 3 {
			t.Fatalf("after %s: state %+v", op, si.State)
		}
		if pa, err := js.Publish("s.x", []byte("x")); err != nil || pa.Sequence != 4 {
			t.Fatalf("after %s: publish: %+v %v", op, pa, err)
		}
	})
	if olds == 0 || news == 0 {
		t.Fatalf("crash points found the old config %d times, the new %d times", olds, news)
	}
	c.eachImage(deleted, func(img crashfs.Image, last bool, js nats.JetStreamContext) {
		si, err := js.StreamInfo("S")
		switch {
		case errors.Is(err, nats.ErrStreamNotFound):
			// Gone whole: a new stream of that name starts empty.
			si, err = js.AddStream(cfg1)
			if err != nil || si.State.Msgs != 0 || si.State.LastSeq != 0 {
				t.Fatalf("after %s: create again: %+v %v", img.Op, si, err)
			}
		case err != nil:
			t.Fatalf("after %s: %v", img.Op, err)
		case last:
			t.Fatalf("after %s: the deleted stream came back", img.Op)
		case si.State.Msgs != 3 || si.Config.Description != "second":
			t.Fatalf("after %s: half-deleted stream %+v %+v", img.Op, si.Config, si.State)
		}
	})
}

// TestCrashDuringConsumerWrites crashes a durable consumer's create, and
// then its state writes while messages are delivered and acknowledged,
// after every file-system operation: the consumer comes back with its
// config and a consistent state no older than what an acknowledged
// double ack made durable, and delivers the next message.
func TestCrashDuringConsumerWrites(t *testing.T) {
	for _, k := range crashKeeps {
		t.Run(k.name, func(t *testing.T) { crashConsumerWrites(t, newCrashStore(t, k.keep)) })
	}
}

func crashConsumerWrites(t *testing.T, c *crashStore) {
	a, js := c.start(c.rec)
	_, err := js.AddStream(&nats.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	must(t, err)
	const total = 6
	for i := 1; i <= total; i++ {
		_, err := js.Publish(fmt.Sprint("s.", i), []byte(fmt.Sprint(i)))
		must(t, err)
	}
	ccfg := &nats.ConsumerConfig{Durable: "C", AckPolicy: nats.AckExplicitPolicy, AckWait: time.Minute, Description: "kept"}
	c.rec.Record()
	_, err = js.AddConsumer("S", ccfg)
	must(t, err)
	created := c.rec.Stop()

	sub, err := js.PullSubscribe("", "C", nats.Bind("S", "C"))
	must(t, err)
	c.rec.Record()
	msgs, err := sub.Fetch(3, nats.MaxWait(5*time.Second))
	must(t, err)
	if len(msgs) != 3 {
		t.Fatalf("fetched %d", len(msgs))
	}
	// Double acks: each returns once the state holding it is durable.
	must(t, msgs[0].AckSync())
	must(t, msgs[1].AckSync())
	acked := c.rec.Stop()
	stop(a)

	check := func(op string, js nats.JetStreamContext, minFloor uint64) {
		ci, err := js.ConsumerInfo("S", "C")
		if err != nil {
			t.Fatalf("after %s: consumer info: %v", op, err)
		}
		if ci.Config.Description != "kept" || ci.Config.AckWait != time.Minute {
			t.Fatalf("after %s: config %+v", op, ci.Config)
		}
		d, f := ci.Delivered.Stream, ci.AckFloor.Stream
		if d > 3 || f > 2 || f > d || uint64(ci.NumAckPending) != d-f || ci.NumPending != total-d {
			t.Fatalf("after %s: inconsistent state: delivered %d floor %d ack pending %d pending %d",
				op, d, f, ci.NumAckPending, ci.NumPending)
		}
		if f < minFloor {
			t.Fatalf("after %s: ack floor %d, want at least %d", op, f, minFloor)
		}
		sub, err := js.PullSubscribe("", "C", nats.Bind("S", "C"))
		if err != nil {
			t.Fatalf("after %s: bind: %v", op, err)
		}
		next, err := sub.Fetch(1, nats.MaxWait(5*time.Second))
		if err != nil || len(next) != 1 {
			t.Fatalf("after %s: fetch: %v", op, err)
		}
		if m, _ := next[0].Metadata(); m == nil || m.Sequence.Stream != d+1 {
			t.Fatalf("after %s: next delivery %+v, want stream seq %d", op, m, d+1)
		}
	}
	c.eachImage(created, func(img crashfs.Image, last bool, js nats.JetStreamContext) {
		if _, err := js.ConsumerInfo("S", "C"); errors.Is(err, nats.ErrConsumerNotFound) {
			// The create did not survive, and left no meta.json it
			// could not read.
			if last || c.has(img, "S/consumers/C/meta.json") {
				t.Fatalf("after %s: the consumer did not come back", img.Op)
			}
			if _, err := js.AddConsumer("S", ccfg); err != nil {
				t.Fatalf("after %s: create again: %v", img.Op, err)
			}
		}
		check(img.Op, js, 0)
	})
	for i, img := range acked {
		minFloor := uint64(0)
		if i == len(acked)-1 {
			minFloor = 2 // both AckSync calls had returned
		}
		t.Logf("crash after %s", img.Op)
		a, js := c.start(img.FS)
		check(img.Op, js, minFloor)
		stop(a)
	}
}

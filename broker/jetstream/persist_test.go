package jetstream_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/log"
	"github.com/nats-io/nats.go/jetstream"
)

// gateFS holds every fsync of a file whose path contains one of the
// watched fragments while the gate is shut, and reports each held fsync
// on entered. It is the OS file system otherwise.
type gateFS struct {
	log.OSFS
	watch   []string
	entered chan string
	mu      sync.Mutex // guards open
	open    chan struct{}
}

func newGateFS(watch ...string) *gateFS {
	g := &gateFS{watch: watch, entered: make(chan string, 64), open: make(chan struct{})}
	close(g.open)
	return g
}

// shut makes later fsyncs of watched files wait for release.
func (g *gateFS) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

// release lets every held and later fsync through.
func (g *gateFS) release() {
	g.mu.Lock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
	g.mu.Unlock()
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (log.File, error) {
	f, err := g.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	for _, w := range g.watch {
		if strings.Contains(name, w) {
			return &gatedFile{File: f, g: g, name: name}, nil
		}
	}
	return f, nil
}

type gatedFile struct {
	log.File
	g    *gateFS
	name string
}

func (f *gatedFile) Sync() error {
	f.g.mu.Lock()
	open := f.g.open
	f.g.mu.Unlock()
	select {
	case <-open:
	default:
		select {
		case f.g.entered <- f.name:
		default:
		}
		<-open
	}
	return f.File.Sync()
}

// TestPersistModeAsync: a stream with persist_mode async acknowledges a
// publish while its fsync cannot happen; a default stream on the same
// server acknowledges only after its fsync. The config shows the mode and
// API level 2, and the messages survive a clean restart.
func TestPersistModeAsync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	gfs := newGateFS("/ASYNC/msgs/", "/SYNC/msgs/")
	a := startServer(t, dir, func(c *app.Config) { c.StoreFS = gfs })
	t.Cleanup(gfs.release) // before the server's stop
	js, err := jetstream.New(connect(t, a.ClientURL()))
	must(t, err)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ASYNC", Subjects: []string{"async.>"},
		PersistMode: jetstream.AsyncPersistMode})
	must(t, err)
	if s.CachedInfo().Config.PersistMode != jetstream.AsyncPersistMode || s.CachedInfo().Config.Metadata["_nats.req.level"] != "2" {
		t.Fatalf("config: %+v", s.CachedInfo().Config)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "SYNC", Subjects: []string{"sync.>"}})
	must(t, err)

	gfs.shut()
	for i := range 20 {
		ack, err := js.Publish(ctx, "async.x", []byte("m"))
		must(t, err)
		if ack.Sequence != uint64(i+1) {
			t.Fatalf("ack %+v", ack)
		}
	}
	f, err := js.PublishAsync("sync.x", []byte("m"))
	must(t, err)
	for name := ""; !strings.Contains(name, "/SYNC/msgs/"); {
		select {
		case name = <-gfs.entered:
		case <-ctx.Done():
			t.Fatal("the default stream never fsynced")
		}
	}
	select {
	case ack := <-f.Ok():
		t.Fatalf("default stream acknowledged before its fsync: %+v", ack)
	case err := <-f.Err():
		t.Fatal(err)
	default:
	}
	gfs.release()
	select {
	case <-f.Ok():
	case err := <-f.Err():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no PubAck after the fsync")
	}

	stop(a)
	a = startServer(t, dir, nil)
	js, err = jetstream.New(connect(t, a.ClientURL()))
	must(t, err)
	s, err = js.Stream(ctx, "ASYNC")
	must(t, err)
	info := s.CachedInfo()
	if info.State.Msgs != 20 || info.Config.PersistMode != jetstream.AsyncPersistMode {
		t.Fatalf("after restart: %+v %v", info.State, info.Config.PersistMode)
	}
}

// TestPersistModeAsyncRefusals: the configs nats-server refuses with an
// async persist mode get its 10052 and wording.
func TestPersistModeAsyncRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startServer(t, "", nil)
	js, err := jetstream.New(connect(t, a.ClientURL()))
	must(t, err)
	for _, c := range []struct {
		cfg  jetstream.StreamConfig
		want string
	}{
		{jetstream.StreamConfig{Name: "M", Storage: jetstream.MemoryStorage, PersistMode: jetstream.AsyncPersistMode},
			"async persist mode is only supported on file storage"},
		{jetstream.StreamConfig{Name: "A", AllowAtomicPublish: true, PersistMode: jetstream.AsyncPersistMode},
			"async persist mode is not supported with atomic batch publish"},
	} {
		_, err := js.CreateStream(ctx, c.cfg)
		wantJSErr(t, err, c.want)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S"})
	must(t, err)
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "S", PersistMode: jetstream.AsyncPersistMode})
	wantJSErr(t, err, "stream configuration update can not change persist mode")
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "AS", PersistMode: jetstream.AsyncPersistMode})
	must(t, err)
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "AS"})
	wantJSErr(t, err, "stream configuration update can not change persist mode")
}

// wantJSErr fails unless err is the API error 10052 with description desc.
func wantJSErr(t testing.TB, err error, desc string) {
	t.Helper()
	var ae *jetstream.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != 10052 || ae.Description != desc {
		t.Fatalf("err = %v, want 10052 %q", err, desc)
	}
}

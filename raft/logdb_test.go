package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v3/raftio"
	pb "github.com/lni/dragonboat/v3/raftpb"

	"github.com/bargemq/barge/log"
)

// ents builds entries low..high of term, each with a cmd naming it.
func ents(low, high, term uint64) []pb.Entry {
	var out []pb.Entry
	for i := low; i <= high; i++ {
		out = append(out, pb.Entry{Index: i, Term: term, Type: pb.EncodedEntry, Key: i + 100, Cmd: []byte(fmt.Sprint("e", i, "t", term))})
	}
	return out
}

// iterate reads [low, high) through the ILogDB.
func iterate(t *testing.T, db *logDB, shard, low, high uint64) []pb.Entry {
	t.Helper()
	got, _, err := db.IterateEntries(nil, 0, shard, 1, low, high, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameEntries(t *testing.T, got, want []pb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || g.Key != w.Key || string(g.Cmd) != string(w.Cmd) {
			t.Fatalf("entry %d: got %+v, want %+v", w.Index, g, w)
		}
	}
}

// TestLogDBContract runs the ILogDB methods Dragonboat uses against the
// real store: bootstrap, saving entries and state, a conflicting tail
// replaced, snapshot records and a received snapshot's reset, the floor,
// and a reopen after each step.
func TestLogDBContract(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	db := newLogDB(1)
	open := func() {
		t.Helper()
		if _, err := db.open(5, dir, log.Config{}, log.Options{SegmentSize: 4 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	reopen := func() {
		t.Helper()
		if err := db.release(db.store(5)); err != nil {
			t.Fatal(err)
		}
		open()
	}
	open()
	defer func() { db.Close() }()
	if _, err := db.GetBootstrapInfo(5, 1); !errors.Is(err, raftio.ErrNoBootstrapInfo) {
		t.Fatalf("bootstrap of a new shard: %v", err)
	}
	if _, err := db.ReadRaftState(5, 1, 0); !errors.Is(err, raftio.ErrNoSavedLog) {
		t.Fatalf("state of a new shard: %v", err)
	}
	// A vote before any entry: a state and no entries.
	if err := db.SaveRaftState([]pb.Update{{ClusterID: 5, NodeID: 1, State: pb.State{Term: 1, Vote: 2}}}, 1); err != nil {
		t.Fatal(err)
	}
	reopen()
	if rs, err := db.ReadRaftState(5, 1, 0); err != nil || rs.EntryCount != 0 || rs.State != (pb.State{Term: 1, Vote: 2}) {
		t.Fatalf("state without entries: %+v %v", rs, err)
	}
	if got := iterate(t, db, 5, 1, 10); len(got) != 0 {
		t.Fatalf("%d entries", len(got))
	}
	bs := pb.Bootstrap{Addresses: map[uint64]string{1: "a:1", 2: "b:2"}, Type: pb.OnDiskStateMachine}
	if err := db.SaveBootstrapInfo(5, 1, bs); err != nil {
		t.Fatal(err)
	}
	want := ents(1, 40, 1)
	for i := 0; i < len(want); i += 7 {
		ud := pb.Update{ClusterID: 5, NodeID: 1, EntriesToSave: want[i:min(i+7, len(want))], State: pb.State{Term: 1, Vote: 2, Commit: uint64(i)}}
		if err := db.SaveRaftState([]pb.Update{ud}, 1); err != nil {
			t.Fatal(err)
		}
	}
	check := func(snapIndex, first, count uint64, st pb.State, want []pb.Entry) {
		t.Helper()
		rs, err := db.ReadRaftState(5, 1, snapIndex)
		if err != nil || rs.FirstIndex != first || rs.EntryCount != count || rs.State != st {
			t.Fatalf("raft state %+v %v, want first %d count %d state %+v", rs, err, first, count, st)
		}
		sameEntries(t, iterate(t, db, 5, first, first+count), want)
	}
	check(0, 1, 40, pb.State{Term: 1, Vote: 2, Commit: 35}, want)
	reopen()
	check(0, 1, 40, pb.State{Term: 1, Vote: 2, Commit: 35}, want)
	if got, err := db.GetBootstrapInfo(5, 1); err != nil || len(got.Addresses) != 2 || got.Type != pb.OnDiskStateMachine {
		t.Fatalf("bootstrap after reopen: %+v %v", got, err)
	}

	// A new leader replaces the uncommitted tail from 36.
	repl := ents(36, 38, 2)
	if err := db.SaveRaftState([]pb.Update{{ClusterID: 5, NodeID: 1, EntriesToSave: repl, State: pb.State{Term: 2, Vote: 3, Commit: 36}}}, 1); err != nil {
		t.Fatal(err)
	}
	want = append(want[:35], repl...)
	check(0, 1, 38, pb.State{Term: 2, Vote: 3, Commit: 36}, want)
	reopen()
	check(0, 1, 38, pb.State{Term: 2, Vote: 3, Commit: 36}, want)
	// maxSize: the entry that passes it is the last one returned.
	if got, _, err := db.IterateEntries(nil, 0, 5, 1, 1, 39, 1); err != nil || len(got) != 1 {
		t.Fatalf("maxSize 1: %d entries, %v", len(got), err)
	}

	// Snapshot records, and the floor.
	for _, idx := range []uint64{10, 20} {
		if err := db.SaveSnapshots([]pb.Update{{ClusterID: 5, NodeID: 1, Snapshot: pb.Snapshot{Index: idx, Term: 1, Dummy: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RemoveEntriesTo(5, 1, 15); err != nil {
		t.Fatal(err)
	}
	check(20, 21, 18, pb.State{Term: 2, Vote: 3, Commit: 36}, want[20:])
	reopen()
	if ss, err := db.ListSnapshots(5, 1, 15); err != nil || len(ss) != 1 || ss[0].Index != 10 {
		t.Fatalf("snapshots up to 15: %+v %v", ss, err)
	}
	if err := db.DeleteSnapshot(5, 1, 10); err != nil {
		t.Fatal(err)
	}
	if ss, _ := db.ListSnapshots(5, 1, 100); len(ss) != 1 || ss[0].Index != 20 {
		t.Fatalf("after delete: %+v", ss)
	}

	// A received snapshot at 50 restarts the log after it.
	after := ents(51, 52, 3)
	ud := pb.Update{ClusterID: 5, NodeID: 1, Snapshot: pb.Snapshot{Index: 50, Term: 3}, EntriesToSave: after, State: pb.State{Term: 3, Commit: 50}}
	if err := db.SaveRaftState([]pb.Update{ud}, 1); err != nil {
		t.Fatal(err)
	}
	check(50, 51, 2, pb.State{Term: 3, Commit: 50}, after)
	reopen()
	check(50, 51, 2, pb.State{Term: 3, Commit: 50}, after)
	if ss, _ := db.ListSnapshots(5, 1, 100); len(ss) != 2 || ss[1].Index != 50 {
		t.Fatalf("received snapshot not recorded: %+v", ss)
	}
}

// TestLogDBParallelShards saves updates of several shards in one call.
func TestLogDBParallelShards(t *testing.T) {
	root := t.TempDir()
	db := newLogDB(1)
	defer db.Close()
	var uds []pb.Update
	for id := uint64(1); id <= 4; id++ {
		if _, err := db.open(id, filepath.Join(root, fmt.Sprint(id)), log.Config{}, log.Options{}); err != nil {
			t.Fatal(err)
		}
		uds = append(uds, pb.Update{ClusterID: id, NodeID: 1, EntriesToSave: ents(1, id, 1), State: pb.State{Term: 1, Commit: id}})
	}
	if err := db.SaveRaftState(uds, 1); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 4; id++ {
		sameEntries(t, iterate(t, db, id, 1, id+1), ents(1, id, 1))
	}
	if _, err := db.open(2, filepath.Join(root, "2"), log.Config{}, log.Options{}); err == nil {
		t.Fatal("a shard's store opened twice")
	}
}

// TestNodeHostRefusesOldLayout: a data directory written with Dragonboat's
// Pebble log store is refused with a message saying what to do; so is a
// replica directory of version-1 segments.
func TestNodeHostRefusesOldLayout(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nodehost"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := NewNodeHost(Config{NodeID: 1, RaftAddress: freePort(t), DataDir: dir})
	if !errors.Is(err, ErrOldLayout) || !strings.Contains(err.Error(), "remove "+dir) {
		t.Fatalf("old layout: %v", err)
	}
	sdir := filepath.Join(t.TempDir(), "msgs")
	l, err := log.Open(sdir, log.Config{}, log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	db := newLogDB(1)
	defer db.Close()
	if _, err := db.open(9, sdir, log.Config{}, log.Options{}); !errors.Is(err, ErrOldLayout) {
		t.Fatalf("old replica segments: %v", err)
	}
}

// TestStreamRestartAll stops every host of a shard and starts them again:
// each replica resumes from its own log (entries, state, applied marker)
// and publishing goes on with the next sequences.
func TestStreamRestartAll(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id := range c.hosts {
		shards[id] = c.startStream(id, 11)
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(11) != 0 })
	want := map[uint64][]byte{}
	for i := range 30 {
		publish(t, shards[uint64(i%3+1)], want, payload(i, 100+i*20000))
	}
	for _, s := range shards {
		checkReplica(t, s, want)
	}
	for id := range c.addrs {
		c.stop(id)
	}
	for id := range c.addrs {
		c.start(id)
		shards[id] = c.startStream(id, 11)
	}
	eventually(t, 30*time.Second, "a leader after the restart", func() bool { return c.leader(11) != 0 })
	for _, s := range shards {
		checkReplica(t, s, want)
	}
	for i := range 5 {
		publish(t, shards[uint64(i%3+1)], want, payload(100+i, 3000))
	}
	for _, s := range shards {
		checkReplica(t, s, want)
	}
}

// TestStreamSnapshotWhileEntriesArrive: a follower far behind gets a
// snapshot while publishes go on. Its install is held (the file system
// blocks the received segments' fsync) until more messages are committed,
// which raft sends it meanwhile: the install keeps them (copied behind the
// reset), and every replica ends with the same messages.
func TestStreamSnapshotWhileEntriesArrive(t *testing.T) {
	gate := &gateFS{FS: log.OSFS{}, hold: make(chan struct{})}
	kept := &attrHandler{msg: "raft: snapshot installed", key: "entries_kept"}
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.CompactionOverhead = 10, 2
		cfg.FS, cfg.Logger = gate, slog.New(kept)
	})
	shards := map[uint64]*StreamShard{}
	for id := range c.hosts {
		shards[id] = c.startStream(id, 12)
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(12) != 0 })
	var lag uint64
	for id := range shards {
		if id != c.leader(12) {
			lag = id
		}
	}
	c.stop(lag)
	delete(shards, lag)
	var live *StreamShard
	for _, s := range shards {
		live = s
	}
	want := map[uint64][]byte{}
	for i := range 60 {
		publish(t, live, want, payload(i, 2000+i*700))
	}
	c.start(lag)
	shards[lag] = c.startStream(lag, 12)
	select {
	case <-gate.held():
	case <-time.After(30 * time.Second):
		t.Fatal("no snapshot install began")
	}
	for i := 60; i < 80; i++ {
		publish(t, live, want, payload(i, 1000))
	}
	// Let raft hand the follower the new entries before the install ends.
	eventually(t, 30*time.Second, "entries saved on the installing follower", func() bool {
		st := c.hosts[lag].db.store(12)
		st.mu.RLock()
		defer st.mu.RUnlock()
		first, last := st.l.RaftRange()
		return first > 1 && last >= first // a reset, and entries after it
	})
	close(gate.hold)
	for _, s := range shards {
		checkReplica(t, s, want)
	}
	if n := kept.value.Load(); n == 0 {
		t.Fatalf("the install kept no entries (%d)", n)
	}
	// One log generation is left, and the replica restarts from it.
	gens, _ := filepath.Glob(filepath.Join(c.streamDir(lag, 12), "log.*"))
	if len(gens) != 1 {
		t.Fatalf("log generations left: %v", gens)
	}
	c.stop(lag)
	c.start(lag)
	shards[lag] = c.startStream(lag, 12)
	checkReplica(t, shards[lag], want)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := shards[lag].PublishBytes(ctx, fmt.Sprint("s.", len(want)+1), nil, []byte("after")); err != nil {
		t.Fatal(err)
	}
}

// gateFS holds the first fsync of a file in a log generation other than
// the first (a snapshot being received) until hold is closed.
type gateFS struct {
	log.FS
	hold  chan struct{}
	once  sync.Once
	began chan struct{}
	mu    sync.Mutex
}

func (g *gateFS) held() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.began == nil {
		g.began = make(chan struct{})
	}
	return g.began
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (log.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, "/log.2/") || flag&os.O_CREATE == 0 {
		return f, err
	}
	return &gateFile{File: f, g: g}, nil
}

type gateFile struct {
	log.File
	g *gateFS
}

func (f *gateFile) Sync() error {
	f.g.once.Do(func() {
		close(f.g.held())
		<-f.g.hold
	})
	return f.File.Sync()
}

// attrHandler keeps the int attribute key of the last record msg.
type attrHandler struct {
	msg, key string
	value    atomic.Int64
}

func (h *attrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *attrHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *attrHandler) WithGroup(string) slog.Handler            { return h }
func (h *attrHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != h.msg {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == h.key {
			h.value.Store(a.Value.Int64())
		}
		return true
	})
	return nil
}

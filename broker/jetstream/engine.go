package jetstream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// Options configure an Engine. StoreDir is required; the rest have defaults.
type Options struct {
	// StoreDir is the server's store_dir; streams live in
	// <StoreDir>/jetstream/<stream>/.
	StoreDir string
	// Sync is the durability policy of every stream's log: log.SyncAlways
	// (default: a PubAck means fsynced) or log.SyncInterval.
	Sync log.SyncPolicy
	// SyncInterval is the flush period under log.SyncInterval (default 1s).
	SyncInterval time.Duration
	// Clock drives max_age, the duplicate window and consumer timers
	// (default broker.SystemClock).
	Clock broker.Clock
	// Logger receives stream errors and recovery reports (default: discard).
	Logger *slog.Logger
	// MaxMemory and MaxStore are the account limits reported by $JS.API.INFO
	// and checked when a stream is created with max_bytes; <= 0 is unlimited.
	MaxMemory int64
	MaxStore  int64
	// MaxPayload is the server's max_payload: a stream's max_msg_size may
	// not exceed it (0: not checked).
	MaxPayload int64
	// SegmentSize and ChunkSize tune the logs (0: the log's defaults).
	SegmentSize int64
	ChunkSize   int
	// Clustered says SetCluster will follow (cluster_size is set): until
	// the meta shard has a leader, API requests wait for one and are then
	// answered 10008 (api_refuse.go), never served by a standalone engine.
	Clustered bool
	// ServerName is this server's name, stream info's cluster leader of
	// a per-node stream (default: srv.ID()); ClusterName the cluster's
	// name, stream info's cluster name ("" outside a cluster).
	ServerName, ClusterName string
	// VerifyRate paces each log's background verification of its sealed
	// segments after startup, bytes per second (0: the log's default; < 0:
	// off). See log.Options.VerifyRate.
	VerifyRate int64
	// FS is the file system every file of the streams goes through (the
	// log's seam; nil: the OS): the R1 streams' message logs, each
	// stream's meta.json and its consumers' config and state.
	FS log.FS
}

// Engine is JetStream on one server: the streams, the $JS.API handlers and
// the capture of published messages into streams.
type Engine struct {
	srv *broker.Server
	o   Options
	dir string
	log *slog.Logger
	api *apiQueue

	// subjects indexes every stream subject; a match names the stream that
	// captures a published subject (overlaps are refused, so at most one).
	subjects *broker.Sublist

	mu struct {
		sync.RWMutex
		streams map[string]*stream
		// bySub maps each subjects entry to its stream; subsOf lists a
		// registered stream's entries.
		bySub  map[*broker.Subscription]*stream
		subsOf map[*stream][]*broker.Subscription
		// filters holds every registered stream's subjects, owned by the
		// stream's name, and those of creates in progress (reserved):
		// the overlap check (overlapLocked) asks it.
		filters subject.FilterTree
		// reserved names the streams whose create is in progress
		// (createStream works on the disk without the lock).
		reserved map[string]bool
		closed   bool
	}
	apiSub *broker.Subscription
	// cl is the clustered side (SetCluster); nil when standalone.
	cl atomic.Pointer[clusterState]
	// ready latches once a clustered engine's meta shard had a leader.
	ready metaReady
	// quit is closed when Close begins, ending waits for the meta shard.
	quit chan struct{}

	// maxPayload is Options.MaxPayload in force (SetMaxPayload).
	maxPayload atomic.Int64

	pubs      sync.Pool // *pub
	bufs      sync.Pool // *replyBuf
	apiTotal  atomic.Uint64
	apiErrors atomic.Uint64
}

// New loads every stream (and its consumers) from
// <StoreDir>/jetstream, subscribes the JetStream API on srv and installs
// the stream capturer. It must run before srv accepts clients. A stream
// that fails to load is logged and skipped, not fatal.
func New(srv *broker.Server, o Options) (*Engine, error) {
	if o.StoreDir == "" {
		return nil, errors.New("jetstream: no store dir")
	}
	if o.Clock == nil {
		o.Clock = broker.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.FS == nil {
		o.FS = log.OSFS{}
	}
	if o.ServerName == "" {
		o.ServerName = srv.ID()
	}
	e := &Engine{srv: srv, o: o, dir: filepath.Join(o.StoreDir, "jetstream"), log: o.Logger,
		subjects: broker.NewSublist(0), quit: make(chan struct{})}
	e.maxPayload.Store(o.MaxPayload)
	e.mu.streams = make(map[string]*stream)
	e.mu.bySub = make(map[*broker.Subscription]*stream)
	e.mu.subsOf = make(map[*stream][]*broker.Subscription)
	e.mu.reserved = make(map[string]bool)
	e.pubs.New = func() any { return &pub{} }
	if err := log.MkdirDurable(o.FS, e.dir); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := e.load(); err != nil {
		return nil, err
	}
	e.api = newAPIQueue(e)
	sub, err := srv.SubscribeInternalOversize(jsapi.APIWildcard, e.api.enqueue)
	if err != nil {
		e.closeStreams()
		e.api.close()
		return nil, fmt.Errorf("jetstream: subscribe api: %w", err)
	}
	e.apiSub = sub
	srv.SetCapturer(e)
	return e, nil
}

// SetMaxPayload changes Options.MaxPayload, the bound on a new or updated
// stream's max_msg_size (0: not checked). Safe for concurrent use.
func (e *Engine) SetMaxPayload(n int64) { e.maxPayload.Store(n) }

// load opens every stream directory under e.dir.
func (e *Engine) load() error {
	names, err := e.o.FS.List(e.dir)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	for _, name := range names {
		dir := filepath.Join(e.dir, name)
		if strings.HasSuffix(name, log.DeletingSuffix) {
			e.o.FS.RemoveAll(dir) // a delete interrupted by a crash
			continue
		}
		m, err := e.readMeta(dir)
		if errors.Is(err, syscall.ENOTDIR) {
			continue // a file, not a stream
		}
		if err != nil {
			e.log.Error("jetstream: stream not loaded", "dir", dir, "err", err)
			continue
		}
		if m.Replicated {
			continue // started by the cluster's meta shard (cluster.go)
		}
		st, err := e.openStream(dir, m.Config, m.Created)
		if err != nil {
			e.log.Error("jetstream: stream not loaded", "stream", m.Config.Name, "err", err)
			continue
		}
		if err := e.registerLocked(st); err != nil {
			st.close()
			e.log.Error("jetstream: stream not loaded", "stream", m.Config.Name, "err", err)
		}
	}
	return nil
}

// registerLocked adds st to the registry and its subjects to the capture
// index and the overlap tree. e.mu must be held (or the engine not yet
// shared).
func (e *Engine) registerLocked(st *stream) error {
	cfg := st.Config()
	added := make([]*broker.Subscription, 0, len(cfg.Subjects))
	for _, subj := range cfg.Subjects {
		sub := &broker.Subscription{Subject: subj}
		if err := e.subjects.Insert(sub); err != nil {
			e.subjects.RemoveBatch(added)
			for _, s := range added {
				delete(e.mu.bySub, s)
			}
			return err
		}
		added = append(added, sub)
		e.mu.bySub[sub] = st
	}
	for _, subj := range cfg.Subjects {
		e.mu.filters.Add(subj, st.name) // present already when reserved
	}
	e.mu.subsOf[st] = added
	e.mu.streams[st.name] = st
	return nil
}

// unregisterLocked removes st's subjects from the capture index and the
// overlap tree, and st from the registry.
func (e *Engine) unregisterLocked(st *stream) {
	subs := e.mu.subsOf[st]
	for _, sub := range subs {
		delete(e.mu.bySub, sub)
		e.mu.filters.Remove(sub.Subject, st.name)
	}
	delete(e.mu.subsOf, st)
	e.subjects.RemoveBatch(subs)
	delete(e.mu.streams, st.name)
}

// streamFor returns the stream that captures subject, or nil.
func (e *Engine) streamFor(subject []byte) *stream {
	r := e.subjects.Match(subject)
	if len(r.Psubs) == 0 {
		return nil
	}
	e.mu.RLock()
	st := e.mu.bySub[r.Psubs[0]]
	e.mu.RUnlock()
	return st
}

// lookup returns the stream named name, or nil.
func (e *Engine) lookup(name string) *stream {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mu.streams[name]
}

// DamagedMsgs counts the messages of this server's streams found damaged
// (a checksum failed, at recovery or by the background verification of
// sealed segments): each stream lists them in its state's lost.msgs.
func (e *Engine) DamagedMsgs() uint64 {
	var n uint64
	for _, st := range e.sortedStreams() {
		n += uint64(len(st.store.Reader().State().Lost))
	}
	return n
}

// sortedStreams returns the streams sorted by name.
func (e *Engine) sortedStreams() []*stream {
	e.mu.RLock()
	out := make([]*stream, 0, len(e.mu.streams))
	for _, st := range e.mu.streams {
		out = append(out, st)
	}
	e.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// overlaps is overlapLocked under e.mu's read lock.
func (e *Engine) overlaps(self string, subjects []string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.overlapLocked(self, subjects)
}

// overlapLocked reports whether subjects collide with a stream other than
// self's (or a create in progress): one tree search per subject.
func (e *Engine) overlapLocked(self string, subjects []string) bool {
	for _, subj := range subjects {
		if _, ok := e.mu.filters.OverlapOther(subj, self); ok {
			return true
		}
	}
	return false
}

// Close unsubscribes the API, stops capturing, and closes every stream
// (consumers keep their state; logs apply and sync what is committed).
// Publishes already captured finish with an error reply. Closing twice is a
// no-op.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return nil
	}
	e.mu.closed = true
	e.mu.Unlock()
	close(e.quit)
	if e.apiSub != nil {
		e.srv.UnsubscribeInternal(e.apiSub)
	}
	e.api.close()
	e.stopCluster()
	return e.closeStreams()
}

func (e *Engine) closeStreams() error {
	e.mu.Lock()
	streams := e.mu.streams
	e.mu.streams = make(map[string]*stream)
	e.mu.bySub = make(map[*broker.Subscription]*stream)
	e.mu.subsOf = make(map[*stream][]*broker.Subscription)
	e.mu.filters = subject.FilterTree{}
	e.mu.Unlock()
	var errs []error
	for _, st := range streams {
		if err := st.close(); err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", st.name, err))
		}
	}
	return errors.Join(errs...)
}

// usage sums the streams' bytes by storage kind, and counts streams and
// consumers, for $JS.API.INFO.
func (e *Engine) usage() (mem, store uint64, streams, consumers int) {
	for _, st := range e.sortedStreams() {
		st2 := st.store.Reader().State()
		if st.Config().Storage == jsapi.MemoryStorage {
			mem += st2.Bytes
		} else {
			store += st2.Bytes
		}
		streams++
		consumers += st.cons.Count()
	}
	return
}

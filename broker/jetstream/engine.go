package jetstream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	// Account is the account whose JetStream this engine is (nil: the
	// global account).
	Account *broker.Account
	// MaxStreams and MaxConsumers are the account's limits on streams
	// and on consumers (all streams together); <= 0 is unlimited.
	MaxStreams, MaxConsumers int
	// FS is the file system every file of the streams goes through (the
	// log's seam; nil: the OS): the R1 streams' message logs, each
	// stream's meta.json and its consumers' config and state.
	FS log.FS
}

// Engine is JetStream on one server: the streams, the $JS.API handlers and
// the capture of published messages into streams.
type Engine struct {
	// srv is the account the engine serves: its API, capture and
	// deliveries live in that account's subject space.
	srv *broker.Account
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

	// atomicOpen counts the open atomic batches of every stream
	// (batch_atomic.go).
	atomicOpen atomic.Int64
	// fastOpen counts the open fast batches (batch_fast.go).
	fastOpen atomic.Int64

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
	acc := o.Account
	if acc == nil {
		acc = srv.GlobalAccount()
	}
	e := &Engine{srv: acc, o: o, dir: filepath.Join(o.StoreDir, "jetstream"), log: o.Logger,
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
	sub, err := acc.SubscribeInternalOversize(jsapi.APIWildcard, e.api.enqueue)
	if err != nil {
		e.closeStreams()
		e.api.close()
		return nil, fmt.Errorf("jetstream: subscribe api: %w", err)
	}
	e.apiSub = sub
	acc.SetCapturer(e)
	for _, st := range e.sortedStreams() {
		st.startFeeds() // once the registry is shared: feeds read it locked
	}
	return e, nil
}

// SetMaxPayload changes Options.MaxPayload, the bound on a new or updated
// stream's max_msg_size (0: not checked). Safe for concurrent use.
func (e *Engine) SetMaxPayload(n int64) { e.maxPayload.Store(n) }

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

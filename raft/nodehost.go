package raft

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lni/dragonboat/v3"
	"github.com/lni/dragonboat/v3/config"

	"github.com/bargemq/barge/log"
)

// Timing defaults. Dragonboat counts time in ticks of RTT; with 1 ms ticks
// a leader heartbeats every 100 ms (100 ticks) and a follower waits 1 to
// 2 s (randomized from ElectionRTT) before it stands for election. The
// tick is short because Dragonboat frees the entries its in-memory raft
// log has applied only every 100 ticks: with 10 ms ticks a node kept up to
// a second of published data alive (68 of a leader's 158 MB of heap at
// 1 MiB publishes); 2 ms ticks kept a fifth of a second, 1 ms a tenth
// (summed peak RSS of three nodes publishing 1 MiB messages at ~300 MiB/s:
// 0.54-0.74 GiB with 2 ms, 0.51-0.54 GiB with 1 ms). A 1 MiB chunk entry
// takes about 1 ms on loopback and a few ms through the fsync of a loaded
// disk, so even a full in-flight window (MaxInFlight chunks queued ahead of
// a heartbeat on the same connection) stays an order of magnitude under
// the election timeout.
const (
	DefaultRTT                = 1 * time.Millisecond
	DefaultHeartbeatRTT       = 100
	DefaultElectionRTT        = 1000
	DefaultSnapshotEntries    = 4096 // applied entries between (metadata) snapshots
	DefaultCompactionOverhead = 1024 // entries kept behind a snapshot for slow followers
	DefaultMaxInMemLogSize    = 64 << 20
	DefaultProposalTimeout    = 10 * time.Second
	DefaultMaxInFlight        = 8
	DefaultMaxGroups          = 4
)

// Config configures a NodeHost. Zero fields take the defaults above.
type Config struct {
	NodeID       uint64 // this host's replica id in every shard it runs (> 0)
	RaftAddress  string // host:port the host listens on and peers reach it at
	DataDir      string // Dragonboat's NodeHost directory and snapshots, the meta shard's log; streams' go where StartStreamShard says
	DeploymentID uint64 // hosts talk only to hosts of the same deployment

	// FS is the file system of the shards' logs and side files, and of
	// received snapshots; nil = the OS. (Dragonboat's own NodeHost
	// directory always uses the OS.)
	FS log.FS

	// ListenAddress is where the host listens when peers reach it at
	// RaftAddress through something in between (a proxy); "" = RaftAddress.
	ListenAddress string

	// MutualTLS makes raft traffic between hosts mutual TLS (Dragonboat's
	// MutualTLS): each host presents CertFile/KeyFile and verifies its
	// peers against CAFile. Dragonboat reads the files once, at start.
	MutualTLS                 bool
	CAFile, CertFile, KeyFile string

	RTT                time.Duration // tick; default DefaultRTT
	HeartbeatRTT       uint64        // ticks between heartbeats
	ElectionRTT        uint64        // ticks before a follower stands for election
	SnapshotEntries    uint64
	CompactionOverhead uint64
	MaxInMemLogSize    uint64 // per shard; past it proposals get ErrSystemBusy (retried)

	ProposalTimeout time.Duration // one attempt of one proposal
	MaxInFlight     int           // chunk proposals of one shard in flight
	MaxGroups       int           // group entries (commits) of one shard in flight

	Logger *slog.Logger // the library's own logs; nil = discard (see InstallLogger for Dragonboat's)
	Rand   io.Reader    // message ids; nil = crypto/rand
	// Now is the leader-side clock that stamps messages (the state machine
	// never reads a clock); nil = time.Now.
	Now func() time.Time
}

func (c *Config) fill() error {
	if c.NodeID == 0 || c.RaftAddress == "" || c.DataDir == "" {
		return errors.New("raft: NodeID, RaftAddress and DataDir are required")
	}
	if c.RTT <= 0 {
		c.RTT = DefaultRTT
	}
	if c.HeartbeatRTT == 0 {
		c.HeartbeatRTT = DefaultHeartbeatRTT
	}
	if c.ElectionRTT == 0 {
		c.ElectionRTT = DefaultElectionRTT
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.CompactionOverhead == 0 {
		c.CompactionOverhead = DefaultCompactionOverhead
	}
	if c.MaxInMemLogSize == 0 {
		c.MaxInMemLogSize = DefaultMaxInMemLogSize
	}
	if c.ProposalTimeout <= 0 {
		c.ProposalTimeout = DefaultProposalTimeout
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxGroups <= 0 {
		c.MaxGroups = DefaultMaxGroups
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.FS == nil {
		c.FS = log.OSFS{}
	}
	return nil
}

// NodeHost is one process's membership in the cluster: a Dragonboat
// NodeHost and the shards it runs. Safe for concurrent use.
type NodeHost struct {
	cfg Config
	nh  *dragonboat.NodeHost
	db  *logDB // the shards' stores (logdb.go)
	// ids guards buf and next: random bytes read ahead for message ids,
	// and the first unused one (newID).
	ids struct {
		sync.Mutex
		buf  [8 * 512]byte
		next int
	}
	// chunkBufs recycles the stream shards' chunk entry buffers (*[]byte).
	chunkBufs sync.Pool
}

// NewNodeHost starts a NodeHost listening on cfg.RaftAddress, with the
// shards' own logs as Dragonboat's log store (logdb.go). It restarts from
// cfg.DataDir when that holds a previous run's state, and refuses (with
// ErrOldLayout) a DataDir written by a version that kept raft entries in
// Dragonboat's Pebble store.
func NewNodeHost(cfg Config) (*NodeHost, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := checkLayout(cfg.DataDir); err != nil {
		return nil, err
	}
	db := newLogDB(cfg.NodeID)
	expert := config.GetDefaultExpertConfig()
	expert.LogDBFactory = logDBFactory{db}
	nhc := config.NodeHostConfig{
		DeploymentID:   cfg.DeploymentID,
		NodeHostDir:    filepath.Join(cfg.DataDir, hostDir),
		RTTMillisecond: uint64(max(cfg.RTT/time.Millisecond, 1)),
		RaftAddress:    cfg.RaftAddress,
		ListenAddress:  cfg.ListenAddress,
		MutualTLS:      cfg.MutualTLS,
		CAFile:         cfg.CAFile,
		CertFile:       cfg.CertFile,
		KeyFile:        cfg.KeyFile,
		Expert:         expert,
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return nil, fmt.Errorf("raft: start node host %s: %w", cfg.RaftAddress, err)
	}
	return &NodeHost{cfg: cfg, nh: nh, db: db}, nil
}

// hostDir is Dragonboat's NodeHost directory under DataDir; oldHostDir and
// oldWALDir are where versions with the Pebble log store kept it and its
// log.
const (
	hostDir    = "host"
	oldHostDir = "nodehost"
	oldWALDir  = "wal"
)

// checkLayout refuses a DataDir of the earlier layout: raft entries in
// Dragonboat's Pebble store (and replica segments without them), which
// this version cannot read. Starting empty instead would silently drop the
// node's raft state.
func checkLayout(dir string) error {
	for _, d := range []string{oldHostDir, oldWALDir} {
		if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
			return fmt.Errorf("%w: %s holds raft data of an earlier barge version (Dragonboat's Pebble log store), "+
				"which this version cannot read. Either run the earlier version, back the streams up and restore them "+
				"into a fresh store_dir; or, if the other cluster members already run this version, remove %s and the "+
				"msgs directories of this node's replicated streams so that the node rejoins and is sent their data",
				ErrOldLayout, dir, dir)
		}
	}
	return nil
}

// Close stops every shard and the host. Proposals in flight fail.
func (h *NodeHost) Close() { h.nh.Stop() }

// NodeID returns this host's replica id.
func (h *NodeHost) NodeID() uint64 { return h.cfg.NodeID }

// RaftAddress returns the address peers reach this host at.
func (h *NodeHost) RaftAddress() string { return h.cfg.RaftAddress }

// shardConfig is the Dragonboat config of one shard on this host.
func (h *NodeHost) shardConfig(shardID uint64) config.Config {
	return config.Config{
		NodeID:             h.cfg.NodeID,
		ClusterID:          shardID,
		CheckQuorum:        true, // a leader cut off from a quorum steps down
		ElectionRTT:        h.cfg.ElectionRTT,
		HeartbeatRTT:       h.cfg.HeartbeatRTT,
		SnapshotEntries:    h.cfg.SnapshotEntries,
		CompactionOverhead: h.cfg.CompactionOverhead,
		MaxInMemLogSize:    h.cfg.MaxInMemLogSize,
	}
}

// Leader returns the shard's leader as this host knows it; ok is false
// while there is none (an election is on, or the shard is not running
// here).
func (h *NodeHost) Leader(shardID uint64) (leader uint64, ok bool) {
	id, valid, err := h.nh.GetLeaderID(shardID)
	return id, err == nil && valid && id != 0
}

// TransferLeader asks the shard's leader to hand over to target (0: any
// other member, picked by the caller's hint being absent: the first other
// member). It returns once the request is sent; poll Leader to see it done.
// Called on a host that is not the leader it is forwarded by Dragonboat.
func (h *NodeHost) TransferLeader(ctx context.Context, shardID, target uint64) error {
	if target == 0 {
		m, err := h.Members(ctx, shardID)
		if err != nil {
			return err
		}
		cur, _ := h.Leader(shardID)
		for id := range m {
			if id != cur && (target == 0 || id < target) {
				target = id
			}
		}
		if target == 0 {
			return errors.New("raft: no other member to transfer to")
		}
	}
	return h.nh.RequestLeaderTransfer(shardID, target)
}

// Members returns the shard's voting members: replica id -> raft address.
// It is linearizable (read through the leader).
func (h *NodeHost) Members(ctx context.Context, shardID uint64) (map[uint64]string, error) {
	var out map[uint64]string
	err := retry(ctx, h.cfg, func(ctx context.Context) error {
		m, err := h.nh.SyncGetClusterMembership(ctx, shardID)
		if err == nil {
			out = m.Nodes
		}
		return err
	})
	return out, err
}

// AddReplica adds replica id at address addr to the shard (the new host then
// starts the shard with join=true and catches up from the log or a
// snapshot).
func (h *NodeHost) AddReplica(ctx context.Context, shardID, id uint64, addr string) error {
	return retry(ctx, h.cfg, func(ctx context.Context) error {
		return h.nh.SyncRequestAddNode(ctx, shardID, id, addr, 0)
	})
}

// RemoveReplica removes replica id from the shard.
func (h *NodeHost) RemoveReplica(ctx context.Context, shardID, id uint64) error {
	return retry(ctx, h.cfg, func(ctx context.Context) error {
		return h.nh.SyncRequestDeleteNode(ctx, shardID, id, 0)
	})
}

// StopShard stops the shard's replica on this host; its data stay.
func (h *NodeHost) StopShard(shardID uint64) error { return h.nh.StopCluster(shardID) }

// newID returns a random message id (never 0). Ids are read from
// cfg.Rand 512 at a time (one read per id was a few per cent of a
// publishing leader's CPU at 1 KiB messages).
func (h *NodeHost) newID() (uint64, error) {
	h.ids.Lock()
	defer h.ids.Unlock()
	for {
		if h.ids.next == 0 || h.ids.next == len(h.ids.buf) {
			if _, err := io.ReadFull(h.cfg.Rand, h.ids.buf[:]); err != nil {
				h.ids.next = 0
				return 0, fmt.Errorf("raft: message id: %w", err)
			}
			h.ids.next = 0
		}
		id := binary.LittleEndian.Uint64(h.ids.buf[h.ids.next:])
		h.ids.next += 8
		if id != 0 {
			return id, nil
		}
	}
}

// retryable reports whether a Dragonboat error means the request did not
// take effect and may be sent again: the shard is busy, not ready (no
// leader yet), or the attempt timed out (the entry may still commit: the
// state machines drop the duplicate).
func retryable(err error) bool {
	return errors.Is(err, dragonboat.ErrSystemBusy) || errors.Is(err, dragonboat.ErrClusterNotReady) ||
		errors.Is(err, dragonboat.ErrTimeout) || errors.Is(err, dragonboat.ErrClusterNotInitialized) ||
		errors.Is(err, dragonboat.ErrClusterNotFound) || errors.Is(err, context.DeadlineExceeded)
}

// retry runs op with a per-attempt timeout (cfg.ProposalTimeout) until it
// succeeds, fails for a reason retrying cannot fix, or ctx ends, backing off
// from 5 ms to 500 ms between attempts. Each retry is logged at Debug.
func retry(ctx context.Context, cfg Config, op func(ctx context.Context) error) error {
	return retryEach(ctx, cfg, func() error {
		actx, cancel := context.WithTimeout(ctx, cfg.ProposalTimeout)
		defer cancel()
		return op(actx)
	})
}

// retryEach is retry for an op that bounds its own attempts (Propose takes
// a timeout): no context per attempt, which cost a tenth of a busy
// leader's CPU (propagateCancel's map insert on every proposal).
func retryEach(ctx context.Context, cfg Config, op func() error) error {
	backoff := 5 * time.Millisecond
	for {
		err := op()
		if err == nil || !retryable(err) {
			return err
		}
		cfg.Logger.Debug("raft: retrying", "err", err, "backoff", backoff)
		if ctx.Err() != nil {
			return fmt.Errorf("raft: %w (last attempt: %v)", ctx.Err(), err)
		}
		if err := wait(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// wait blocks for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package app

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/raft"
)

// MetaShardID is the Dragonboat shard id of the JetStream meta shard;
// stream shards take ids above it.
const MetaShardID uint64 = 1

// metaBootstrapped names the marker file, under <store_dir>/raft, that says
// this node has started the meta shard once: a restart then starts it from
// its own raft log without waiting for peers. It is written through
// Config.StoreFS (log.WriteFileAtomic), like the streams' files.
const metaBootstrapped = "meta.bootstrapped"

// metaPoll is how often the bootstrap loop looks at the route peers.
const metaPoll = 50 * time.Millisecond

// jsCluster is a clustered node's raft side: one NodeHost (data under
// <store_dir>/raft) and the meta shard, started once cluster_size members
// (this node included) have told each other their node id and raft address
// over the routes.
type jsCluster struct {
	host   *raft.NodeHost
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu struct {
		sync.Mutex
		// meta is the meta shard once started; nil before.
		meta *raft.MetaShard
		// ready is closed when meta is set.
		ready chan struct{}
	}
}

// startRaft starts the NodeHost and, in the background, the meta shard. It
// runs only with cluster_size set (Validate has checked the rest), after
// the routes have started, so that peers' route INFO arrives.
func (a *App) startRaft() error {
	cfg := &a.cfg
	// Dragonboat's logger is process-wide and can be set once: the first
	// App of a process wins and later ones log through it too.
	if err := raft.InstallLogger(a.log.With("component", "dragonboat"), slog.LevelWarn); err != nil {
		a.log.Debug("raft logger", "err", err)
	}
	dir := filepath.Join(cfg.StoreDir, "raft")
	fsys := cfg.StoreFS
	if fsys == nil {
		fsys = log.OSFS{}
	}
	if err := log.MkdirDurable(fsys, dir); err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	var now func() time.Time
	if cfg.Clock != nil {
		now = cfg.Clock.Now
	}
	h, err := raft.NewNodeHost(raft.Config{
		NodeID:        cfg.NodeID,
		RaftAddress:   cfg.RaftAddr,
		ListenAddress: cfg.RaftListen,
		DataDir:       dir,
		FS:            fsys,
		DeploymentID:  deploymentID(cfg.ClusterName),
		Logger:        a.log.With("component", "raft"),
		Now:           now,

		SnapshotEntries:    cfg.RaftSnapshotEntries,
		CompactionOverhead: cfg.RaftCompactionOverhead,

		MutualTLS: cfg.ClusterTLS.Enabled,
		CAFile:    cfg.ClusterTLS.CAFile,
		CertFile:  cfg.ClusterTLS.CertFile,
		KeyFile:   cfg.ClusterTLS.KeyFile,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	jc := &jsCluster{host: h, log: a.log.With("component", "jscluster"), cancel: cancel, done: make(chan struct{})}
	jc.mu.ready = make(chan struct{})
	a.jsc = jc
	go jc.bootstrap(ctx, a, dir)
	return nil
}

// warnUnclustered says loudly, at startup, that a server with routes and
// JetStream but no cluster_size runs a JetStream of its own beside the
// cluster: its streams are not replicated, and the other members neither
// see them nor capture their subjects. (nats-server has no such mode: with
// routes it clusters JetStream or refuses to start. barge keeps the mode,
// since JetStream is on by default and a core-NATS cluster member would
// otherwise need -js=false.)
func (a *App) warnUnclustered() {
	if !a.cfg.JetStream || a.cfg.ClusterSize > 0 {
		return
	}
	a.log.Warn("JETSTREAM IS NOT CLUSTERED: this server has routes (--cluster) but no --cluster_size, " +
		"so its streams are its own: not replicated, not known to the other members, and a client " +
		"on another member cannot reach them. Set --cluster_size, --raft and --node_id on every member " +
		"for clustered JetStream, or -js=false for a core-NATS member.")
}

// deploymentID derives Dragonboat's deployment id from the cluster name, so
// raft hosts of differently named clusters never talk.
func deploymentID(name string) uint64 {
	f := fnv.New64a()
	f.Write([]byte("barge:" + name))
	return f.Sum64() | 1
}

// bootstrap starts the meta shard: at once from the raft log on a restart,
// else when cluster_size members with node ids are known.
func (jc *jsCluster) bootstrap(ctx context.Context, a *App, dir string) {
	defer close(jc.done)
	fsys := a.cfg.storeFS()
	var members map[uint64]string
	if _, err := log.ReadFile(fsys, filepath.Join(dir, metaBootstrapped)); err != nil {
		members = jc.waitMembers(ctx, a)
		if members == nil {
			return // shut down first
		}
	}
	meta, err := jc.host.StartMetaShard(MetaShardID, members, false)
	if err != nil {
		jc.log.Error("meta shard not started", "err", err)
		return
	}
	if members != nil {
		err := log.MkdirDurable(fsys, dir) // on the OS, Dragonboat made it
		if err == nil {
			err = log.WriteFileAtomic(fsys, dir, metaBootstrapped, nil)
		}
		if err != nil {
			jc.log.Error("meta shard marker", "err", err)
		}
	}
	jc.mu.Lock()
	jc.mu.meta = meta
	close(jc.mu.ready)
	jc.mu.Unlock()
	jc.log.Info("meta shard started", "members", members)
	if a.js != nil {
		a.js.SetCluster(&jsRaft{a: a, host: jc.host, meta: meta})
		a.clusterAccountEngines(&jsRaft{a: a, host: jc.host, meta: meta})
	}
}

// waitMembers polls the route peers until cluster_size members (this node
// and the peers with the lowest node ids) are known, and returns them by
// node id; nil when ctx ends first.
func (jc *jsCluster) waitMembers(ctx context.Context, a *App) map[uint64]string {
	tick := time.NewTicker(metaPoll)
	defer tick.Stop()
	for {
		if m := clusterMembers(a.cfg.NodeID, a.cfg.RaftAddr, a.cluster.Peers(), a.cfg.ClusterSize); m != nil {
			return m
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// clusterMembers picks size members: self and the peers with a node id and
// a raft address, lowest node ids first. It returns nil while fewer are
// known. Every member sees the same set when exactly size nodes run.
func clusterMembers(self uint64, selfAddr string, peers []broker.PeerInfo, size int) map[uint64]string {
	type node struct {
		id   uint64
		addr string
	}
	nodes := []node{{self, selfAddr}}
	for _, p := range peers {
		if p.NodeID != 0 && p.NodeID != self && p.RaftAddr != "" {
			nodes = append(nodes, node{p.NodeID, p.RaftAddr})
		}
	}
	if len(nodes) < size {
		return nil
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].id < nodes[j].id })
	m := make(map[uint64]string, size)
	for _, n := range nodes[:size] {
		m[n.id] = n.addr
	}
	if _, ok := m[self]; !ok {
		return nil // a spare node: it waits, and could later be added as a replica
	}
	return m
}

// stopBootstrap ends the bootstrap loop, so that it hands no cluster to a
// JetStream engine being closed.
func (a *App) stopBootstrap() {
	if jc := a.jsc; jc != nil {
		jc.cancel()
		<-jc.done
	}
}

// stopRaft stops the NodeHost (every shard); JetStream is closed first.
func (a *App) stopRaft() {
	jc := a.jsc
	if jc == nil {
		return
	}
	jc.host.Close()
	a.jsc = nil
}

// RaftHost is the node's raft host, nil unless cluster_size is set.
func (a *App) RaftHost() *raft.NodeHost {
	if a.jsc == nil {
		return nil
	}
	return a.jsc.host
}

// MetaShard waits until the meta shard has started (it needs cluster_size
// members to have met) or ctx ends, and returns it. It returns an error
// without cluster_size or when ctx ends first.
func (a *App) MetaShard(ctx context.Context) (*raft.MetaShard, error) {
	jc := a.jsc
	if jc == nil {
		return nil, errors.New("app: no raft (cluster_size not set)")
	}
	jc.mu.Lock()
	ready := jc.mu.ready
	jc.mu.Unlock()
	select {
	case <-ready:
	case <-jc.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if jc.mu.meta == nil {
		return nil, errors.New("app: meta shard did not start")
	}
	return jc.mu.meta, nil
}

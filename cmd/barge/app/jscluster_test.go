package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/internal/testport"
	"github.com/bargemq/barge/raft"
	"github.com/nats-io/nats.go/jetstream"
)

// freeAddr returns a 127.0.0.1 host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := testport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startRaftCluster starts n members with cluster_size n, each with its own
// raft address and store dir (kept in dirs/raft for restarts).
func startRaftCluster(t *testing.T, n int) (apps []*app.App, raftAddrs, dirs []string) {
	t.Helper()
	tune, raftAddrs, dirs := raftMembers(t, n, nil)
	return startCluster(t, n, tune), raftAddrs, dirs
}

// raftMembers picks the raft addresses and store dirs of n members with
// cluster_size n and returns the config of member i (mod, if not nil,
// changes it further), for startCluster and for restarting a member with
// startClusterNode.
func raftMembers(t *testing.T, n int, mod func(i int, c *app.Config)) (tune func(i int, c *app.Config), raftAddrs, dirs []string) {
	t.Helper()
	for i := 0; i < n; i++ {
		raftAddrs = append(raftAddrs, freeAddr(t))
		dirs = append(dirs, t.TempDir())
	}
	return func(i int, c *app.Config) {
		c.ClusterSize = n
		c.RaftAddr = raftAddrs[i]
		c.StoreDir = dirs[i]
		c.LogFile = dirs[i] + "/barge.log"
		if mod != nil {
			mod(i, c)
		}
	}, raftAddrs, dirs
}

// startMetaCluster starts n raft nodes and waits until each has its meta
// shard.
func startMetaCluster(t *testing.T, n int) []*app.App {
	t.Helper()
	apps, _, _ := startRaftCluster(t, n)
	for _, a := range apps {
		metaOf(t, a)
	}
	return apps
}

// createStream creates cfg through js, asking again while the cluster
// answers 10008 ("JetStream system temporarily unavailable", an election
// of the meta shard: a loaded machine runs some), as a client would.
func createStream(ctx context.Context, t testing.TB, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	t.Helper()
	for {
		s, err := js.CreateStream(ctx, cfg)
		var ae *jetstream.APIError
		if err == nil || !errors.As(err, &ae) || ae.ErrorCode != 10008 || ctx.Err() != nil {
			return s, err
		}
		t.Logf("create %s: %v; again", cfg.Name, err)
	}
}

func metaOf(t *testing.T, a *app.App) *raft.MetaShard {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := a.MetaShard(ctx)
	if err != nil {
		t.Fatalf("meta shard: %v", err)
	}
	return m
}

// TestJSClusterMetaShard: three members with cluster_size 3 form one meta
// shard from their route INFO; a document put through one member is read
// on every member; a restarted member starts its replica from its own raft
// log (no peers needed to bootstrap again) and catches up on what it
// missed.
func TestJSClusterMetaShard(t *testing.T) {
	apps, raftAddrs, dirs := startRaftCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := metaOf(t, apps[1]).Put(ctx, "stream/A", json.RawMessage(`{"name":"A"}`), 0); err != nil {
		t.Fatalf("put: %v", err)
	}
	for i, a := range apps {
		d, err := metaOf(t, a).Get(ctx, "stream/A")
		if err != nil || string(d.Value) != `{"name":"A"}` {
			t.Fatalf("node %d: get = %q, %v", i+1, d.Value, err)
		}
	}

	stopApp(t, apps[2])
	if _, err := metaOf(t, apps[0]).Put(ctx, "stream/B", json.RawMessage(`{"name":"B"}`), 0); err != nil {
		t.Fatalf("put with a member down: %v", err)
	}
	// Restart the third member alone (no seeds): its replica starts from
	// its raft log, then the routes bring it back.
	apps[2] = startServer(t, func(c *app.Config) {
		c.ServerName = "n3"
		c.Cluster = "127.0.0.1:0"
		c.ClusterName = "test"
		c.Routes = []string{"nats://" + apps[0].RouteURL()}
		c.RaftAddr = raftAddrs[2]
		c.NodeID = 3
		c.ClusterSize = 3
		c.StoreDir = dirs[2]
		c.LogFile = dirs[2] + "/barge2.log"
	})
	m3 := metaOf(t, apps[2])
	eventually(t, 20*time.Second, "restarted member catches up", func() bool {
		docs, err := m3.List(ctx, "stream/")
		return err == nil && len(docs) == 2
	})
}

// TestJSClusterSizeRefusals: cluster_size needs the cluster, raft and
// node id settings.
func TestJSClusterSizeRefusals(t *testing.T) {
	c := app.Defaults()
	c.ClusterSize = 3
	if err := c.Validate(); err == nil {
		t.Fatal("cluster_size without --cluster accepted")
	}
	c.Cluster, c.RaftAddr, c.NodeID = "127.0.0.1:0", "127.0.0.1:7222", 1
	if err := c.Validate(); err == nil {
		t.Fatal("cluster_size without --cluster_name accepted")
	}
	c.ClusterName = "c"
	if err := c.Validate(); err != nil {
		t.Fatalf("valid cluster_size refused: %v", err)
	}
	c.ClusterSize = -1
	if err := c.Validate(); err == nil {
		t.Fatal("negative cluster_size accepted")
	}
}

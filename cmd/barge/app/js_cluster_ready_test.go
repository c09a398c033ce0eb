package app_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// TestJSRefusedBeforeMetaShard: a node started with cluster_size whose
// peers have not come holds a JetStream request for a while and then
// answers nats-server's 10008 ("JetStream system temporarily unavailable")
// instead of serving it as a standalone server: a stream created then was
// the node's alone.
func TestJSRefusedBeforeMetaShard(t *testing.T) {
	var dir string
	a := startServer(t, func(c *app.Config) {
		c.ServerName, c.ClusterName = "lonely", "test"
		c.Cluster, c.RaftAddr, c.NodeID, c.ClusterSize = "127.0.0.1:0", freeAddr(t), 1, 3
		dir = c.StoreDir
	})
	nc := connect(t, a)
	js, err := nc.JetStream(nats.MaxWait(20 * time.Second))
	mustOK(t, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "EARLY", Subjects: []string{"early"}})
	wantAPICode(t, err, 10008)
	if _, err := os.Stat(dir + "/jetstream/EARLY"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused stream has a directory: %v", err)
	}
}

// TestJSCreateRightAfterStart: a create sent to n1 as soon as three nodes
// run is refused (10008) or made through the meta shard, never taken by n1
// alone: once it succeeds, every node serves the stream, publishes from
// any node are stored, and its info names the cluster (as an R3's does).
func TestJSCreateRightAfterStart(t *testing.T) {
	apps, _, _ := startRaftCluster(t, 3)
	js := make([]nats.JetStreamContext, 3)
	for i, a := range apps {
		var err error
		js[i], err = connect(t, a).JetStream(nats.MaxWait(5 * time.Second))
		mustOK(t, err)
	}
	refused := 0
	eventually(t, 30*time.Second, "the create", func() bool {
		_, err := js[0].AddStream(&nats.StreamConfig{Name: "EARLY", Subjects: []string{"early.>"}})
		if err != nil {
			wantAPICode(t, err, 10008)
			refused++
		}
		return err == nil
	})
	t.Logf("create refused %d times (after a wait for the meta leader each)", refused)
	for i := range apps {
		var info *nats.StreamInfo
		eventually(t, 10*time.Second, "stream info on every node", func() bool {
			var err error
			info, err = js[i].StreamInfo("EARLY")
			return err == nil && info.Cluster != nil && info.Cluster.Leader != ""
		})
		if info.Cluster.Name != "test" || info.Cluster.RaftGroup != "EARLY" {
			t.Fatalf("node %d: cluster info %+v (a standalone stream has no raft group)", i+1, info.Cluster)
		}
		ack, err := js[i].Publish("early.x", []byte("hi"))
		mustOK(t, err)
		if ack.Stream != "EARLY" || ack.Sequence != uint64(i+1) {
			t.Fatalf("node %d: ack %+v", i+1, ack)
		}
	}
	// An update through another node reaches the same stream.
	_, err := js[2].UpdateStream(&nats.StreamConfig{Name: "EARLY", Subjects: []string{"early.>"}, MaxMsgs: 100})
	mustOK(t, err)

	// A replicated stream's info names the cluster too: the CLI prints
	// its "Cluster Information" section only then.
	_, err = js[1].AddStream(&nats.StreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 3})
	mustOK(t, err)
	var info *nats.StreamInfo
	eventually(t, 10*time.Second, "R3 leader", func() bool {
		info, err = js[1].StreamInfo("R3")
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2
	})
	if info.Cluster.Name != "test" {
		t.Fatalf("R3 cluster info %+v", info.Cluster)
	}
}

// TestJSStandaloneClusterInfo: a standalone server's stream names this
// server as its leader, as nats-server's does (and no cluster name).
func TestJSStandaloneClusterInfo(t *testing.T) {
	solo := startServer(t, func(c *app.Config) { c.ServerName = "solo" })
	sjs, err := connect(t, solo).JetStream()
	mustOK(t, err)
	_, err = sjs.AddStream(&nats.StreamConfig{Name: "ONE"})
	mustOK(t, err)
	si, err := sjs.StreamInfo("ONE")
	mustOK(t, err)
	if si.Cluster == nil || si.Cluster.Leader != "solo" || si.Cluster.Name != "" {
		t.Fatalf("standalone cluster info %+v", si.Cluster)
	}
}

// TestJSRoutesWithoutClusterSizeWarn: a server with routes and JetStream
// but no cluster_size says at startup, at WARN, that its JetStream is its
// own; a core-NATS member (-js=false) does not.
func TestJSRoutesWithoutClusterSizeWarn(t *testing.T) {
	for _, jsOn := range []bool{true, false} {
		var logFile string
		startServer(t, func(c *app.Config) {
			c.Cluster, c.ClusterName, c.JetStream = "127.0.0.1:0", "test", jsOn
			logFile = c.LogFile
		})
		b, err := os.ReadFile(logFile)
		mustOK(t, err)
		warned := strings.Contains(string(b), "level=WARN") && strings.Contains(string(b), "JETSTREAM IS NOT CLUSTERED")
		if warned != jsOn {
			t.Fatalf("jetstream %v: warned %v; log:\n%s", jsOn, warned, b)
		}
	}
}

// wantAPICode fails unless err is a JetStream API error with err_code code.
func wantAPICode(t testing.TB, err error, code int) {
	t.Helper()
	var ae *nats.APIError
	if !errors.As(err, &ae) || int(ae.ErrorCode) != code {
		t.Fatalf("err = %v, want API error %d", err, code)
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

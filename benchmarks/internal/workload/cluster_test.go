package workload

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATSCluster runs three nats-server JetStream cluster members in
// process, named n1..n3, each given all three route URLs (a JetStream
// cluster member must have routes configured from the start).
func startNATSCluster(t *testing.T) []Node {
	t.Helper()
	var ports []int
	var routes []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		routes = append(routes, fmt.Sprintf("nats://%s", l.Addr()))
		l.Close()
	}
	var nodes []Node
	for i, port := range ports {
		o := &server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1, JetStream: true,
			StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "bench-test", Host: "127.0.0.1", Port: port},
			Routes:  server.RoutesFromStr(strings.Join(routes, ","))}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready")
		}
		t.Cleanup(s.Shutdown)
		nodes = append(nodes, Node{Name: o.ServerName, URL: s.ClientURL()})
	}
	return nodes
}

// The r3 workloads wait for the cluster, create their R3 stream, move to
// its leader and measure every message.
func TestReplicatedWorkloadsAgainstNATSCluster(t *testing.T) {
	nodes := startNATSCluster(t)
	ctx := context.Background()
	if err := WaitCluster(ctx, nodes, 3, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"r3-pub", "r3-fetch", "r3-fastpub"} {
		t.Run(name, func(t *testing.T) {
			w, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var done atomic.Int64
			e := &Env{URL: nodes[0].URL, Nodes: nodes, Size: 4096, Count: 20, Window: 64 << 10,
				Payload: Payload(4096, 1), Idle: 10 * time.Second, Done: &done}
			if err := w.Prepare(ctx, e); err != nil {
				t.Fatal(err)
			}
			var c *jsClient
			switch w := w.(type) {
			case *jsPublish:
				c = &w.c
			case *jsFetch:
				c = &w.c
			case *jsFastPublish:
				c = &w.c
			}
			if c.leader == "" || c.nc.ConnectedServerName() != c.leader {
				t.Fatalf("client on %q, stream leader %q", c.nc.ConnectedServerName(), c.leader)
			}
			info, err := c.stream.Info(ctx)
			if err != nil || info.Config.Replicas != 3 {
				t.Fatalf("stream info: %+v, %v", info, err)
			}
			for rep := 0; rep < 2; rep++ {
				done.Store(0)
				s, err := w.Rep(ctx, e, rep)
				if err != nil {
					t.Fatalf("rep %d: %v", rep, err)
				}
				if s.Msgs != 20 || s.Bytes != 20*4096 || s.Errors != 0 || s.Elapsed <= 0 {
					t.Fatalf("rep %d: %+v (%s)", rep, s, s.FirstErr)
				}
			}
		})
	}
}

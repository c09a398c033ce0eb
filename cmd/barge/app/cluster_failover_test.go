package app_test

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// TestClusterClientFailover connects a nats.go subscriber to node A only;
// when A shuts down it reconnects to a server it learned from connect_urls
// and keeps receiving what is published on C. The members left advertise
// connect_urls without A.
func TestClusterClientFailover(t *testing.T) {
	apps := startCluster(t, 3, nil)
	reconnected := make(chan string, 4)
	sub := connect(t, apps[0],
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.ReconnectHandler(func(nc *nats.Conn) { reconnected <- nc.ConnectedUrl() }))
	var last atomic.Value
	var count atomic.Int64
	if _, err := sub.Subscribe("fo.>", func(m *nats.Msg) {
		last.Store(string(m.Data))
		count.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	_ = sub.Flush()
	if len(sub.DiscoveredServers()) != 2 {
		t.Fatalf("discovered %v", sub.DiscoveredServers())
	}
	pub := connect(t, apps[2])
	waitInterest(t, apps[2], "fo.x", 1)
	_ = pub.Publish("fo.x", []byte("before"))
	eventually(t, 10*time.Second, "message before failover", func() bool { return count.Load() == 1 })

	stopApp(t, apps[0])
	select {
	case u := <-reconnected:
		if u == apps[0].ClientURL() {
			t.Fatalf("reconnected to the stopped server %s", u)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("nats.go did not reconnect to another member")
	}
	// Keep publishing until the resubscription has spread.
	eventually(t, 15*time.Second, "message after failover", func() bool {
		_ = pub.Publish("fo.x", []byte("after"))
		_ = pub.Flush()
		v, _ := last.Load().(string)
		return v == "after"
	})

	// connect_urls follow membership.
	aURL := strings.TrimPrefix(apps[0].ClientURL(), "nats://")
	for _, a := range apps[1:] {
		eventually(t, 10*time.Second, "connect_urls without the stopped node", func() bool {
			u := a.Broker().ConnectURLs()
			return len(u) == 2 && !slices.Contains(u, aURL)
		})
	}
}

// TestClusterRestartRejoins stops a member and starts it again (new id,
// new ports, seeded with the first member only): it rejoins the mesh, its
// new subscriptions reach the others, and it learns the interest that
// existed before it came back.
func TestClusterRestartRejoins(t *testing.T) {
	apps := startCluster(t, 3, nil)
	subA := connect(t, apps[0])
	gotA := make(chan string, 8)
	if _, err := subA.Subscribe("rj.a", func(m *nats.Msg) { gotA <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	_ = subA.Flush()
	waitInterest(t, apps[2], "rj.a", 1)

	stopApp(t, apps[2])
	eventually(t, 10*time.Second, "members notice the stop", func() bool {
		for _, a := range apps[:2] {
			full := 0
			for _, p := range a.Cluster().Peers() {
				if p.Inbound || p.Outbound {
					full++
				}
			}
			if full != 1 {
				return false
			}
		}
		return true
	})
	apps[2] = startClusterNode(t, 2, apps[:2], nil)
	waitMesh(t, apps...)

	// Interest from before the restart reached the new member.
	waitInterest(t, apps[2], "rj.a", 1)
	if err := connect(t, apps[2]).Publish("rj.a", []byte("from-new")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-gotA:
		if m != "from-new" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message from the restarted member not received")
	}
	// The restarted member's interest reached the others.
	subC := connect(t, apps[2])
	gotC := make(chan string, 8)
	if _, err := subC.Subscribe("rj.c", func(m *nats.Msg) { gotC <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	_ = subC.Flush()
	waitInterest(t, apps[1], "rj.c", 1)
	if err := connect(t, apps[1]).Publish("rj.c", []byte("to-new")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-gotC:
		if m != "to-new" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message to the restarted member not received")
	}
	var want []string
	for _, a := range apps {
		want = append(want, strings.TrimPrefix(a.ClientURL(), "nats://"))
	}
	slices.Sort(want)
	for _, a := range apps {
		eventually(t, 10*time.Second, "connect_urls with the restarted member", func() bool {
			return slices.Equal(a.Broker().ConnectURLs(), want)
		})
	}
}

// TestClusterConfigRefusals checks the settings that cannot work.
func TestClusterConfigRefusals(t *testing.T) {
	c := app.Defaults()
	c.Routes = []string{"127.0.0.1:6222"}
	if err := c.Validate(); err == nil {
		t.Fatal("routes without --cluster accepted")
	}
	c.Cluster = "nohostport"
	if err := c.Validate(); err == nil {
		t.Fatal("a cluster address without a port accepted")
	}
	for _, kv := range [][2]string{
		{"cluster", "nats://127.0.0.1:6222"},
		{"routes", "nats://127.0.0.1:6222, nats://127.0.0.1:6223,127.0.0.1:6224"},
		{"cluster_name", "c1"},
		{"raft", "127.0.0.1:7222"},
	} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Cluster != "127.0.0.1:6222" || len(c.Routes) != 3 || c.Routes[2] != "127.0.0.1:6224" || c.RaftAddr != "127.0.0.1:7222" {
		t.Fatalf("parsed %+v", c)
	}
}

// TestClusterNameMismatchRefused: a server of another cluster seeded with
// a member never joins, while one of the same cluster does.
func TestClusterNameMismatchRefused(t *testing.T) {
	a := startClusterNode(t, 0, nil, nil)
	b := startClusterNode(t, 1, []*app.App{a}, func(_ int, c *app.Config) { c.ClusterName = "other" })
	c := startClusterNode(t, 2, []*app.App{a}, nil)
	waitMesh(t, a, c)
	if len(b.Cluster().Peers()) != 0 || len(a.Cluster().Peers()) != 1 {
		t.Fatalf("route formed across clusters: %+v / %+v", a.Cluster().Peers(), b.Cluster().Peers())
	}
}

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
)

// startCluster starts n servers in-process on free 127.0.0.1 ports, joined
// by routes: the first has no seeds, every other seeds the first only, so a
// full mesh needs gossip. It waits until every route is up both ways.
func startCluster(t testing.TB, n int, mod func(i int, c *app.Config)) []*app.App {
	t.Helper()
	apps := make([]*app.App, 0, n)
	for i := 0; i < n; i++ {
		apps = append(apps, startClusterNode(t, i, apps, mod))
	}
	waitMesh(t, apps...)
	return apps
}

// startClusterNode starts one cluster member seeded with the first of
// others (if any).
func startClusterNode(t testing.TB, i int, others []*app.App, mod func(i int, c *app.Config)) *app.App {
	t.Helper()
	return startServer(t, func(c *app.Config) {
		c.ServerName = "n" + string(rune('1'+i))
		c.Cluster = "127.0.0.1:0"
		c.ClusterName = "test"
		c.RaftAddr = "127.0.0.1:1000" + string(rune('1'+i))
		c.NodeID = uint64(i + 1)
		if len(others) > 0 {
			c.Routes = []string{"nats://" + others[0].RouteURL()}
		}
		if mod != nil {
			mod(i, c)
		}
	})
}

// waitMesh waits until each app has a route up both ways to every other
// and advertises every member in connect_urls.
func waitMesh(t testing.TB, apps ...*app.App) {
	t.Helper()
	eventually(t, 15*time.Second, "full mesh", func() bool {
		for _, a := range apps {
			full := 0
			for _, p := range a.Cluster().Peers() {
				if p.Inbound && p.Outbound {
					full++
				}
			}
			if full < len(apps)-1 || len(a.Broker().ConnectURLs()) < len(apps) {
				return false
			}
		}
		return true
	})
}

// waitInterest waits until a knows that peers of its peers want subject.
func waitInterest(t testing.TB, a *app.App, subject string, peers int) {
	t.Helper()
	eventually(t, 10*time.Second, "interest in "+subject, func() bool {
		return a.Broker().RemoteInterest(subject) >= peers
	})
}

// stopApp shuts a down now (the cleanup registered by startServer then
// finds it stopped).
func stopApp(t testing.TB, a *app.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Logf("shutdown: %v", err)
	}
}

package app_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec"
	"github.com/nats-io/nats.go"
)

func TestClusterFormsAndAdvertises(t *testing.T) {
	apps := startCluster(t, 3, nil)
	var want []string
	for _, a := range apps {
		want = append(want, strings.TrimPrefix(a.ClientURL(), "nats://"))
	}
	slices.Sort(want)
	for i, a := range apps {
		eventually(t, 10*time.Second, "connect_urls", func() bool {
			return slices.Equal(a.Broker().ConnectURLs(), want)
		})
		var info codec.Info
		if err := json.Unmarshal([]byte(dialRaw(t, a).info), &info); err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(info.ConnectURLs)
		slices.Sort(got)
		if !slices.Equal(got, want) || info.Cluster != "test" {
			t.Fatalf("node %d INFO connect_urls %v cluster %q, want %v", i, got, info.Cluster, want)
		}
		var rz broker.Routez
		getJSON(t, a.MonitorURL()+"/routez", &rz)
		if rz.NumRoutes != 2 || rz.Cluster != "test" {
			t.Fatalf("node %d routez: %+v", i, rz)
		}
		for _, r := range rz.Routes {
			if !r.Inbound || !r.Outbound || r.RaftAddr == "" || r.RouteURL == "" {
				t.Fatalf("node %d route %+v", i, r)
			}
		}
		ps := a.Cluster().Peers()
		if len(ps) != 2 || ps[0].RaftAddr != "127.0.0.1:1000"+string(rune('1'+peerIndex(i, 0))) || ps[0].NodeID != uint64(peerIndex(i, 0)+1) {
			t.Fatalf("node %d peers %+v", i, ps)
		}
	}
	// nats.go learns the other members from connect_urls.
	nc := connect(t, apps[0])
	if got := len(nc.DiscoveredServers()); got != 2 {
		t.Fatalf("nats.go discovered %d servers (%v), want 2", got, nc.DiscoveredServers())
	}
}

// peerIndex is the index of the k-th other node (in name order) seen from i.
func peerIndex(i, k int) int {
	if k >= i {
		return k + 1
	}
	return k
}

func TestClusterPubSubWildcards(t *testing.T) {
	apps := startCluster(t, 3, nil)
	pub := connect(t, apps[0])
	subB := connect(t, apps[1])
	subC := connect(t, apps[2])
	got := make(chan string, 100)
	for _, s := range []struct {
		nc   *nats.Conn
		subj string
	}{{subB, "orders.*"}, {subB, "orders.>"}, {subC, ">"}, {subC, "other"}} {
		name := s.subj
		if _, err := s.nc.Subscribe(s.subj, func(m *nats.Msg) {
			got <- name + " " + m.Subject + " " + string(m.Data)
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	waitInterest(t, apps[0], "orders.new", 2)
	if err := pub.Publish("orders.new", []byte("1")); err != nil {
		t.Fatal(err)
	}
	hdr := nats.Msg{Subject: "orders.new.eu", Data: []byte("2"), Header: nats.Header{"K": []string{"v"}}}
	if err := pub.PublishMsg(&hdr); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"orders.* orders.new 1", "orders.> orders.new 1", "> orders.new 1",
		"orders.> orders.new.eu 2", "> orders.new.eu 2",
	}
	var have []string
	for range want {
		select {
		case s := <-got:
			have = append(have, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("received %v, want %v", have, want)
		}
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Fatalf("received %v, want %v", have, want)
	}
	// Nothing more: each subscription got each message once.
	if err := pub.Publish("other", []byte("fence")); err != nil {
		t.Fatal(err)
	}
	fence := []string{"> other fence", "other other fence"}
	var gotFence []string
	for range fence {
		select {
		case s := <-got:
			gotFence = append(gotFence, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("fence: got %v, want %v", gotFence, fence)
		}
	}
	slices.Sort(gotFence)
	if !slices.Equal(gotFence, fence) {
		t.Fatalf("after the fence: got %v, want %v (an extra delivery?)", gotFence, fence)
	}
}

func TestClusterQueueGroupOncePerMessage(t *testing.T) {
	apps := startCluster(t, 3, nil)
	var counts [3]atomic.Int64
	var total atomic.Int64
	seen := sync.Map{}
	dups := atomic.Int64{}
	for i := 1; i < 3; i++ {
		nc := connect(t, apps[i])
		for k := 0; k < 2; k++ {
			if _, err := nc.QueueSubscribe("work", "workers", func(m *nats.Msg) {
				counts[i].Add(1)
				total.Add(1)
				if _, dup := seen.LoadOrStore(string(m.Data), true); dup {
					dups.Add(1)
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	waitInterest(t, apps[0], "work", 2)
	pub := connect(t, apps[0])
	const n = 400
	for i := 0; i < n; i++ {
		if err := pub.Publish("work", []byte(strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "all queue deliveries", func() bool { return total.Load() >= n })
	// A later fence message proves no straggling duplicates are in flight.
	fence := make(chan struct{}, 1)
	fnc := connect(t, apps[1])
	if _, err := fnc.Subscribe("fence", func(*nats.Msg) { fence <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	_ = fnc.Flush()
	waitInterest(t, apps[0], "fence", 1)
	_ = pub.Publish("fence", nil)
	select {
	case <-fence:
	case <-time.After(10 * time.Second):
		t.Fatal("fence not received")
	}
	if total.Load() != n || dups.Load() != 0 {
		t.Fatalf("delivered %d (dups %d), want %d once each", total.Load(), dups.Load(), n)
	}
	if counts[1].Load() == 0 || counts[2].Load() == 0 {
		t.Fatalf("one node got every message: %d / %d", counts[1].Load(), counts[2].Load())
	}

	// A local member is preferred: with one on the publisher's node, it
	// gets them all.
	var local atomic.Int64
	lnc := connect(t, apps[0])
	if _, err := lnc.QueueSubscribe("work", "workers", func(*nats.Msg) { local.Add(1) }); err != nil {
		t.Fatal(err)
	}
	_ = lnc.Flush()
	before := total.Load()
	for i := 0; i < 50; i++ {
		_ = pub.Publish("work", []byte("local"))
	}
	_ = pub.Flush()
	eventually(t, 10*time.Second, "local member deliveries", func() bool { return local.Load() == 50 })
	if total.Load() != before {
		t.Fatalf("remote members got %d messages although a local member exists", total.Load()-before)
	}
}

func TestClusterRequestReplyAndNoResponders(t *testing.T) {
	apps := startCluster(t, 3, nil)
	resp := connect(t, apps[2])
	if _, err := resp.Subscribe("svc.echo", func(m *nats.Msg) {
		_ = m.Respond(append([]byte("echo:"), m.Data...))
	}); err != nil {
		t.Fatal(err)
	}
	_ = resp.Flush()
	waitInterest(t, apps[0], "svc.echo", 1)
	req := connect(t, apps[0])
	for i := 0; i < 20; i++ {
		m, err := req.Request("svc.echo", []byte(itoa(i)), 5*time.Second)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(m.Data) != "echo:"+itoa(i) {
			t.Fatalf("reply %q", m.Data)
		}
	}
	// Old-style request (a reply subscription per request) across nodes.
	nc2 := connect(t, apps[1], nats.UseOldRequestStyle())
	if m, err := nc2.Request("svc.echo", []byte("old"), 5*time.Second); err != nil || string(m.Data) != "echo:old" {
		t.Fatalf("old-style request: %v %v", m, err)
	}
	if _, err := req.Request("svc.nobody", nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request with no responder anywhere: %v, want ErrNoResponders", err)
	}
}

// TestAsyncInfoAfterFirstPong: a protocol-1 client takes async INFOs only
// once it has been sent its first PONG, as in nats-server (nats.go sends
// CONNECT and PING and fails the connect when the next line is not PONG: a
// cluster test failed that way when a member joined during a connect).
// Membership that changed before the PONG reaches it in an INFO right
// after it; a later change reaches it at once.
func TestAsyncInfoAfterFirstPong(t *testing.T) {
	apps := startCluster(t, 2, nil)
	r := dialRaw(t, apps[0])
	r.send("CONNECT {\"protocol\":1,\"verbose\":false}\r\n")
	apps = append(apps, startClusterNode(t, 2, apps, nil))
	waitMesh(t, apps...)
	r.send("PING\r\n")
	if l := r.line(); l != "PONG" {
		t.Fatalf("first line after CONNECT and PING: %q, want PONG", l)
	}
	l := r.line()
	if !strings.HasPrefix(l, "INFO ") || !strings.Contains(l, strings.TrimPrefix(apps[2].ClientURL(), "nats://")) {
		t.Fatalf("after the first PONG: %q, want an INFO with the new member", l)
	}
	stopApp(t, apps[2])
	l = r.line()
	if !strings.HasPrefix(l, "INFO ") || strings.Contains(l, strings.TrimPrefix(apps[2].ClientURL(), "nats://")) {
		t.Fatalf("after a member left: %q, want an INFO without it", l)
	}
}

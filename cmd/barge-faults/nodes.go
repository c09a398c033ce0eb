package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bargemq/barge/internal/faultproxy"
	"github.com/bargemq/barge/internal/testport"
	"github.com/nats-io/nats.go"
)

// node is one barge process and the proxies in front of it: its clients
// reach it through client, its peers through route and raft, so a cut can
// take it off the network without touching the process.
type node struct {
	id                              int
	name, dir                       string
	clientAddr, routeAddr, raftAddr string // where the process listens
	client, route, raft             *faultproxy.Proxy
	cmd                             *exec.Cmd     // the running process; replaced by start
	exited                          chan struct{} // closed when cmd has exited
}

// url is the client URL of n's proxy.
func (n *node) url() string { return "nats://" + n.client.Addr() }

// cluster is the three nodes and the two proxy fabrics between them.
type cluster struct {
	o     Options
	nodes []*node
	// peers carries the route and raft connections (each dialer named by
	// its process); clients carries client connections (all anonymous).
	peers, clients *faultproxy.Fabric

	mu struct {
		sync.Mutex
		pids map[int]string // running process id → node name, for PIDSource
	}
}

func freeAddr() (string, error) { return testport.Addr() }

// newCluster picks the nodes' addresses and starts their proxies; start
// launches the processes. Close it.
func newCluster(o Options) (*cluster, error) {
	c := &cluster{o: o}
	c.mu.pids = make(map[int]string)
	c.peers = faultproxy.New(faultproxy.Options{Source: faultproxy.PIDSource(c.pids)})
	c.clients = faultproxy.New(faultproxy.Options{})
	for i := 1; i <= 3; i++ {
		n := &node{id: i, name: fmt.Sprintf("f%d", i), dir: filepath.Join(o.Dir, fmt.Sprintf("n%d", i))}
		var err error
		for _, p := range []*string{&n.clientAddr, &n.routeAddr, &n.raftAddr} {
			if *p, err = freeAddr(); err != nil {
				c.close()
				return nil, err
			}
		}
		if n.client, err = c.clients.Listen(n.name, "127.0.0.1:0", n.clientAddr); err == nil {
			if n.route, err = c.peers.Listen(n.name, "127.0.0.1:0", n.routeAddr); err == nil {
				n.raft, err = c.peers.Listen(n.name, "127.0.0.1:0", n.raftAddr)
			}
		}
		if err == nil {
			err = os.MkdirAll(n.dir, 0o755)
		}
		if err != nil {
			c.close()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

// pids is the PIDSource view of the running processes.
func (c *cluster) pids() map[int]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[int]string, len(c.mu.pids))
	for k, v := range c.mu.pids {
		m[k] = v
	}
	return m
}

func (c *cluster) logf(format string, args ...any) {
	if c.o.Log != nil {
		fmt.Fprintf(c.o.Log, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
	}
}

// start launches n as a process. Its peers and clients see only the
// proxies' addresses: it advertises them, and listens behind them.
func (c *cluster) start(n *node) error {
	routes := make([]string, 0, len(c.nodes))
	for _, m := range c.nodes {
		routes = append(routes, "nats://"+m.route.Addr())
	}
	_, port, _ := net.SplitHostPort(n.clientAddr)
	args := []string{"-js", "-n", n.name, "-a", "127.0.0.1", "-p", port, "-m", "0", "-sd", n.dir,
		"--cluster", n.routeAddr, "--cluster_advertise", n.route.Addr(), "--cluster_name", "faults",
		"--routes", strings.Join(routes, ","),
		"--raft", n.raft.Addr(), "--raft_listen", n.raftAddr,
		"--node_id", strconv.Itoa(n.id), "--cluster_size", "3", "-l", filepath.Join(n.dir, "barge.log")}
	cmd := exec.Command(c.o.Bin, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	n.cmd = cmd
	n.exited = make(chan struct{})
	pid := cmd.Process.Pid
	c.mu.Lock()
	c.mu.pids[pid] = n.name
	c.mu.Unlock()
	go func(ch chan struct{}) {
		_ = cmd.Wait()
		c.mu.Lock()
		delete(c.mu.pids, pid)
		c.mu.Unlock()
		close(ch)
	}(n.exited)
	return nil
}

// signal sends sig to n and, for a kill or term, waits for the exit.
func (c *cluster) signal(n *node, sig syscall.Signal) {
	_ = n.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		select {
		case <-n.exited:
		case <-time.After(15 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	}
}

// cut takes n off the network: its route and raft links in mode, and its
// clients' connections dropped (clients fail over to the majority).
func (c *cluster) cut(n *node, mode faultproxy.Mode) {
	c.peers.Cut(n.name, mode)
	c.clients.Cut(n.name, faultproxy.Drop)
}

// heal puts n back on the network.
func (c *cluster) heal(n *node) {
	c.peers.Heal(n.name)
	c.clients.Heal(n.name)
}

// close stops the processes (SIGCONT first, in case one is paused) and
// the proxies.
func (c *cluster) close() {
	for _, n := range c.nodes {
		if n.cmd != nil {
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			c.signal(n, syscall.SIGTERM)
		}
	}
	_ = c.peers.Close()
	_ = c.clients.Close()
}

// anonymousPeers counts route and raft connections whose dialer was not
// named: a cut stops those only at the target's end.
func (c *cluster) anonymousPeers() int64 {
	var a int64
	for _, n := range c.nodes {
		a += n.route.Stats().Anonymous + n.raft.Stats().Anonymous
	}
	return a
}

// urls lists the client URLs (proxies) of nodes.
func urls(nodes ...*node) string {
	u := make([]string, 0, len(nodes))
	for _, n := range nodes {
		u = append(u, n.url())
	}
	return strings.Join(u, ",")
}

// connectRetry connects to urls (and only them: the servers' own addresses
// in INFO are ignored, so every connection goes through a proxy), retrying
// until ctx ends. The client PINGs every second and gives a server up after
// 3 unanswered PINGs, so it leaves a paused (SIGSTOP) or black-holed server
// in about 4 s instead of nats.go's default 4 minutes. opts are added to
// the client's options.
func connectRetry(ctx context.Context, urls string, opts ...nats.Option) (*nats.Conn, error) {
	for {
		nc, err := nats.Connect(urls, append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
			nats.RetryOnFailedConnect(true), nats.IgnoreDiscoveredServers(),
			nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3)}, opts...)...)
		if err == nil {
			return nc, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

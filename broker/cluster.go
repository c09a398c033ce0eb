package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/codec"
)

// Clustering: servers of one cluster are joined by routes and behave, for
// core NATS, as one server. The wire protocol is codec's route protocol.
//
// # Two connections per pair, data one way on each
//
// A route is made of two TCP connections, one dialed by each side. The
// accepting side of a connection (a routeOut, fed by netpoll like a client)
// is where this server *sends* to the peer: its INFO, its interest (RS+/RS-)
// and the messages the peer's subscribers want, all through a netpoll
// Transport, so a slow peer costs a watermark of memory and the rest is
// staged on disk, as for a slow client. The dialing side (a routeIn, a
// goroutine reading a net.Conn) is where this server *receives*: the peer's
// interest becomes Subscriptions owned by the peer in the Sublist, and its
// messages are delivered to local subscribers. A blocking reader gives TCP
// flow control for free, and netpoll (the only gnet importer) is used
// unchanged. The dialer only writes CONNECT and PONG.
//
// # Membership and gossip
//
// Every server dials its seeds (Options.Seeds; a seed that turns out to be
// this server is dropped) and retries them forever with backoff. An INFO
// lists the route URLs of the members its sender is connected to and a
// CONNECT carries the dialer's own route URL; a server dials every route
// URL it learns and has no connection to, so the cluster becomes a full
// mesh whichever seeds were given. A learned URL is retried ImplicitRetries
// times after a failure, then forgotten until it is learned again. A peer is
// a member while either of its connections is up; membership changes update
// the connect_urls of the client INFO (sent again, asynchronously, to every
// client that speaks protocol 1) and are gossiped in a new route INFO.
//
// # Messages
//
// Local client subscriptions are counted per subject and queue group; the
// first plain one sends RS+, the last RS-, and every change of a queue
// group's count sends RS+ with the new weight (RS- at zero). Internal
// subscriptions (JetStream) are not advertised, and messages from a route
// are neither captured into streams nor given to internal subscriptions:
// until streams are replicated, JetStream stays per server. A published
// message goes to each peer at most once (one RMSG carrying the queue groups
// that peer was chosen for) and a server delivers what a route brought only
// to its own clients, so nothing is forwarded twice. A queue group prefers
// a local member; only when none is eligible is one peer with members picked
// at random. Server.Send (server-originated deliveries) stays local.
//
// Large messages (over Options.StreamThreshold) are forwarded in the
// chunked form as they arrive, through a Stream slot on the route. When the
// publisher disconnects mid-payload the route carries an abort frame; the
// receiving server aborts its own receivers' streams (a receiver that had
// none of it never sees it; one that had part is disconnected, as for a
// local publisher). The route itself survives.
//
// # Locks
//
// Cluster.mu guards membership, the interest counts and the dialers. Route
// protocol lines are written to routeOut transports under it (Transport
// writes only queue), which keeps every peer's view of our interest in
// order. Publishers never take it: they reach a peer's Transport through
// peer.out, an atomic pointer.

// Route defaults applied by NewCluster to zero ClusterOptions fields.
const (
	DefaultRoutePingInterval = 2 * time.Second
	DefaultRouteMaxPingsOut  = 3
	DefaultRouteRetryMin     = 50 * time.Millisecond
	DefaultRouteRetryMax     = 2 * time.Second
	DefaultImplicitRetries   = 10
	DefaultRouteDialTimeout  = 2 * time.Second
)

// Dialer opens route connections; *net.Dialer is one. A test or a fault
// injector may pass its own.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ClusterOptions configure a Cluster. Zero fields take the defaults above.
type ClusterOptions struct {
	// Name is the cluster name, advertised in INFO; a route from a server
	// with another (non-empty) name is refused.
	Name string
	// Seeds are route URLs to dial and keep dialing: "host:port",
	// "nats://host:port" or "nats-route://host:port". Listing this server
	// itself is harmless, so every member may be given the same list.
	Seeds []string
	// RouteURL is the host:port other servers reach this server's route
	// listener on. It may also be set later with SetRouteURL, before Start.
	RouteURL string
	// ClientURL is the host:port advertised to clients in connect_urls
	// (default: the client listener's host and port from the server's INFO,
	// with an unspecified host replaced by 127.0.0.1).
	ClientURL string
	// RaftAddr is this server's raft listen address, advertised to peers
	// for replicated streams; the cluster itself does not use it.
	RaftAddr string
	// NodeID is this server's stable numeric id (its raft replica id, > 0
	// when set), advertised to peers; 0 when not configured.
	NodeID uint64
	// Dialer opens outbound routes (default: net.Dialer with
	// DefaultRouteDialTimeout).
	Dialer Dialer
	// PingInterval is how often a route is PINGed; after MaxPingsOut
	// unanswered PINGs (or that long without a PING on an inbound route)
	// it is closed.
	PingInterval time.Duration
	MaxPingsOut  int
	// RetryMin and RetryMax bound the backoff between dial attempts.
	RetryMin, RetryMax time.Duration
	// ImplicitRetries is how many failed attempts a learned (not seeded)
	// route URL gets before it is forgotten.
	ImplicitRetries int
}

func (o ClusterOptions) withDefaults() ClusterOptions {
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultRoutePingInterval
	}
	if o.MaxPingsOut <= 0 {
		o.MaxPingsOut = DefaultRouteMaxPingsOut
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRouteRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultRouteRetryMax, o.RetryMin)
	}
	if o.ImplicitRetries <= 0 {
		o.ImplicitRetries = DefaultImplicitRetries
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{Timeout: DefaultRouteDialTimeout}
	}
	return o
}

// Errors that end a route connection.
var (
	errSelfRoute      = errors.New("broker: route leads back to this server")
	errDuplicateRoute = errors.New("broker: already connected to this server")
	errClusterName    = errors.New("broker: route from another cluster")
	errRouteReplaced  = errors.New("broker: route replaced by a newer connection")
	errClusterClosed  = errors.New("broker: cluster shut down")
	errRouteNoInfo    = errors.New("broker: route did not start with INFO")
	errRouteStale     = errors.New("broker: route stopped answering PINGs")
)

// Cluster joins a Server to the other members of its cluster. Create it
// with NewCluster before clients are accepted, hand AcceptRoute to the
// route listener, then call Start.
type Cluster struct {
	srv    *Server
	opts   ClusterOptions
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	// dialers counts running dial loops, for Shutdown.
	dialers sync.WaitGroup
	// memberMu serializes membership announcements so that the last one
	// sent is the current one; it is taken before mu, never inside it.
	memberMu sync.Mutex
	nextRID  atomic.Uint64

	mu struct {
		sync.Mutex
		// routeURL and clientURL are what this server advertises.
		routeURL, clientURL string
		// peers are the members with at least one connection up, by
		// server id.
		peers map[string]*peer
		// interest counts local client subscriptions by subject and queue.
		interest map[interestKey]int
		// dialing holds the route URLs with a running dial loop.
		dialing map[string]bool
		// self holds URLs found to lead back to this server.
		self map[string]bool
		// ins and outs are every open route connection, for Shutdown and
		// Routez (outs include those whose CONNECT has not arrived).
		ins  map[*routeIn]struct{}
		outs map[*routeOut]struct{}
		// connectURLs is the last list announced to clients.
		connectURLs []string
		started     bool
		closed      bool
	}
}

type interestKey struct{ account, subject, queue string }

// peer is another member of the cluster, known by its server id.
type peer struct {
	id string
	// out is where messages for the peer go; nil while the peer has not
	// dialed us. Publishers load it without locks.
	out atomic.Pointer[routeOut]
	// Traffic since the peer joined; in is counted by its routeIn, out by
	// the publishers forwarding to it.
	inMsgs, inBytes, outMsgs, outBytes atomic.Int64

	// info and in are guarded by Cluster.mu.
	info codec.RouteInfo
	in   *routeIn
}

// NewCluster attaches a cluster to s. Call it before s accepts clients (so
// that every local subscription is counted) and at most once.
func NewCluster(s *Server, o ClusterOptions) *Cluster {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{srv: s, opts: o, log: s.log.With("component", "cluster"), ctx: ctx, cancel: cancel}
	c.mu.routeURL = normalizeRouteURL(o.RouteURL)
	c.mu.peers = make(map[string]*peer)
	c.mu.interest = make(map[interestKey]int)
	c.mu.dialing = make(map[string]bool)
	c.mu.self = make(map[string]bool)
	c.mu.ins = make(map[*routeIn]struct{})
	c.mu.outs = make(map[*routeOut]struct{})
	s.cluster = c
	s.mu.Lock()
	s.info.Cluster = o.Name
	s.mu.Unlock()
	return c
}

// SetRouteURL sets the advertised route URL (host:port), for a listener
// whose port was picked at bind time. Call it before Start.
func (c *Cluster) SetRouteURL(hostport string) {
	c.mu.Lock()
	c.mu.routeURL = normalizeRouteURL(hostport)
	c.mu.Unlock()
}

// Start begins dialing the seeds and announces this server's client URL.
// It returns at once; routes form in the background.
func (c *Cluster) Start() {
	c.srv.mu.Lock()
	host, port := c.srv.info.Host, c.srv.info.Port
	c.srv.mu.Unlock()
	c.mu.Lock()
	if c.mu.started || c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.started = true
	c.mu.clientURL = c.opts.ClientURL
	if c.mu.clientURL == "" {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		c.mu.clientURL = net.JoinHostPort(host, strconv.Itoa(port))
	}
	for _, s := range c.opts.Seeds {
		if u := normalizeRouteURL(s); u != "" && !c.mu.dialing[u] {
			c.startDialLocked(u, true)
		}
	}
	c.mu.Unlock()
	c.announce()
}

// Shutdown closes every route and stops dialing; it waits for the dial
// loops to return. Remote interest is dropped as the routes close.
func (c *Cluster) Shutdown() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	ins := make([]*routeIn, 0, len(c.mu.ins))
	for ri := range c.mu.ins {
		ins = append(ins, ri)
	}
	outs := make([]*routeOut, 0, len(c.mu.outs))
	for ro := range c.mu.outs {
		outs = append(outs, ro)
	}
	c.mu.Unlock()
	c.cancel()
	for _, ri := range ins {
		ri.close()
	}
	for _, ro := range outs {
		ro.stopKeepalive()
		ro.t.Close(errClusterClosed)
	}
	c.dialers.Wait()
}

// Name is the cluster name ("" when none was configured).
func (c *Cluster) Name() string { return c.opts.Name }

// RaftAddr is this server's advertised raft address.
func (c *Cluster) RaftAddr() string { return c.opts.RaftAddr }

// NodeID is this server's configured node id (0 when none).
func (c *Cluster) NodeID() uint64 { return c.opts.NodeID }

// checkNodeIDLocked warns about a peer that claims this server's node id:
// replicated streams would confuse the two.
func (c *Cluster) checkNodeIDLocked(info *codec.RouteInfo) {
	if c.opts.NodeID != 0 && info.NodeID == c.opts.NodeID {
		c.log.Error("peer has this server's node id", "node_id", info.NodeID, "peer", info.Name, "id", info.ID)
	}
}

// selfInfoLocked is the RouteInfo this server sends in INFO and CONNECT.
func (c *Cluster) selfInfoLocked() *codec.RouteInfo {
	ri := &codec.RouteInfo{
		ID:         c.srv.id,
		Name:       c.srv.info.ServerName,
		Cluster:    c.opts.Name,
		Version:    Version,
		RouteURL:   c.mu.routeURL,
		ClientURL:  c.mu.clientURL,
		RaftAddr:   c.opts.RaftAddr,
		NodeID:     c.opts.NodeID,
		MaxPayload: c.srv.limits.Load().MaxPayload,
	}
	for _, pe := range c.mu.peers {
		if pe.info.RouteURL != "" {
			ri.Routes = append(ri.Routes, pe.info.RouteURL)
		}
	}
	slices.Sort(ri.Routes)
	return ri
}

// registerIn records ri, whose INFO says it reached server info.ID, as the
// peer's inbound connection.
func (c *Cluster) registerIn(ri *routeIn, info *codec.RouteInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.mu.closed:
		return errClusterClosed
	case info.ID == c.srv.id:
		c.mu.self[ri.url] = true
		return errSelfRoute
	case c.opts.Name != "" && info.Cluster != "" && info.Cluster != c.opts.Name:
		return errClusterName
	}
	pe := c.peerLocked(info.ID)
	if pe.in != nil {
		return errDuplicateRoute
	}
	pe.in, pe.info = ri, *info
	ri.peer = pe
	c.checkNodeIDLocked(info)
	return nil
}

// unregisterIn forgets ri as its peer's inbound connection.
func (c *Cluster) unregisterIn(ri *routeIn) {
	c.mu.Lock()
	delete(c.mu.ins, ri)
	pe := ri.peer
	changed := false
	if pe != nil && pe.in == ri {
		pe.in = nil
		changed = c.dropIfGoneLocked(pe)
	}
	c.mu.Unlock()
	if changed {
		c.announce()
	}
}

// registerOut makes ro, whose CONNECT came from info.ID, the peer's outbound
// connection and sends it this server's whole interest.
func (c *Cluster) registerOut(ro *routeOut, info *codec.RouteInfo) error {
	c.mu.Lock()
	switch {
	case c.mu.closed:
		c.mu.Unlock()
		return errClusterClosed
	case info.ID == c.srv.id:
		c.mu.Unlock()
		return errSelfRoute
	case c.opts.Name != "" && info.Cluster != "" && info.Cluster != c.opts.Name:
		c.mu.Unlock()
		return errClusterName
	}
	pe := c.peerLocked(info.ID)
	if pe.in == nil {
		pe.info = *info
	}
	ro.peer = pe
	old := pe.out.Swap(ro)
	var b []byte
	for k, n := range c.mu.interest {
		b = codec.AppendRouteSub(b, k.account, k.subject, k.queue, weight(k, n))
	}
	if len(b) > 0 {
		_ = ro.t.Write(b)
	}
	c.mu.Unlock()
	if old != nil {
		old.stopKeepalive()
		old.t.Close(errRouteReplaced)
	}
	c.learn(info.RouteURL)
	c.learn(info.Routes...)
	c.announce()
	return nil
}

// unregisterOut forgets ro as its peer's outbound connection.
func (c *Cluster) unregisterOut(ro *routeOut) {
	c.mu.Lock()
	delete(c.mu.outs, ro)
	changed := false
	if pe := ro.peer; pe != nil && pe.out.CompareAndSwap(ro, nil) {
		changed = c.dropIfGoneLocked(pe)
	}
	c.mu.Unlock()
	if changed {
		c.announce()
	}
}

func (c *Cluster) peerLocked(id string) *peer {
	pe := c.mu.peers[id]
	if pe == nil {
		pe = &peer{id: id}
		c.mu.peers[id] = pe
	}
	return pe
}

// dropIfGoneLocked removes pe once neither connection is up and reports
// whether it did.
func (c *Cluster) dropIfGoneLocked(pe *peer) bool {
	if pe.in != nil || pe.out.Load() != nil || c.mu.peers[pe.id] != pe {
		return false
	}
	delete(c.mu.peers, pe.id)
	return true
}

// announce publishes the current membership: connect_urls to clients (when
// they changed) and a route INFO, for gossip, to every peer.
func (c *Cluster) announce() {
	c.memberMu.Lock()
	defer c.memberMu.Unlock()
	c.mu.Lock()
	if c.mu.closed || !c.mu.started {
		c.mu.Unlock()
		return
	}
	urls := []string{c.mu.clientURL}
	for _, pe := range c.mu.peers {
		if pe.info.ClientURL != "" {
			urls = append(urls, pe.info.ClientURL)
		}
	}
	slices.Sort(urls)
	urls = slices.Compact(urls)
	b := codec.AppendRouteInfo(nil, c.selfInfoLocked())
	for _, pe := range c.mu.peers {
		if ro := pe.out.Load(); ro != nil {
			_ = ro.t.Write(b)
		}
	}
	changed := !slices.Equal(urls, c.mu.connectURLs)
	c.mu.connectURLs = urls
	c.mu.Unlock()
	if changed {
		c.srv.setConnectURLs(urls)
	}
}

// learn starts dialing each route URL this server has no connection or
// dial loop for.
func (c *Cluster) learn(urls ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed || !c.mu.started {
		return
	}
next:
	for _, u := range urls {
		u = normalizeRouteURL(u)
		if u == "" || u == c.mu.routeURL || c.mu.self[u] || c.mu.dialing[u] {
			continue
		}
		for _, pe := range c.mu.peers {
			if pe.in != nil && pe.info.RouteURL == u {
				continue next
			}
		}
		c.startDialLocked(u, false)
	}
}

// localSub counts a new local client subscription and tells every peer
// when it changes what the peers must forward.
func (c *Cluster) localSub(sub *Subscription) {
	k := interestKey{sub.acc.name, sub.Subject, sub.Queue}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.mu.interest[k] + 1
	c.mu.interest[k] = n
	if k.queue == "" && n > 1 {
		return
	}
	c.broadcastLocked(codec.AppendRouteSub(nil, k.account, k.subject, k.queue, weight(k, n)))
}

// localUnsub uncounts local client subscriptions that left.
func (c *Cluster) localUnsub(subs ...*Subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b []byte
	for _, sub := range subs {
		if (sub.handler != nil && !sub.routed) || sub.peer != nil {
			continue
		}
		k := interestKey{sub.acc.name, sub.Subject, sub.Queue}
		n, ok := c.mu.interest[k]
		if !ok {
			continue
		}
		n--
		switch {
		case n <= 0:
			delete(c.mu.interest, k)
			b = codec.AppendRouteUnsub(b, k.account, k.subject, k.queue)
		case k.queue != "":
			c.mu.interest[k] = n
			b = codec.AppendRouteSub(b, k.account, k.subject, k.queue, n)
		default:
			c.mu.interest[k] = n
		}
	}
	if len(b) > 0 {
		c.broadcastLocked(b)
	}
}

// broadcastLocked writes b to every peer's outbound connection.
func (c *Cluster) broadcastLocked(b []byte) {
	for _, pe := range c.mu.peers {
		if ro := pe.out.Load(); ro != nil {
			_ = ro.t.Write(b)
		}
	}
}

// weight is the RS+ weight for n subscriptions of k (0 for a plain one).
func weight(k interestKey, n int) int {
	if k.queue == "" {
		return 0
	}
	return n
}

// normalizeRouteURL reduces "nats://user@host:port/" and the like to
// "host:port"; it returns "" for an empty string.
func normalizeRouteURL(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(s, "/")
}

// setConnectURLs advertises urls in INFO from now on and sends the new INFO
// to every connected client that speaks protocol 1 (nats.go adds the URLs to
// its reconnect pool).
func (s *Server) setConnectURLs(urls []string) {
	s.mu.Lock()
	s.info.ConnectURLs = slices.Clone(urls)
	info := s.info
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	for _, c := range clients {
		if !c.asyncInfo.Load() || c.closed.Load() {
			continue
		}
		in := info
		in.ClientID, in.ClientIP, in.MaxPayload = c.cid, c.host, c.maxPayload
		c.write(codec.AppendInfo(nil, &in))
	}
}

// infoIfURLsChanged sends c the current INFO when the connect_urls changed
// since the INFO it got at accept (an async INFO skipped it before its
// first PONG).
func (s *Server) infoIfURLsChanged(c *client) {
	s.mu.Lock()
	info := s.info
	s.mu.Unlock()
	if slices.Equal(info.ConnectURLs, c.sentURLs) || c.closed.Load() {
		return
	}
	info.ClientID, info.ClientIP, info.MaxPayload = c.cid, c.host, c.maxPayload
	c.write(codec.AppendInfo(nil, &info))
}

// ConnectURLs returns the client URLs currently advertised in INFO.
func (s *Server) ConnectURLs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.info.ConnectURLs)
}

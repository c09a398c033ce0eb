package broker

import (
	"cmp"
	"slices"
	"time"
)

// Routez lists the cluster's routes, as nats-server's /routez does, one
// entry per peer (a barge route is two connections; see cluster.go).
type Routez struct {
	ID          string       `json:"server_id"`
	Name        string       `json:"server_name"`
	Cluster     string       `json:"cluster,omitempty"`
	Now         time.Time    `json:"now"`
	RouteURL    string       `json:"route_url"`
	RaftAddr    string       `json:"raft_addr,omitempty"`
	NodeID      uint64       `json:"node_id,omitempty"`
	ConnectURLs []string     `json:"connect_urls"`
	NumRoutes   int          `json:"num_routes"`
	Routes      []*RouteInfo `json:"routes"`
}

// RouteInfo describes one peer in Routez. In counts what the peer sent us
// (its messages to our subscribers), out what we forwarded to it.
type RouteInfo struct {
	Rid        uint64    `json:"rid"`
	RemoteID   string    `json:"remote_id"`
	RemoteName string    `json:"remote_name"`
	RouteURL   string    `json:"route_url"`
	ClientURL  string    `json:"client_url,omitempty"`
	RaftAddr   string    `json:"raft_addr,omitempty"`
	NodeID     uint64    `json:"node_id,omitempty"`
	IP         string    `json:"ip"`
	Port       int       `json:"port"`
	Start      time.Time `json:"start"`
	Uptime     string    `json:"uptime"`
	// Inbound: our dialed connection, on which the peer sends to us, is up.
	// Outbound: the peer's connection, on which we send to it, is up.
	Inbound    bool  `json:"inbound"`
	Outbound   bool  `json:"outbound"`
	DidSolicit bool  `json:"did_solicit"`
	Pending    int64 `json:"pending_size"`
	InMsgs     int64 `json:"in_msgs"`
	OutMsgs    int64 `json:"out_msgs"`
	InBytes    int64 `json:"in_bytes"`
	OutBytes   int64 `json:"out_bytes"`
	// NumSubs is the number of subjects (and queue groups) the peer told
	// us it has interest in.
	NumSubs uint32 `json:"subscriptions"`
}

// PeerInfo is what a cluster member told us about itself.
type PeerInfo struct {
	ID        string
	Name      string
	RouteURL  string
	ClientURL string
	RaftAddr  string
	NodeID    uint64 // the peer's stable node id, 0 when not configured
	// Inbound and Outbound say which of the two route connections is up;
	// messages flow both ways only when both are.
	Inbound, Outbound bool
}

// Peers returns the members this server has a route connection with,
// ordered by name then id. The slice is the caller's.
func (c *Cluster) Peers() []PeerInfo {
	c.mu.Lock()
	ps := make([]PeerInfo, 0, len(c.mu.peers))
	for _, pe := range c.mu.peers {
		ps = append(ps, PeerInfo{
			ID:        pe.id,
			Name:      pe.info.Name,
			RouteURL:  pe.info.RouteURL,
			ClientURL: pe.info.ClientURL,
			RaftAddr:  pe.info.RaftAddr,
			NodeID:    pe.info.NodeID,
			Inbound:   pe.in != nil,
			Outbound:  pe.out.Load() != nil,
		})
	}
	c.mu.Unlock()
	slices.SortFunc(ps, func(a, b PeerInfo) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return ps
}

// Routez returns a snapshot of the routes. Counters are read one by one.
func (c *Cluster) Routez() Routez {
	now := c.srv.opts.Clock.Now()
	c.mu.Lock()
	z := Routez{
		ID:          c.srv.id,
		Name:        c.srv.info.ServerName,
		Cluster:     c.opts.Name,
		Now:         now,
		RouteURL:    c.mu.routeURL,
		RaftAddr:    c.opts.RaftAddr,
		NodeID:      c.opts.NodeID,
		ConnectURLs: slices.Clone(c.mu.connectURLs),
		Routes:      []*RouteInfo{},
	}
	type entry struct {
		pe *peer
		in *routeIn
	}
	entries := make([]entry, 0, len(c.mu.peers))
	for _, pe := range c.mu.peers {
		entries = append(entries, entry{pe, pe.in})
	}
	infos := make(map[*peer]RouteInfo, len(entries))
	for _, e := range entries {
		pe := e.pe
		infos[pe] = RouteInfo{
			RemoteID:   pe.id,
			RemoteName: pe.info.Name,
			RouteURL:   pe.info.RouteURL,
			ClientURL:  pe.info.ClientURL,
			RaftAddr:   pe.info.RaftAddr,
			NodeID:     pe.info.NodeID,
			DidSolicit: e.in != nil,
		}
	}
	c.mu.Unlock()
	for _, e := range entries {
		pe := e.pe
		ri := infos[pe]
		ri.InMsgs, ri.InBytes = pe.inMsgs.Load(), pe.inBytes.Load()
		ri.OutMsgs, ri.OutBytes = pe.outMsgs.Load(), pe.outBytes.Load()
		if e.in != nil {
			ri.Inbound = true
			ri.Rid, ri.Start = e.in.rid, e.in.start
			ri.IP, ri.Port = splitHostPort(e.in.conn.RemoteAddr().String())
			ri.NumSubs = uint32(e.in.numSubs())
		}
		if ro := pe.out.Load(); ro != nil {
			ri.Outbound = true
			ri.Pending = ro.t.Pending()
			if e.in == nil {
				ri.Rid, ri.Start = ro.rid, ro.start
				ri.IP, ri.Port = splitHostPort(ro.t.RemoteAddr())
			}
		}
		ri.Uptime = formatUptime(now.Sub(ri.Start))
		z.Routes = append(z.Routes, &ri)
	}
	slices.SortFunc(z.Routes, func(a, b *RouteInfo) int {
		return cmp.Or(cmp.Compare(a.RemoteName, b.RemoteName), cmp.Compare(a.RemoteID, b.RemoteID))
	})
	z.NumRoutes = len(z.Routes)
	return z
}

// RemoteInterest returns how many peers have told this server they want
// messages published on the literal subject in the global account.
func (s *Server) RemoteInterest(subject string) int {
	return s.RemoteInterestIn(GlobalAccountName, subject)
}

// RemoteInterestIn is RemoteInterest in the named account.
func (s *Server) RemoteInterestIn(account, subject string) int {
	r := s.Account(account).sl.Match([]byte(subject))
	var seen []*peer
	add := func(sub *Subscription) {
		if sub.peer != nil && !slices.Contains(seen, sub.peer) {
			seen = append(seen, sub.peer)
		}
	}
	for _, sub := range r.Psubs {
		add(sub)
	}
	for _, g := range r.Qsubs {
		for _, sub := range g {
			add(sub)
		}
	}
	return len(seen)
}

// Cluster returns the server's cluster, nil when it is not clustered.
func (s *Server) Cluster() *Cluster { return s.cluster }

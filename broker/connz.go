package broker

import (
	"cmp"
	"slices"

	"github.com/bargemq/barge/subject"
)

// ConnzOptions are the options of nats-server's CONNZ request and /connz
// query that barge honours (JSON tags as nats-server's ConnzOptions): the
// connections of one account, user or client id, those with a
// subscription matching a subject, each with its subscription subjects,
// and paging. The zero value lists every connection.
type ConnzOptions struct {
	// Subscriptions fills ConnInfo.Subs.
	Subscriptions bool   `json:"subscriptions"`
	Offset        int    `json:"offset"`
	Limit         int    `json:"limit"` // 0: all
	CID           uint64 `json:"cid"`
	User          string `json:"user"`
	Account       string `json:"acc"`
	// FilterSubject keeps the connections with a subscription whose
	// subject overlaps it (nats-server asks for an account with it).
	FilterSubject string `json:"filter_subject"`
}

// ConnzWith lists the client connections that o selects, by client id.
func (s *Server) ConnzWith(o ConnzOptions) Connz {
	now := s.opts.Clock.Now()
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	slices.SortFunc(clients, func(a, b *client) int { return cmp.Compare(a.cid, b.cid) })
	var infos []*ConnInfo
	for _, c := range clients {
		if o.CID != 0 && c.cid != o.CID {
			continue
		}
		ci := c.connInfo(now)
		if (o.Account != "" && ci.Account != o.Account) || (o.User != "" && ci.AuthorizedUser != o.User) {
			continue
		}
		subs := c.subjects()
		if o.FilterSubject != "" && !slices.ContainsFunc(subs, func(s string) bool { return subject.Overlap(s, o.FilterSubject) }) {
			continue
		}
		if o.Subscriptions {
			ci.Subs = subs
		}
		infos = append(infos, ci)
	}
	z := Connz{ID: s.id, Now: now, Total: len(infos), Offset: o.Offset, Conns: []*ConnInfo{}}
	if o.Offset < len(infos) {
		infos = infos[max(o.Offset, 0):]
		if o.Limit > 0 && len(infos) > o.Limit {
			infos = infos[:o.Limit]
		}
		z.Conns = infos
	}
	z.NumConns, z.Limit = len(z.Conns), o.Limit
	if o.Limit <= 0 {
		z.Limit = z.Total
	}
	return z
}

// subjects are the subjects of c's subscriptions, sorted.
func (c *client) subjects() []string {
	c.mu.Lock()
	out := make([]string, 0, len(c.mu.subs))
	for _, sub := range c.mu.subs {
		out = append(out, sub.Subject)
	}
	c.mu.Unlock()
	slices.Sort(out)
	return out
}

package broker

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/bargemq/barge/subject"
)

// The monitoring port's /subsz, nats-server's Subsz: the subject index's
// counters and, with Subscriptions, the clients' subscriptions (those of
// routes and internal ones are counted but not listed, as there), paged
// by Offset and Limit and, with Test, only those a message published to
// that subject would reach.

// DefaultSubszLimit is the page size of the subscriptions list when
// SubszOptions.Limit is not set (nats-server's DefaultSubListSize).
const DefaultSubszLimit = 1024

// SubszOptions are /subsz's query options.
type SubszOptions struct {
	Subscriptions bool   // subs=1: list the subscriptions
	Offset, Limit int    // the page of the list
	Test          string // test=<subject>: only the subscriptions it matches
	Account       string // acc=<name>: only this account's subscriptions
}

// Subsz is the /subsz document.
type Subsz struct {
	ID           string      `json:"server_id"`
	Now          time.Time   `json:"now"`
	NumSubs      uint32      `json:"num_subscriptions"`
	NumCache     uint32      `json:"num_cache"`
	NumInserts   uint64      `json:"num_inserts"`
	NumRemoves   uint64      `json:"num_removes"`
	NumMatches   uint64      `json:"num_matches"`
	CacheHitRate float64     `json:"cache_hit_rate"`
	MaxFanout    uint32      `json:"max_fanout"`
	AvgFanout    float64     `json:"avg_fanout"`
	Total        int         `json:"total"`
	Offset       int         `json:"offset"`
	Limit        int         `json:"limit"`
	Subs         []SubDetail `json:"subscriptions_list,omitempty"`
}

// SubDetail is one client subscription in /subsz's list.
type SubDetail struct {
	Account string `json:"account,omitempty"`
	Subject string `json:"subject"`
	Queue   string `json:"qgroup,omitempty"`
	Sid     string `json:"sid"`
	Msgs    int64  `json:"msgs"`
	Max     int64  `json:"max,omitempty"`
	Cid     uint64 `json:"cid"`
}

// Subsz reports the accounts' subject indexes (summed; with Account, that
// one's). A Test subject that is not a valid
// literal publish subject is an error, worded as nats-server's.
func (s *Server) Subsz(o SubszOptions) (*Subsz, error) {
	if o.Test != "" && (!subject.ValidPublish([]byte(o.Test)) || !subject.IsLiteral([]byte(o.Test))) {
		return nil, errors.New("invalid test subject, must be valid publish subject: " + o.Test)
	}
	if o.Limit <= 0 {
		o.Limit = DefaultSubszLimit
	}
	o.Offset = max(o.Offset, 0)
	var st SublistStats
	for _, acc := range s.Accounts() {
		if o.Account != "" && acc.Name() != o.Account {
			continue
		}
		as := acc.Sublist().Stats()
		st.Subscriptions += as.Subscriptions
		st.Cache += as.Cache
		st.Inserts += as.Inserts
		st.Removes += as.Removes
		st.Matches += as.Matches
		st.CacheHits += as.CacheHits
		st.MaxFanout = max(st.MaxFanout, as.MaxFanout)
		st.TotalFanout += as.TotalFanout
	}
	z := &Subsz{
		ID: s.id, Now: s.opts.Clock.Now().UTC(),
		NumSubs: uint32(st.Subscriptions), NumCache: uint32(st.Cache),
		NumInserts: st.Inserts, NumRemoves: st.Removes, NumMatches: st.Matches,
		MaxFanout: uint32(st.MaxFanout), Offset: o.Offset, Limit: o.Limit,
	}
	if st.Matches > 0 {
		z.CacheHitRate = float64(st.CacheHits) / float64(st.Matches)
	}
	if st.Cache > 0 {
		z.AvgFanout = float64(st.TotalFanout) / float64(st.Cache)
	}
	if !o.Subscriptions {
		return z, nil
	}
	s.mu.Lock()
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	slices.SortFunc(clients, func(a, b *client) int { return cmp.Compare(a.cid, b.cid) })
	var details []SubDetail
	for _, c := range clients {
		details = c.appendSubDetails(details, o)
	}
	z.Total = len(details)
	lo := min(o.Offset, len(details))
	hi := lo + min(o.Limit, len(details)-lo)
	z.Subs = details[lo:hi]
	return z, nil
}

// appendSubDetails appends the client's subscriptions that o selects,
// sorted by sid.
func (c *client) appendSubDetails(dst []SubDetail, o SubszOptions) []SubDetail {
	acc := c.account().name
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.Account != "" && acc != o.Account {
		return dst
	}
	start := len(dst)
	for _, sub := range c.mu.subs {
		if o.Test != "" && !subject.Matches(sub.Subject, o.Test) {
			continue
		}
		dst = append(dst, SubDetail{
			Account: acc, Subject: sub.Subject, Queue: sub.Queue,
			Sid: string(sub.sid), Msgs: sub.delivered.Load(), Max: sub.max.Load(), Cid: c.cid,
		})
	}
	slices.SortFunc(dst[start:], func(a, b SubDetail) int { return cmp.Compare(a.Sid, b.Sid) })
	return dst
}

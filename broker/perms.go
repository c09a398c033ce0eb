package broker

import (
	"strconv"
	"sync"
	"time"

	"github.com/bargemq/barge/auth"
)

// Permissions on the hot path. A connection's user's permissions are
// compiled once (auth.Perms, at CONNECT and at each reload) and held in a
// clientPerms with caches of the answers, so that a permitted publish costs
// one map lookup on the publisher's event loop and a connection without
// permissions costs one nil check.

// permCacheMax bounds each cache of a clientPerms; past it a quarter is
// dropped (whichever entries map iteration yields).
const permCacheMax = 128

// replyPruneEvery is how many recorded reply subjects (allow_responses)
// trigger a pass dropping the used and expired ones.
const replyPruneEvery = 4096

// bargePrefix is the subject prefix of the servers' own traffic (JetStream
// forwarding between members, their replies): a user with permissions may
// never publish there, whatever its allow list says, so it cannot pose as
// a member.
const bargePrefix = "$BARGE."

// clientPerms is one connection's permissions with its caches. It is
// replaced whole when the permissions change (a reload, a second CONNECT).
type clientPerms struct {
	p *auth.Perms
	// pub caches PubAllowed by subject. Only the connection's event loop
	// (its publishes) touches it.
	pub map[string]bool

	// mu guards what deliveries on other event loops and goroutines
	// touch.
	mu struct {
		sync.Mutex
		// deny caches DeliveryDenied by subject for plain
		// subscriptions, qdeny by subject and queue group.
		deny  map[string]bool
		qdeny map[denyKey]bool
		// read caches MayRead by subject (stored messages delivered).
		read map[string]bool
		// replies are the reply subjects of messages delivered to the
		// connection (allow_responses), with when and how often it
		// answered; nil without allow_responses.
		replies map[string]*replyPerm
		// added counts replies recorded since the last prune.
		added int
	}
}

type denyKey struct{ subject, queue string }

// replyPerm is a reply subject the connection may publish to.
type replyPerm struct {
	at time.Time
	n  int
}

func newClientPerms(p *auth.Perms) *clientPerms {
	if p == nil {
		return nil
	}
	cp := &clientPerms{p: p, pub: make(map[string]bool)}
	cp.mu.deny = make(map[string]bool)
	cp.mu.qdeny = make(map[denyKey]bool)
	cp.mu.read = make(map[string]bool)
	if p.Response() != nil {
		cp.mu.replies = make(map[string]*replyPerm)
	}
	return cp
}

// pubAllowed reports whether the connection may publish to subj. Loop-only.
// A permitted subject is answered from the cache without allocating.
func (c *client) pubAllowed(subj []byte) bool {
	cp := c.perms.Load()
	if cp == nil {
		return true
	}
	if ok, hit := cp.pub[string(subj)]; hit {
		return ok
	}
	ok := !hasPrefix(subj, bargePrefix) && cp.p.PubAllowed(string(subj))
	if !ok && cp.p.Response() != nil && c.responseAllowed(cp, subj) {
		return true // not cached: the permission is used up as it is used
	}
	if len(cp.pub) >= permCacheMax {
		dropSome(cp.pub)
	}
	cp.pub[string(subj)] = ok
	return ok
}

// responseAllowed reports whether subj is the reply subject of a message
// the connection received that it may still answer, and counts the answer.
func (c *client) responseAllowed(cp *clientPerms, subj []byte) bool {
	rp := cp.p.Response()
	now := c.srv.opts.Clock.Now()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	r := cp.mu.replies[string(subj)]
	if r == nil {
		return false
	}
	r.n++
	if (rp.MaxMsgs > 0 && r.n > rp.MaxMsgs) || (rp.Expires > 0 && now.Sub(r.at) > rp.Expires) {
		delete(cp.mu.replies, string(subj))
		return false
	}
	if rp.MaxMsgs > 0 && r.n == rp.MaxMsgs {
		delete(cp.mu.replies, string(subj))
	}
	return true
}

// noteReply records that the connection was handed a message with reply
// subject reply, which allow_responses lets it answer. Safe on any
// goroutine.
func (c *client) noteReply(reply []byte) {
	cp := c.perms.Load()
	if cp == nil || cp.mu.replies == nil || len(reply) == 0 {
		return
	}
	now := c.srv.opts.Clock.Now()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if r := cp.mu.replies[string(reply)]; r != nil {
		r.at, r.n = now, 0
		return
	}
	cp.mu.replies[string(reply)] = &replyPerm{at: now}
	if cp.mu.added++; cp.mu.added > replyPruneEvery {
		cp.pruneRepliesLocked(now)
	}
}

// pruneRepliesLocked drops the expired reply subjects.
func (cp *clientPerms) pruneRepliesLocked(now time.Time) {
	rp := cp.p.Response()
	for k, r := range cp.mu.replies {
		if rp.Expires > 0 && now.Sub(r.at) > rp.Expires {
			delete(cp.mu.replies, k)
		}
	}
	cp.mu.added = 0
}

// deliverable reports whether a message on subj may be delivered to sub,
// a subscription whose SUB a deny entry overlaps (sub.permFilter). Safe on
// any goroutine.
func (c *client) deliverable(sub *Subscription, subj []byte) bool {
	cp := c.perms.Load()
	if cp == nil {
		return true
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if sub.Queue == "" {
		// Keyed by the subject alone, so that the lookup of a cached
		// answer does not allocate.
		denied, hit := cp.mu.deny[string(subj)]
		if !hit {
			denied = cp.p.DeliveryDenied(string(subj), "")
			if len(cp.mu.deny) >= permCacheMax {
				dropSome(cp.mu.deny)
			}
			cp.mu.deny[string(subj)] = denied
		}
		return !denied
	}
	k := denyKey{string(subj), sub.Queue}
	denied, hit := cp.mu.qdeny[k]
	if !hit {
		denied = cp.p.DeliveryDenied(k.subject, k.queue)
		if len(cp.mu.qdeny) >= permCacheMax {
			dropSome(cp.mu.qdeny)
		}
		cp.mu.qdeny[k] = denied
	}
	return !denied
}

// mayRead reports whether a stored message on subj (a JetStream delivery)
// may reach this connection: its user may subscribe to subj. Safe on any
// goroutine.
func (c *client) mayRead(subj []byte) bool {
	cp := c.perms.Load()
	if cp == nil {
		return true
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	ok, hit := cp.mu.read[string(subj)]
	if !hit {
		ok = cp.p.MayRead(string(subj))
		if len(cp.mu.read) >= permCacheMax {
			dropSome(cp.mu.read)
		}
		cp.mu.read[string(subj)] = ok
	}
	return ok
}

// readPerms are the compiled permissions JetStream checks reads against;
// nil restricts nothing.
func (c *client) readPerms() *auth.Perms {
	if cp := c.perms.Load(); cp != nil {
		return cp.p
	}
	return nil
}

// dropSome forgets a quarter of a full cache.
func dropSome[K comparable, V any](m map[K]V) {
	n := len(m) / 4
	for k := range m {
		if n <= 0 {
			return
		}
		delete(m, k)
		n--
	}
}

// pubViolation tells the client it may not publish to subj, nats-server's
// wording; the connection stays open.
func (c *client) pubViolation(subj []byte) {
	c.sendErr("Permissions Violation for Publish to " + strconv.Quote(string(subj)))
	c.srv.log.Warn("publish violation", "cid", c.cid, "user", c.userName(), "subject", string(subj))
}

// subViolationText is the -ERR text refusing SUB subj [queue].
func subViolationText(subj, queue string) string {
	if queue != "" {
		return "Permissions Violation for Subscription to " + strconv.Quote(subj) + " using queue " + strconv.Quote(queue)
	}
	return "Permissions Violation for Subscription to " + strconv.Quote(subj)
}

// subViolation tells the client it may not subscribe to subj [queue];
// the connection stays open.
func (c *client) subViolation(subj, queue string) {
	c.sendErr(subViolationText(subj, queue))
	c.srv.log.Warn("subscription violation", "cid", c.cid, "user", c.userName(), "subject", subj, "queue", queue)
}

// subAllowed checks SUB subj [queue] against the permissions and says
// whether its deliveries must be filtered. Any goroutine.
func (c *client) subAllowed(subj, queue string) (ok, filter bool) {
	cp := c.perms.Load()
	if cp == nil {
		return true, false
	}
	if !cp.p.SubAllowed(subj, queue) {
		return false, false
	}
	return true, cp.p.NeedsFilter(subj, queue)
}

// setPerms installs p as the connection's permissions and checks its
// subscriptions against them: those no longer allowed are removed and the
// client told so (nats-server's reload wording, with the sid); the others'
// delivery filters are recomputed. Safe on any goroutine.
func (c *client) setPerms(p *auth.Perms) {
	c.perms.Store(newClientPerms(p))
	c.mu.Lock()
	subs := make([]*Subscription, 0, len(c.mu.subs))
	for _, sub := range c.mu.subs {
		subs = append(subs, sub)
	}
	c.mu.Unlock()
	for _, sub := range subs {
		ok, filter := c.subAllowed(sub.Subject, sub.Queue)
		sub.permFilter.Store(filter)
		if ok {
			continue
		}
		c.unsubscribe(sub)
		c.sendErr(subViolationText(sub.Subject, sub.Queue) + " (sid " + strconv.Quote(string(sub.sid)) + ")")
		c.srv.log.Info("subscription removed, not authorized", "cid", c.cid, "user", c.userName(),
			"subject", sub.Subject, "queue", sub.Queue, "sid", string(sub.sid))
	}
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

package broker

import (
	"errors"

	"github.com/bargemq/barge/auth"
)

// Subscription limits, as nats-server applies them: a connection may hold
// at most the server's max_subscriptions (Options.MaxSubs), lowered by its
// user's own limit (auth.Identity.MaxSubs: JWT limits, the account's). A
// SUB past the limit gets -ERR 'maximum subscriptions exceeded' and is
// dropped; the connection stays open. A login (or a reload's new rights)
// that finds the connection holding more than its limit sends the same
// error and closes it. (nats-server closes one holding exactly its limit
// too, so a reload would cut a client that did nothing wrong; barge
// closes only one over it.)

// errMaxSubsText is nats-server's ErrTooManySubs.
const errMaxSubsText = "maximum subscriptions exceeded"

// ErrMaxSubscriptions is the reason a connection found at its
// subscription limit by a login is closed with.
var ErrMaxSubscriptions = errors.New("broker: " + errMaxSubsText)

// subsAtLimitLocked reports whether one more subscription is over the
// limit: the connection's, or its account's limits block
// (AccountLimits.MaxSubscriptions, which a reload changes at once for
// every client of the account). c.mu must be held.
func (c *client) subsAtLimitLocked() bool {
	lim := c.maxSubs.Load()
	if l := c.account().limits.Load(); l != nil && l.MaxSubscriptions > 0 {
		lim = auth.MinSubs(lim, int64(l.MaxSubscriptions))
	}
	return lim != 0 && (lim < 0 || int64(len(c.mu.subs)) >= lim)
}

// maxSubsExceeded answers a SUB past the limit; the first one per
// connection is logged.
func (c *client) maxSubsExceeded() {
	if !c.maxSubsLogged.Swap(true) {
		c.srv.log.Warn(errMaxSubsText, "cid", c.cid, "addr", c.t.RemoteAddr(), "user", c.userName(), "limit", c.maxSubs.Load())
	}
	c.sendErr(errMaxSubsText)
}

// setMaxSubs installs the limit for a user's own limit userMax (see
// auth.Identity.MaxSubs) and closes the connection if it already holds
// more subscriptions.
func (c *client) setMaxSubs(userMax int64) {
	lim := auth.MinSubs(int64(c.srv.opts.MaxSubs), userMax)
	c.maxSubs.Store(lim)
	c.mu.Lock()
	n := int64(len(c.mu.subs))
	c.mu.Unlock()
	if lim != 0 && n > max(lim, 0) && c.t != nil {
		c.srv.log.Warn(errMaxSubsText+" at login", "cid", c.cid, "addr", c.t.RemoteAddr(), "user", c.userName())
		c.sendErr(errMaxSubsText)
		c.t.Close(ErrMaxSubscriptions)
	}
}

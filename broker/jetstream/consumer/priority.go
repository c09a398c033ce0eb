package consumer

import (
	"crypto/rand"
	"slices"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// Pull consumer priority groups (ADR-42, as nats-server 2.15 does them).
//
// A pull consumer with a priority_policy names its priority_groups, and
// every pull request names one of them ("group"). The policy decides which
// waiting request the next message goes to:
//
//	overflow       a request with min_pending and/or min_ack_pending is
//	               served only while num_pending (counting the message at
//	               hand) reaches min_pending or num_ack_pending reaches
//	               min_ack_pending; the others wait as if nothing were
//	               pending (heartbeats, expiry), and requests without
//	               either are served as usual.
//	pinned_client  one requester is pinned: the first request without a
//	               pin id that meets a message gets a fresh id, sent in
//	               the Nats-Pin-Id header of every message it and its
//	               successors receive; requests carrying that id are
//	               served, those without one wait, those with another id
//	               are ended with 423 (refused at once with "Nats-Pin-Id
//	               mismatch", or with "Nats-Wrong-Pin-Id" once they wait).
//	               The pin lapses after priority_timeout (default 2 min)
//	               without a pull from the pinned client, or when the
//	               UNPIN API drops it; the next message pins a new client.
//	prioritized    requests wait ordered by their "priority" (0 first,
//	               up to 9), in arrival order within one priority.
//
// The pin (id, group, when) is part of the durable state (state.go), so a
// restarted server or a replicated stream's new leader keeps serving the
// same client; the priority_timeout starts again at the load. Pin changes
// publish the pinned / unpinned advisories.

// pinnedTTLDefault is nats-server's priority_timeout for pinned_client.
const pinnedTTLDefault = 2 * time.Minute

// maxGroupName is the longest priority group name.
const maxGroupName = 16

// validGroupName reports whether g is a valid priority group name:
// 1 to 16 of A-Z a-z 0-9 / _ = - (nats-server's validGroupName).
func validGroupName(g string) bool {
	if len(g) == 0 || len(g) > maxGroupName {
		return false
	}
	for i := 0; i < len(g); i++ {
		switch b := g[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case b == '/', b == '_', b == '=', b == '-':
		default:
			return false
		}
	}
	return true
}

// checkPriorityConfig validates the priority-group settings of a
// defaulted config.
func checkPriorityConfig(cfg *jsapi.ConsumerConfig) *jsapi.APIError {
	if cfg.PriorityPolicy < jsapi.PriorityNone || cfg.PriorityPolicy > jsapi.PriorityPrioritized {
		return invalidConfig("unknown priority policy")
	}
	if cfg.PriorityPolicy == jsapi.PriorityNone {
		if len(cfg.PriorityGroups) > 0 {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerPriorityGroupWithPolicyNone)
		}
		if cfg.PinnedTTL > 0 {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerPinnedTTLWithoutPriority)
		}
		return nil
	}
	if cfg.DeliverSubject != "" {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerPushWithPriorityGroup)
	}
	if len(cfg.PriorityGroups) == 0 {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerPriorityPolicyWithoutGroup)
	}
	for _, g := range cfg.PriorityGroups {
		if g == "" {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerEmptyGroupName)
		}
		if !validGroupName(g) {
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidGroupName)
		}
	}
	return nil
}

// checkGroupLocked checks a pull request's priority-group fields against
// the consumer's policy and returns the 400 or 423 status that refuses it,
// or nil. A request carrying the current pin id renews the pin's
// priority_timeout.
func (c *consumer) checkGroupLocked(now time.Time, g *jsapi.PriorityGroup) []byte {
	cfg := &c.mu.cfg
	switch {
	case (g.MinPending != 0 || g.MinAckPending != 0) && cfg.PriorityPolicy != jsapi.PriorityOverflow:
		return jsapi.AppendBadRequest(nil, "Not a Overflow Priority consumer")
	case g.ID != "" && cfg.PriorityPolicy != jsapi.PriorityPinnedClient:
		return jsapi.AppendBadRequest(nil, "Not a Pinned Client Priority consumer")
	case g.Priority < 0 || g.Priority > 9:
		return jsapi.AppendBadRequest(nil, "Priority must be between 0 and 9")
	case cfg.PriorityPolicy == jsapi.PriorityNone:
		return nil
	case g.Group == "":
		return jsapi.AppendBadRequest(nil, "Priority Group missing")
	case !slices.Contains(cfg.PriorityGroups, g.Group):
		return jsapi.AppendBadRequest(nil, "Invalid Priority Group")
	}
	if c.mu.pin != "" && g.ID != "" {
		if g.ID != c.mu.pin {
			return jsapi.AppendPinIDMismatch(nil)
		}
		c.mu.pinExpiry = now.Add(cfg.PinnedTTL)
	}
	return nil
}

// Outcomes of eligibleLocked for a pinned_client consumer.
const (
	pinHeld  = iota // the request carries the current pin (or no pinning)
	pinFresh        // the request is to be pinned with this delivery
)

// eligibleLocked returns the index of the first waiting request that may
// take the candidate message from src, or -1. On the way it ends the
// requests that expired (408) and, for pinned_client, those that carry a
// pin id other than the current one (423). pin reports whether the chosen
// request is to receive a new pin.
func (c *consumer) eligibleLocked(now time.Time, d *deliverer, src int) (idx, pin int) {
	cfg := &c.mu.cfg
	for i := 0; i < len(c.mu.waiting); {
		wr := c.mu.waiting[i]
		if !wr.expires.IsZero() && !now.Before(wr.expires) {
			c.sendStatusLocked(d, wr.reply, jsapi.AppendRequestTimeout(d.status[:0], wr.batch, wr.bytesLeft))
			c.removeWaitingLocked(now, i)
			continue
		}
		switch cfg.PriorityPolicy {
		case jsapi.PriorityPinnedClient:
			switch {
			case c.mu.pin == "" && wr.group.ID == "":
				return i, pinFresh
			case c.mu.pin != "" && wr.group.ID == c.mu.pin:
				return i, pinHeld
			case wr.group.ID == "":
				i++ // stands by while another client is pinned
			default:
				// An old pin id: the client drops it and pulls again.
				c.sendStatusLocked(d, wr.reply, jsapi.AppendWrongPinID(d.status[:0], wr.batch, wr.bytesLeft))
				c.removeWaitingLocked(now, i)
			}
			continue
		case jsapi.PriorityOverflow:
			if !c.overflowLocked(wr, src) {
				i++
				continue
			}
		}
		return i, pinHeld
	}
	return -1, pinHeld
}

// overflowLocked reports whether an overflow policy request's conditions
// hold for a candidate from src: min_pending against num_pending before
// this delivery (nats-server counts one more for a redelivery), or
// min_ack_pending against num_ack_pending. A request with neither is
// always served.
func (c *consumer) overflowLocked(wr *pullRequest, src int) bool {
	g := &wr.group
	if g.MinPending <= 0 && g.MinAckPending <= 0 {
		return true
	}
	if g.MinPending > 0 {
		np := c.numPendingLocked()
		if src == srcRedeliver {
			np++
		}
		if uint64(g.MinPending) <= np {
			return true
		}
	}
	return g.MinAckPending > 0 && int(g.MinAckPending) <= len(c.mu.pending)
}

// newPinID draws a pin id.
func newPinID() string { return rand.Text() }

// pinnedLocked makes the tentative pin c.mu.pin, just used for a delivery
// to a request of group, the consumer's pin: it starts the
// priority_timeout and announces the new pinned client.
func (c *consumer) pinnedLocked(now time.Time, group string) {
	c.mu.pinGroup = group
	c.mu.pinnedAt = now
	c.mu.pinExpiry = now.Add(c.mu.cfg.PinnedTTL)
	c.armLocked(now, c.mu.pinExpiry)
	c.markDirtyLocked()
	c.eventLocked(jsapi.PreAdvisoryConsumerPinned, jsapi.AppendConsumerPinned(nil, c.set.name, c.name, group, c.mu.pin, now))
}

// unpinLocked drops the pin; reason ("admin", "timeout"), when not empty,
// is announced in an unpinned advisory for group.
func (c *consumer) unpinLocked(now time.Time, group, reason string) {
	had := c.mu.pin != ""
	c.mu.pin, c.mu.pinGroup = "", ""
	c.mu.pinnedAt, c.mu.pinExpiry = time.Time{}, time.Time{}
	if had {
		c.markDirtyLocked()
	}
	if reason != "" {
		c.eventLocked(jsapi.PreAdvisoryConsumerUnpinned, jsapi.AppendConsumerUnpinned(nil, c.set.name, c.name, group, reason, now))
	}
}

// pinTickLocked drops a pin whose priority_timeout passed and returns
// when the current pin lapses (zero: no pin).
func (c *consumer) pinTickLocked(now time.Time) time.Time {
	if c.mu.pin == "" || c.mu.pinExpiry.IsZero() {
		return time.Time{}
	}
	if now.Before(c.mu.pinExpiry) {
		return c.mu.pinExpiry
	}
	c.unpinLocked(now, c.mu.pinGroup, "timeout")
	return time.Time{}
}

// priorityChangedLocked keeps the pin consistent with an updated config:
// a consumer that is no longer pinned_client, or no longer has the pin's
// group, forgets it.
func (c *consumer) priorityChangedLocked(now time.Time) {
	cfg := &c.mu.cfg
	if c.mu.pin == "" {
		return
	}
	if cfg.PriorityPolicy != jsapi.PriorityPinnedClient || !slices.Contains(cfg.PriorityGroups, c.mu.pinGroup) {
		c.unpinLocked(now, "", "")
	}
}

// Unpin drops the pinned client of consumer name's priority group
// (CONSUMER.UNPIN.<stream>.<consumer>): the next message pins another
// requester. Errors: 10025 for a missing group, 10162 for an invalid
// name, 10160 for a group the consumer lacks, 10014 for no consumer.
func (s *Set) Unpin(name, group string) *jsapi.APIError {
	if aerr := CheckUnpinGroup(group); aerr != nil {
		return aerr
	}
	c := s.lookup([]byte(name))
	if c == nil {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerNotFound)
	}
	now := c.now()
	c.mu.Lock()
	if !slices.Contains(c.mu.cfg.PriorityGroups, group) {
		c.mu.Unlock()
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidPriorityGroup)
	}
	c.unpinLocked(now, group, "admin")
	c.mu.Unlock()
	c.wake()
	return nil
}

// CheckUnpinGroup checks the group of an UNPIN request: 10025 when it is
// missing, 10162 when it is no valid group name.
func CheckUnpinGroup(group string) *jsapi.APIError {
	if group == "" {
		return jsapi.NewAPIError(jsapi.ErrCodeInvalidJSON, "consumer group not specified")
	}
	if !validGroupName(group) {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidGroupName)
	}
	return nil
}

// priorityInfoLocked is the priority_groups of the consumer's info: the
// first group with the pin, as nats-server reports it.
func (c *consumer) priorityInfoLocked() []jsapi.PriorityGroupState {
	if len(c.mu.cfg.PriorityGroups) == 0 {
		return nil
	}
	return []jsapi.PriorityGroupState{{Group: c.mu.cfg.PriorityGroups[0], PinnedClientID: c.mu.pin, PinnedTS: c.mu.pinnedAt.UTC()}}
}

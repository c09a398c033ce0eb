package consumer

import (
	"slices"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// processAck applies an ack message received on r's reply subject. body is
// the ack body, reply the ack's own reply subject (double ack, or the inbox
// of a +NXT pull request); both are only read during the call. A double ack
// is answered once the change is durable (at once for a consumer kept in
// memory).
func (c *consumer) processAck(r *jsapi.AckReply, body, reply []byte) {
	ab := jsapi.ParseAckBody(body)
	if ab.Kind == jsapi.AckUnknown {
		return
	}
	now := c.now()
	var rbuf [8]uint64
	retain := rbuf[:0]
	c.mu.Lock()
	if c.mu.stopped || c.mu.cfg.AckPolicy == jsapi.AckFlowControl {
		// flow_control takes no acks but its flow-control replies.
		c.mu.Unlock()
		return
	}
	seq := r.StreamSeq
	switch ab.Kind {
	case jsapi.AckAck, jsapi.AckNext, jsapi.AckTerm:
		retain = c.ackLocked(now, seq, retain)
	case jsapi.AckNak:
		c.nakLocked(now, seq, ab.Delay)
	case jsapi.AckProgress:
		if p := c.mu.pending[seq]; p != nil && p.deadline != 0 {
			p.deadline = now.Add(c.ackWaitLocked(p.dc)).UnixNano()
			c.armLocked(now, time.Unix(0, p.deadline))
			c.markDirtyLocked()
		}
	}
	replyNow := false
	if len(reply) > 0 && ab.Kind != jsapi.AckNext {
		if !c.durable || c.mu.written >= c.mu.version {
			replyNow = true
		} else {
			c.mu.ackWaiters = append(c.mu.ackWaiters, ackWaiter{reply: string(reply), version: c.mu.version})
		}
	}
	c.mu.Unlock()
	if replyNow {
		c.set.env.Server.Deliver(reply, nil, nil, nil)
	}
	if len(retain) > 0 {
		c.set.retain(retain)
	}
	if ab.Kind == jsapi.AckNext {
		c.request(reply, ab.Next)
		return
	}
	c.wake()
}

// ackLocked settles seq (ack policy explicit) or everything up to seq
// (ack policy all), appending settled sequences to retain.
func (c *consumer) ackLocked(now time.Time, seq uint64, retain []uint64) []uint64 {
	switch c.mu.cfg.AckPolicy {
	case jsapi.AckExplicit:
		if _, ok := c.mu.pending[seq]; ok {
			delete(c.mu.pending, seq)
			retain = append(retain, seq)
		} else if c.maxedLocked(seq) {
			retain = c.unmaxLocked(seq, retain) // acked after it ran out of deliveries
		} else {
			return retain
		}
	case jsapi.AckAll, jsapi.AckFlowControl:
		n := len(retain)
		retain = c.unmaxThroughLocked(seq, retain)
		if seq <= c.mu.ackS && len(retain) == n {
			return retain
		}
		for s := range c.mu.pending {
			if s <= seq {
				delete(c.mu.pending, s)
				retain = append(retain, s)
			}
		}
		slices.Sort(retain)
	default:
		return retain
	}
	c.advanceFloorLocked(now.UnixNano())
	c.markDirtyLocked()
	if c.set.retention() == jsapi.LimitsPolicy {
		return retain[:0]
	}
	return retain
}

// nakLocked asks for seq's redelivery now or after delay (or, with a
// backoff, after the backoff step for its delivery count).
func (c *consumer) nakLocked(now time.Time, seq uint64, delay time.Duration) {
	p := c.mu.pending[seq]
	if p == nil || p.deadline == 0 {
		return
	}
	if delay <= 0 && len(c.mu.cfg.BackOff) > 0 {
		delay = c.ackWaitLocked(p.dc)
	}
	if delay > 0 {
		p.deadline = now.Add(delay).UnixNano()
		c.armLocked(now, time.Unix(0, p.deadline))
	} else {
		c.dueLocked(now, seq, p)
	}
	c.markDirtyLocked()
}

// settleLocked drops seq from pending without an ack (its message is gone
// or it ran out of deliveries).
func (c *consumer) settleLocked(now time.Time, seq uint64, d *deliverer) {
	if _, ok := c.mu.pending[seq]; !ok {
		return
	}
	delete(c.mu.pending, seq)
	c.advanceFloorLocked(now.UnixNano())
	c.markDirtyLocked()
	if d != nil && c.set.retention() == jsapi.InterestPolicy {
		d.retain = append(d.retain, seq)
	}
}

// advanceFloorLocked moves the ack floor up to just below the oldest
// pending message (or to the last delivery when nothing is pending).
func (c *consumer) advanceFloorLocked(ns int64) {
	if len(c.mu.pending) == 0 {
		if c.mu.ackC != c.mu.dseq || c.mu.ackS != c.mu.sseq-1 {
			c.mu.ackC, c.mu.ackS, c.mu.ats = c.mu.dseq, c.mu.sseq-1, ns
		}
		return
	}
	var first uint64
	if gap := c.mu.sseq - 1 - c.mu.ackS; gap > 4*uint64(len(c.mu.pending)) || c.mu.sseq <= c.mu.ackS {
		for s := range c.mu.pending {
			if first == 0 || s < first {
				first = s
			}
		}
	} else {
		for s := c.mu.ackS + 1; s < c.mu.sseq; s++ {
			if _, ok := c.mu.pending[s]; ok {
				first = s
				break
			}
		}
	}
	if first == 0 || first-1 <= c.mu.ackS {
		return
	}
	c.mu.ackC, c.mu.ackS, c.mu.ats = c.mu.pending[first].cseq-1, first-1, ns
}

// scanLocked walks every deadline: redeliveries due, the end of a pause, a
// pin's priority_timeout, pull requests expired or owed a heartbeat, the
// push heartbeat, inactivity; and arms the timer for the next one.
func (c *consumer) scanLocked(now time.Time, d *deliverer) {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	ns := now.UnixNano()
	var due []uint64
	for s, p := range c.mu.pending {
		switch {
		case p.deadline == 0:
		case p.deadline <= ns:
			due = append(due, s)
		default:
			consider(time.Unix(0, p.deadline))
		}
	}
	slices.Sort(due)
	for _, s := range due {
		c.dueLocked(now, s, c.mu.pending[s])
	}
	if len(c.mu.maxed) > 0 {
		c.pruneMaxedLocked(c.set.st.Reader().State().FirstSeq)
	}
	consider(c.pauseTickLocked(now))
	consider(c.pinTickLocked(now))
	c.expireLocked(now)
	for _, wr := range c.mu.waiting {
		if wr.hb > 0 && !now.Before(wr.hbAt) {
			c.sendStatusLocked(d, wr.reply, jsapi.AppendIdleHeartbeat(d.status[:0], c.mu.dseq, c.mu.sseq-1, ""))
			wr.hbAt = now.Add(wr.hb)
		}
		consider(wr.expires)
		consider(wr.hbAt)
	}
	push := c.isPushLocked()
	if hb := c.mu.cfg.Heartbeat; push && hb > 0 {
		if c.mu.hbAt.IsZero() {
			c.mu.hbAt = now.Add(hb)
		} else if !now.Before(c.mu.hbAt) {
			d.status = jsapi.AppendIdleHeartbeat(d.status[:0], c.mu.dseq, c.mu.sseq-1, c.mu.fcid)
			c.set.env.Server.Deliver(c.deliverSubjectLocked(d), nil, d.status, nil)
			c.mu.hbAt = now.Add(hb)
			if c.flowAckDueLocked(true) {
				c.sendFlowControlLocked(d)
			}
		}
		consider(c.mu.hbAt)
	}
	if th := c.mu.cfg.InactiveThreshold; th > 0 {
		active := len(c.mu.waiting) > 0
		if push {
			active = c.hasInterestLocked()
		}
		if active {
			c.mu.lastActive = now
		} else if !now.Before(c.mu.lastActive.Add(th)) {
			c.mu.deleteMe = true
			return
		}
		consider(c.mu.lastActive.Add(th))
	}
	if push && c.mu.noInterest {
		consider(now.Add(interestRetry))
	}
	c.armLocked(now, next)
}

// needsLocked reports whether the consumer still has to deliver or see an
// ack for seq (subject subj), or gave it up after max_deliver deliveries:
// interest and workqueue retention keep a message while any consumer needs
// it.
func (c *consumer) needsLocked(seq uint64, subj string) bool {
	if !c.matchesLocked(subj) {
		return false
	}
	if slices.Contains(c.mu.lss, seq) {
		return true
	}
	if c.mu.cfg.AckPolicy == jsapi.AckNone {
		return seq >= c.mu.sseq
	}
	if c.maxedLocked(seq) {
		return true // kept for dead-letter handling, as in nats-server
	}
	if seq <= c.mu.ackS {
		return false
	}
	if _, ok := c.mu.pending[seq]; ok {
		return true
	}
	return seq >= c.mu.sseq
}

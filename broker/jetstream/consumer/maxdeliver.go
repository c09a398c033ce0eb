package consumer

import (
	"slices"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// Max deliveries (max_deliver), as nats-server does it.
//
// Every way an unacknowledged message comes due for another delivery goes
// through dueLocked: a nak without delay, and, through the deadline the scan
// walks, a nak delay or backoff step run out, ack wait expired, and the
// pending entries a durable brings back after a restart or on the new
// leader of a replicated stream (they are due ack wait after their last
// delivery). exhaustedLocked is the one rule: a message that has had
// max_deliver deliveries gets no more. Instead it is given up
// (giveUpLocked), as nats-server's hasMaxDeliveries does:
//
//   - it leaves pending (num_ack_pending drops) and the ack floor moves
//     past it when it was the oldest pending message;
//   - it is recorded in maxed, kept until the message leaves the stream or
//     the client acks or terms it after all: num_redelivered counts it (as
//     nats-server's redelivered map does; 0 with max_deliver 1), and under
//     interest or workqueue retention the stream keeps the message (for
//     dead-letter handling), where an ack would have removed it;
//   - one max-deliveries advisory (jsapi.DeliveryExceededAdvisory, with
//     deliveries the count it reached, max_deliver unless that was lowered
//     meanwhile) is published on
//     $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer> by the
//     delivery loop, once the consumer's mutex is released.
//
// The check also runs on the head of rdq before a redelivery, for a message
// queued before max_deliver was lowered by an update. A durable's state
// file and replicated state carry maxed (state.go), so a restart or a new
// leader neither delivers nor announces the message again.

// exceeded is a max-deliveries advisory waiting to be published.
type exceeded struct {
	seq, dc uint64
	at      time.Time
}

// exhaustedLocked reports whether p has had every delivery max_deliver
// allows.
func (c *consumer) exhaustedLocked(p *pendingMsg) bool {
	md := c.mu.cfg.MaxDeliver
	return md > 0 && p.dc >= uint64(md)
}

// dueLocked makes pending message seq due for redelivery, or gives it up
// when it has had max_deliver deliveries.
func (c *consumer) dueLocked(now time.Time, seq uint64, p *pendingMsg) {
	if c.exhaustedLocked(p) {
		c.giveUpLocked(now, seq, p)
		return
	}
	p.deadline = 0
	c.mu.rdq = append(c.mu.rdq, seq)
}

// giveUpLocked stops delivering pending message seq (see above). An rdq
// entry left for it is skipped, as for any settled message.
func (c *consumer) giveUpLocked(now time.Time, seq uint64, p *pendingMsg) {
	delete(c.mu.pending, seq)
	if i, found := slices.BinarySearch(c.mu.maxed, seq); !found {
		c.mu.maxed = slices.Insert(c.mu.maxed, i, seq)
	}
	c.mu.exceeded = append(c.mu.exceeded, exceeded{seq: seq, dc: p.dc, at: now})
	c.advanceFloorLocked(now.UnixNano())
	c.markDirtyLocked()
}

// maxedLocked reports whether seq ran out of deliveries and is kept.
func (c *consumer) maxedLocked(seq uint64) bool {
	_, found := slices.BinarySearch(c.mu.maxed, seq)
	return found
}

// unmaxLocked forgets seq as given up (the client acked or termed it),
// appending it to retain when it was.
func (c *consumer) unmaxLocked(seq uint64, retain []uint64) []uint64 {
	i, found := slices.BinarySearch(c.mu.maxed, seq)
	if !found {
		return retain
	}
	c.mu.maxed = slices.Delete(c.mu.maxed, i, i+1)
	return append(retain, seq)
}

// unmaxThroughLocked forgets every given-up message up to seq (ack all),
// appending them to retain.
func (c *consumer) unmaxThroughLocked(seq uint64, retain []uint64) []uint64 {
	i, found := slices.BinarySearch(c.mu.maxed, seq)
	if found {
		i++
	}
	if i == 0 {
		return retain
	}
	retain = append(retain, c.mu.maxed[:i]...)
	c.mu.maxed = slices.Delete(c.mu.maxed, 0, i)
	return retain
}

// pruneMaxedLocked forgets given-up messages that left the stream (below
// its first sequence).
func (c *consumer) pruneMaxedLocked(first uint64) {
	if len(c.mu.maxed) == 0 || c.mu.maxed[0] >= first {
		return
	}
	i, _ := slices.BinarySearch(c.mu.maxed, first)
	c.mu.maxed = slices.Delete(c.mu.maxed, 0, i)
	if len(c.mu.maxed) == 0 {
		c.mu.maxed = nil
	}
	c.markDirtyLocked()
}

// numRedeliveredLocked is num_redelivered: pending messages delivered more
// than once and given-up ones still in the stream (first is its first
// sequence); 0 with max_deliver 1, as in nats-server.
func (c *consumer) numRedeliveredLocked(first uint64) int {
	if c.mu.cfg.MaxDeliver == 1 {
		return 0
	}
	n := 0
	for _, p := range c.mu.pending {
		if p.dc > 1 {
			n++
		}
	}
	i, _ := slices.BinarySearch(c.mu.maxed, first)
	return n + len(c.mu.maxed) - i
}

// publishExceeded sends the max-deliveries advisories taken from
// c.mu.exceeded into d.adv; the delivery loop calls it without the mutex.
func (c *consumer) publishExceeded(d *deliverer) {
	if len(d.adv) == 0 {
		return
	}
	subj := []byte(jsapi.MaxDeliveriesSubject(c.set.name, c.name))
	for _, x := range d.adv {
		d.advBody = jsapi.AppendDeliveryExceeded(d.advBody[:0], c.set.name, c.name, x.seq, x.dc, x.at)
		c.set.env.Server.Deliver(subj, nil, nil, d.advBody)
	}
	d.adv = d.adv[:0]
}

package consumer

import (
	"errors"
	"strconv"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// smallMsg is the largest payload delivered from memory; larger ones are
// sent from their extents as the receiver's connection drains.
const smallMsg = 64 << 10

// interestRetry is how often a push consumer without subscribers looks for
// them again.
const interestRetry = 250 * time.Millisecond

// Sources of a delivery candidate.
const (
	srcNew = iota
	srcRedeliver
	srcLastPerSubject
)

// deliverer holds the delivery loop's buffers; only the loop uses it.
type deliverer struct {
	sm      log.StoredMsg
	scratch log.StoredMsg
	subj    []byte
	ack     []byte
	hdr     []byte
	pinHdr  []byte
	status  []byte
	payload []byte
	ext     []broker.Extent
	dsubj   []byte
	out     broker.Delivery
	retain  []uint64 // sequences to check for retention after unlocking
	closed  bool     // the log is closed: stop watching it
	// ob defers small deliveries so a run of them leaves in one write per
	// connection; deferred counts those not yet flushed.
	ob       broker.OutBatch
	deferred int
	// adv are max-deliveries advisories to publish after unlocking;
	// advBody is their JSON.
	adv     []exceeded
	advBody []byte
	// events are pause and pin advisories to publish after unlocking.
	events []event
}

// flushEvery bounds how many small deliveries wait for one flush, so the
// first of a long batch is not held back behind the rest.
const flushEvery = 32

// run is the delivery loop: it delivers while it can, then waits for a
// new message, a kick (ack, pull request, flow-control reply, timer) or
// stop.
func (c *consumer) run() {
	defer close(c.done)
	l := c.set.st.Reader()
	d := &deliverer{}
	defer d.ob.Flush()
	for {
		var changed <-chan struct{}
		if !d.closed {
			changed = l.Changed()
		}
		c.mu.Lock()
		if c.mu.stopped {
			c.mu.Unlock()
			return
		}
		now := c.now()
		c.catchUpLocked(l, &d.scratch)
		if c.mu.scan {
			c.mu.scan = false
			c.scanLocked(now, d)
		}
		if c.mu.deleteMe {
			c.mu.Unlock()
			go c.set.deleteInactive(c)
			return
		}
		more := c.stepLocked(now, d)
		if len(c.mu.exceeded) > 0 {
			d.adv = append(d.adv, c.mu.exceeded...)
			clear(c.mu.exceeded)
			c.mu.exceeded = c.mu.exceeded[:0]
		}
		if len(c.mu.events) > 0 {
			d.events = append(d.events, c.mu.events...)
			clear(c.mu.events)
			c.mu.events = c.mu.events[:0]
		}
		c.mu.Unlock()
		c.publishExceeded(d)
		c.publishEvents(d)
		if !more || d.deferred >= flushEvery {
			d.ob.Flush()
			d.deferred = 0
		}
		if len(d.retain) > 0 {
			c.set.retain(d.retain)
			d.retain = d.retain[:0]
		}
		if more {
			continue
		}
		select {
		case <-c.kick:
		case <-changed:
		case <-c.stop:
			return
		}
	}
}

// stepLocked makes one delivery (or settles requests that cannot be
// served) and reports whether the loop should try again at once.
func (c *consumer) stepLocked(now time.Time, d *deliverer) bool {
	push := c.isPushLocked()
	if !push && len(c.mu.waiting) == 0 {
		return false
	}
	if c.pausedLocked(now) {
		if !push {
			c.endNoWaitLocked(now, d)
		}
		return false
	}
	if push && c.mu.maxpb > 0 && c.mu.pbytes > c.mu.maxpb {
		return false // flow control: wait for the client's reply
	}
	seq, dc, src, ok := c.candidateLocked(d)
	if !ok {
		if !push {
			c.endNoWaitLocked(now, d)
		}
		return false
	}
	d.ack = jsapi.AppendAckReply(d.ack[:0], c.set.st.Name(), c.name, dc, seq, c.mu.dseq+1, d.sm.Time, c.pendingAfterLocked(seq, src))
	// A delivery's size is what the client counts (nats.go's Msg.Size):
	// the stored subject it arrives under, the reply, header and payload.
	d.subj = append(d.subj[:0], d.sm.Subject...)
	if push {
		hdr, payload, sz := c.frameLocked(d)
		n, err := c.sendLocked(d, c.deliverSubjectLocked(d), hdr, payload)
		if err != nil {
			c.dropBrokenLocked(now, seq, src, err)
			return true
		}
		if n == 0 {
			c.mu.noInterest = true
			c.armLocked(now, now.Add(interestRetry))
			return false
		}
		c.mu.noInterest = false
		c.mu.lastActive = now
		c.commitLocked(now, seq, dc, src, d)
		c.flowControlLocked(d, int64(sz))
		if hb := c.mu.cfg.Heartbeat; hb > 0 {
			c.mu.hbAt = now.Add(hb)
			c.armLocked(now, c.mu.hbAt)
		}
		return true
	}
	for {
		i, pin := c.eligibleLocked(now, d, src)
		if i < 0 {
			// Nothing may take it now (priority groups), or no request is
			// left: settle the no_wait ones as if nothing were pending.
			c.endNoWaitLocked(now, d)
			return false
		}
		wr := c.mu.waiting[i]
		if pin == pinFresh {
			c.mu.pin = newPinID() // tentative until the delivery is made
		}
		hdr, payload, sz := c.frameLocked(d)
		if wr.maxBytes > 0 && sz > wr.bytesLeft {
			c.sendStatusLocked(d, wr.reply, jsapi.AppendMaxBytesExceeded(d.status[:0], wr.batch, wr.bytesLeft))
			c.removeWaitingLocked(now, i)
			if pin == pinFresh {
				c.mu.pin = ""
			}
			continue
		}
		n, err := c.sendLocked(d, wr.reply, hdr, payload)
		if err != nil {
			if pin == pinFresh {
				c.mu.pin = ""
			}
			c.dropBrokenLocked(now, seq, src, err)
			return true
		}
		if n == 0 {
			c.removeWaitingLocked(now, i) // nobody listens on the inbox any more
			if pin == pinFresh {
				c.mu.pin = ""
			}
			continue
		}
		if pin == pinFresh {
			wr.group.ID = c.mu.pin // the rest of its batch goes to it too
			c.pinnedLocked(now, wr.group.Group)
		}
		c.commitLocked(now, seq, dc, src, d)
		wr.batch--
		wr.delivered++
		if wr.maxBytes > 0 {
			wr.bytesLeft -= sz
		}
		switch {
		case wr.batch <= 0 && wr.maxBytes > 0 && wr.bytesLeft > 0:
			c.sendStatusLocked(d, wr.reply, jsapi.AppendBatchCompleted(d.status[:0], 0, wr.bytesLeft))
			c.removeWaitingLocked(now, i)
		case wr.batch <= 0 || (wr.maxBytes > 0 && wr.bytesLeft <= 0):
			c.removeWaitingLocked(now, i)
		case wr.hb > 0:
			wr.hbAt = now.Add(wr.hb)
			c.armLocked(now, wr.hbAt)
		}
		return true
	}
}

// frameLocked returns the header and payload length d's loaded message is
// delivered with (headers_only replaces the payload by Nats-Msg-Size; a
// pinned_client consumer adds Nats-Pin-Id) and the delivery's size as the
// client counts it. d.subj and d.ack must be set.
func (c *consumer) frameLocked(d *deliverer) (hdr []byte, payload int64, sz int) {
	hdr = d.sm.Hdr
	payload = d.sm.Size
	if c.mu.cfg.HeadersOnly {
		d.hdr = jsapi.AppendHeaderField(d.hdr[:0], hdr, jsapi.HdrMsgSize, strconv.FormatInt(payload, 10))
		hdr, payload = d.hdr, 0
	}
	if c.mu.cfg.PriorityPolicy == jsapi.PriorityPinnedClient && c.mu.pin != "" {
		d.pinHdr = jsapi.AppendHeaderField(d.pinHdr[:0], hdr, jsapi.HdrPinID, c.mu.pin)
		hdr = d.pinHdr
	}
	if len(hdr) == 0 {
		hdr = nil
	}
	return hdr, payload, len(d.subj) + len(d.ack) + len(hdr) + int(payload)
}

// candidateLocked loads the next message to deliver into d.sm: a due
// redelivery first, then (below max_ack_pending) the next new one.
func (c *consumer) candidateLocked(d *deliverer) (seq, dc uint64, src int, ok bool) {
	l := c.set.st.Reader()
	for len(c.mu.rdq) > 0 {
		s := c.mu.rdq[0]
		p := c.mu.pending[s]
		if p == nil || p.deadline != 0 {
			c.mu.rdq = c.mu.rdq[1:]
			continue
		}
		if c.exhaustedLocked(p) { // max_deliver lowered since it was queued
			c.mu.rdq = c.mu.rdq[1:]
			c.giveUpLocked(c.now(), s, p)
			continue
		}
		if err := l.LoadMsg(s, &d.sm); err != nil {
			if errors.Is(err, log.ErrClosed) {
				d.closed = true
				return 0, 0, 0, false
			}
			c.mu.rdq = c.mu.rdq[1:]
			c.settleLocked(c.now(), s, d)
			continue
		}
		return s, p.dc + 1, srcRedeliver, true
	}
	if c.mu.cfg.AckPolicy != jsapi.AckNone && c.mu.cfg.MaxAckPending > 0 && len(c.mu.pending) >= c.mu.cfg.MaxAckPending {
		return 0, 0, 0, false
	}
	for len(c.mu.lss) > 0 {
		s := c.mu.lss[0]
		if err := l.LoadMsg(s, &d.sm); err == nil {
			return s, 1, srcLastPerSubject, true
		}
		c.popLSSLocked(s)
	}
	s, err := c.loadNextLocked(l, c.mu.sseq, &d.sm)
	if err != nil {
		if errors.Is(err, log.ErrClosed) {
			d.closed = true
		}
		return 0, 0, 0, false
	}
	return s, 1, srcNew, true
}

// pendingAfterLocked is the num_pending an ack reply carries: what is left
// after this delivery.
func (c *consumer) pendingAfterLocked(seq uint64, src int) uint64 {
	if src != srcRedeliver && c.mu.filters == nil && len(c.mu.lss) == 0 {
		// An unfiltered count from sseq would include the deleted
		// sequences seq skipped past and seq itself: count after seq.
		return c.set.st.Reader().MsgsFrom(seq + 1)
	}
	n := c.numPendingLocked()
	if src != srcRedeliver && n > 0 {
		n--
	}
	return n
}

// sendLocked delivers d's loaded message, under its stored subject and
// with reply d.ack, to the subscribers of to (a deliver subject or a pull
// request's inbox).
func (c *consumer) sendLocked(d *deliverer, to, hdr []byte, payload int64) (int, error) {
	d.out = broker.Delivery{To: to, Subject: d.subj, Reply: d.ack, Hdr: hdr}
	sm := &d.sm
	switch {
	case payload == 0:
	case sm.Compressed || payload <= smallMsg:
		var err error
		d.payload, err = sm.ReadPayload(d.payload[:0])
		if err != nil {
			return 0, err
		}
		d.out.Body = d.payload
	default:
		d.ext = d.ext[:0]
		for _, x := range sm.Extents {
			d.ext = append(d.ext, broker.Extent{R: x.R, Off: x.Off, Len: x.Len})
		}
		d.out.Ext, d.out.Size = d.ext, int64(len(hdr))+payload
	}
	d.deferred++
	return c.set.env.Server.SendIn(&d.ob, &d.out), nil
}

// dropBrokenLocked skips a message that cannot be read (corrupt or gone).
func (c *consumer) dropBrokenLocked(now time.Time, seq uint64, src int, err error) {
	c.set.log.Error("consumer: cannot deliver message", "stream", c.set.st.Name(), "consumer", c.name, "seq", seq, "err", err)
	switch src {
	case srcRedeliver:
		c.mu.rdq = c.mu.rdq[1:]
		delete(c.mu.pending, seq)
		c.advanceFloorLocked(now.UnixNano())
	case srcLastPerSubject:
		c.popLSSLocked(seq)
	default:
		c.mu.sseq = seq + 1
		if c.mu.npc > 0 && c.mu.filters != nil {
			c.mu.npc--
		}
	}
	c.markDirtyLocked()
}

// commitLocked records a successful delivery.
func (c *consumer) commitLocked(now time.Time, seq, dc uint64, src int, d *deliverer) {
	ns := now.UnixNano()
	c.mu.dseq++
	c.mu.dts = ns
	switch src {
	case srcRedeliver:
		c.mu.rdq = c.mu.rdq[1:]
		p := c.mu.pending[seq]
		p.dc, p.ts = dc, ns
		p.deadline = c.redeliverAtLocked(now, dc)
		c.armLocked(now, time.Unix(0, p.deadline))
		c.markDirtyLocked()
		return
	case srcLastPerSubject:
		c.popLSSLocked(seq)
	default:
		c.mu.sseq = seq + 1
		if c.mu.filters != nil && c.mu.npc > 0 {
			c.mu.npc--
		}
	}
	if c.mu.cfg.AckPolicy == jsapi.AckNone {
		c.mu.ackC, c.mu.ackS, c.mu.ats = c.mu.dseq, c.mu.sseq-1, ns
		if c.set.retention() == jsapi.InterestPolicy {
			d.retain = append(d.retain, seq)
		}
	} else {
		p := &pendingMsg{cseq: c.mu.dseq, ts: ns, dc: 1}
		p.deadline = c.redeliverAtLocked(now, 1)
		c.mu.pending[seq] = p
		c.armLocked(now, time.Unix(0, p.deadline))
	}
	c.markDirtyLocked()
}

// popLSSLocked removes seq from the head of the last_per_subject list; once
// the list is done, delivery continues after the stream's last sequence at
// creation.
func (c *consumer) popLSSLocked(seq uint64) {
	c.mu.lss = c.mu.lss[1:]
	c.mu.sseq = max(c.mu.sseq, seq+1)
	if len(c.mu.lss) == 0 {
		c.mu.lss = nil
		c.mu.sseq = max(c.mu.sseq, c.mu.lssEnd+1)
		c.recountLocked(c.set.st.Reader())
	}
}

// deliverSubjectLocked is the push consumer's deliver subject as bytes.
func (c *consumer) deliverSubjectLocked(d *deliverer) []byte {
	d.dsubj = append(d.dsubj[:0], c.mu.cfg.DeliverSubject...)
	return d.dsubj
}

// sendStatusLocked sends a header-only status message to subject.
func (c *consumer) sendStatusLocked(d *deliverer, subject, status []byte) {
	d.status = status
	c.set.env.Server.Deliver(subject, nil, status, nil)
}

// flowControlLocked accounts sz bytes sent by a flow-controlled push
// consumer and asks for a flow-control reply at half the window.
func (c *consumer) flowControlLocked(d *deliverer, sz int64) {
	if c.mu.maxpb == 0 {
		return
	}
	c.mu.pbytes += sz
	switch {
	case c.mu.fcid == "" && c.mu.pbytes > c.mu.maxpb/2, c.flowAckDueLocked(false):
		c.sendFlowControlLocked(d)
	case c.mu.fcid != "" && c.mu.pbytes-c.mu.fcsz >= c.mu.maxpb:
		c.mu.fcsz += sz
	}
}

// flowControlReply handles the client's answer (header block hdr) to a
// flow-control request; for ack policy flow_control it is also the ack.
func (c *consumer) flowControlReply(subject string, hdr []byte) {
	var rbuf [8]uint64
	c.mu.Lock()
	if subject != c.mu.fcid {
		c.mu.Unlock()
		return
	}
	c.mu.maxpb = min(c.mu.maxpb*2, FlowControlMaxPending)
	c.mu.pbytes = max(c.mu.pbytes-c.mu.fcsz, 0)
	c.mu.fcid, c.mu.fcsz = "", 0
	retain := c.flowAckLocked(c.now(), hdr, rbuf[:0])
	c.mu.Unlock()
	if len(retain) > 0 {
		c.set.retain(retain)
	}
	c.wake()
}

package consumer

import (
	"slices"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// pullRequest is a waiting CONSUMER.MSG.NEXT request (ADR-13).
type pullRequest struct {
	reply     []byte        // the requester's inbox (owned copy)
	batch     int           // messages still wanted
	maxBytes  int           // the request's max_bytes; 0 = no byte limit
	bytesLeft int           // of maxBytes
	noWait    bool          // end with 404 once nothing more is pending
	expires   time.Time     // zero: never
	hb        time.Duration // idle heartbeat interval; 0 = none
	hbAt      time.Time     // next heartbeat
	delivered int
	// group is the request's priority group part (ADR-42): group name,
	// min_pending / min_ack_pending (overflow), pin id (pinned_client),
	// priority (prioritized).
	group jsapi.PriorityGroup
}

// request queues a pull request, or answers it at once with a status when
// it is refused or cannot be served. reply is copied; body is only read.
func (c *consumer) request(reply, body []byte) {
	var req jsapi.NextRequest
	perr := jsapi.ParseNextRequest(body, &req)
	now := c.now()
	var status []byte
	c.mu.Lock()
	switch {
	case c.mu.stopped:
		status = jsapi.AppendConsumerDeleted(nil)
	case c.isPushLocked():
		status = jsapi.AppendConsumerIsPushBased(nil)
	case perr != nil:
		status = jsapi.AppendBadRequest(nil, perr.Error())
	}
	cfg := &c.mu.cfg
	if req.Batch <= 0 {
		req.Batch = 1
	}
	if status == nil {
		switch {
		case cfg.MaxRequestBatch > 0 && req.Batch > cfg.MaxRequestBatch:
			status = jsapi.AppendExceededMaxRequestBatch(nil, cfg.MaxRequestBatch)
		case req.Expires > 0 && cfg.MaxRequestExpires > 0 && req.Expires > cfg.MaxRequestExpires:
			status = jsapi.AppendExceededMaxRequestExpires(nil, cfg.MaxRequestExpires)
		case req.MaxBytes > 0 && cfg.MaxRequestMaxBytes > 0 && req.MaxBytes > cfg.MaxRequestMaxBytes:
			status = jsapi.AppendExceededMaxRequestMaxBytes(nil, cfg.MaxRequestMaxBytes)
		}
	}
	if status == nil {
		status = c.checkGroupLocked(now, &req.PriorityGroup)
	}
	if status == nil && req.NoWait {
		var sm log.StoredMsg
		c.catchUpLocked(c.set.st.Reader(), &sm)
		avail := c.numPendingLocked() + uint64(len(c.mu.rdq))
		if avail == 0 && req.Expires == 0 {
			status = jsapi.AppendNoMessages(nil)
			c.mu.lastActive = now
		} else if avail > 0 {
			want := 0
			for _, wr := range c.mu.waiting {
				want += wr.batch
			}
			if avail < uint64(want) {
				status = jsapi.AppendRequestsPending(nil)
			}
		}
	}
	if status == nil && len(c.mu.waiting) >= cfg.MaxWaiting {
		c.expireLocked(now)
		c.dropGoneLocked()
		if len(c.mu.waiting) >= cfg.MaxWaiting {
			if req.Heartbeat == 0 {
				status = jsapi.AppendExceededMaxWaiting(nil)
			} else {
				c.mu.Unlock()
				return
			}
		}
	}
	if status != nil {
		c.mu.Unlock()
		c.set.env.Server.Deliver(reply, nil, status, nil)
		return
	}
	wr := &pullRequest{
		reply: append([]byte(nil), reply...), batch: req.Batch,
		maxBytes: req.MaxBytes, bytesLeft: req.MaxBytes, noWait: req.NoWait, hb: req.Heartbeat,
		group: req.PriorityGroup,
	}
	if req.Expires > 0 {
		wr.expires = now.Add(req.Expires)
		c.armLocked(now, wr.expires)
	}
	if wr.hb > 0 {
		wr.hbAt = now.Add(wr.hb)
		c.armLocked(now, wr.hbAt)
	}
	c.queueLocked(wr)
	c.mu.lastActive = now
	c.mu.Unlock()
	c.wake()
}

// queueLocked adds wr to the waiting requests: last, or under the
// prioritized policy after every request of its priority or a better
// (lower) one.
func (c *consumer) queueLocked(wr *pullRequest) {
	if c.mu.cfg.PriorityPolicy != jsapi.PriorityPrioritized {
		c.mu.waiting = append(c.mu.waiting, wr)
		return
	}
	i := len(c.mu.waiting)
	for i > 0 && c.mu.waiting[i-1].group.Priority > wr.group.Priority {
		i--
	}
	c.mu.waiting = slices.Insert(c.mu.waiting, i, wr)
}

// removeWaitingLocked removes the pull request at index i.
func (c *consumer) removeWaitingLocked(now time.Time, i int) {
	if i == 0 {
		c.mu.waiting[0] = nil
		c.mu.waiting = c.mu.waiting[1:]
	} else {
		c.mu.waiting = slices.Delete(c.mu.waiting, i, i+1)
	}
	if len(c.mu.waiting) == 0 {
		c.mu.waiting = nil
	}
	c.mu.lastActive = now
}

// expireLocked answers expired pull requests with 408 and drops them.
func (c *consumer) expireLocked(now time.Time) {
	keep := c.mu.waiting[:0]
	for _, wr := range c.mu.waiting {
		if !wr.expires.IsZero() && !now.Before(wr.expires) {
			c.set.env.Server.Deliver(wr.reply, nil, jsapi.AppendRequestTimeout(nil, wr.batch, wr.bytesLeft), nil)
			c.mu.lastActive = now
			continue
		}
		keep = append(keep, wr)
	}
	clear(c.mu.waiting[len(keep):])
	c.mu.waiting = keep
}

// endNoWaitLocked ends no_wait requests once nothing more can be
// delivered: with 404 when they have no expiry or got some messages (a
// no_wait request with an expiry that got nothing waits for it, as in
// nats-server).
func (c *consumer) endNoWaitLocked(now time.Time, d *deliverer) {
	keep := c.mu.waiting[:0]
	for _, wr := range c.mu.waiting {
		if wr.noWait && (wr.expires.IsZero() || wr.delivered > 0) {
			c.sendStatusLocked(d, wr.reply, jsapi.AppendNoMessages(d.status[:0]))
			c.mu.lastActive = now
			continue
		}
		keep = append(keep, wr)
	}
	clear(c.mu.waiting[len(keep):])
	c.mu.waiting = keep
}

package consumer

import (
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/log"
)

// persistGap is the least time between two state writes made only for
// plain acks and deliveries. Each write costs two fsyncs and a rename; run
// back to back under a steady load they kept the disk busy and queued the
// stream's group-commit fsync (so PubAcks and deliveries) behind them: a
// third of barge's CPU and the p99 tail in the latency workload. A double
// ack (an ack waiting for its reply) is written without waiting.
const persistGap = 20 * time.Millisecond

// A failed state write (a full disk) is tried again after persistRetryMin,
// doubling up to persistRetryMax, until one succeeds: acks keep being
// taken in memory meanwhile, and double acks are answered once a write
// holds them.
const (
	persistRetryMin = 100 * time.Millisecond
	persistRetryMax = 2 * time.Second
)

// persistLoop writes a durable consumer's state whenever it changed,
// coalescing every change made while the previous write was in progress
// or during persistGap after it (one write and its fsyncs serve many acks),
// then answers the double acks the write made durable. A write that fails
// is reported and tried again after a backoff. It makes a last write when
// the consumer stops.
func (c *consumer) persistLoop() {
	defer close(c.persistDone)
	var (
		buf  []byte
		snap savedState
		last time.Time // when the last write finished; zero before the first
		// retry fires when a failed write is due again; nil when the
		// last write succeeded.
		retry   <-chan struct{}
		retryT  broker.Timer
		backoff time.Duration
	)
	defer func() {
		if retryT != nil {
			retryT.Stop()
		}
	}()
	for {
		stopping := false
		kick := c.persistKick
		if retry != nil {
			kick = nil // after a failure, changes wait for the retry
		}
		select {
		case <-kick:
		case <-retry:
		case <-c.stop:
			stopping = true
		}
		if !stopping && !last.IsZero() {
			stopping = c.persistWait(last)
		}
		c.mu.Lock()
		v := c.mu.version
		unchanged := v == c.mu.written
		// A stop writes the state once more, except a discarded one and,
		// in a Store (a network write), an unchanged one.
		if (unchanged && !stopping) || (stopping && (c.mu.discard || (unchanged && c.set.store != nil))) {
			c.mu.Unlock()
			if stopping {
				return
			}
			continue
		}
		c.snapshotLocked(&snap)
		c.mu.Unlock()
		buf = appendState(buf[:0], &snap)
		err := c.saveState(buf)
		if retryT != nil {
			retryT.Stop()
			retry, retryT = nil, nil
		}
		switch {
		case err == nil:
			backoff = 0
		case stopping:
			c.set.log.Error("consumer: writing state", "stream", c.set.st.Name(), "consumer", c.name, "err", err)
		default:
			backoff = min(max(2*backoff, persistRetryMin), persistRetryMax)
			c.set.log.Error("consumer: writing state", "stream", c.set.st.Name(), "consumer", c.name, "err", err, "retry_in", backoff)
			fire := make(chan struct{})
			retryT = c.set.env.Clock.AfterFunc(backoff, func() { close(fire) })
			retry = fire
		}
		last = c.now()
		var ready []ackWaiter
		c.mu.Lock()
		if err == nil {
			c.mu.written = max(c.mu.written, v)
			keep := c.mu.ackWaiters[:0]
			for _, w := range c.mu.ackWaiters {
				if w.version <= v {
					ready = append(ready, w)
				} else {
					keep = append(keep, w)
				}
			}
			clear(c.mu.ackWaiters[len(keep):])
			c.mu.ackWaiters = keep
		}
		c.mu.Unlock()
		for _, w := range ready {
			c.set.env.Server.Deliver([]byte(w.reply), nil, nil, nil)
		}
		if stopping {
			return
		}
	}
}

// persistWait waits until persistGap has passed since last, returning
// early when a double ack is waiting (false) or the consumer stops (true).
func (c *consumer) persistWait(last time.Time) (stopping bool) {
	for {
		c.mu.Lock()
		urgent := len(c.mu.ackWaiters) > 0
		c.mu.Unlock()
		left := persistGap - c.now().Sub(last)
		if urgent || left <= 0 {
			return false
		}
		fire := make(chan struct{})
		t := c.set.env.Clock.AfterFunc(left, func() { close(fire) })
		select {
		case <-fire:
			return false
		case <-c.persistKick: // maybe a double ack: look again
			t.Stop()
		case <-c.stop:
			t.Stop()
			return true
		}
	}
}

// snapshotLocked copies the state to persist into snap, reusing its slice.
func (c *consumer) snapshotLocked(snap *savedState) {
	snap.next = c.mu.sseq
	if len(c.mu.lss) > 0 {
		snap.next = c.mu.lss[0]
	}
	snap.dcseq, snap.dsseq, snap.dts = c.mu.dseq, c.mu.sseq-1, c.mu.dts
	snap.acseq, snap.asseq, snap.ats = c.mu.ackC, c.mu.ackS, c.mu.ats
	snap.pending = snap.pending[:0]
	for s, p := range c.mu.pending {
		snap.pending = append(snap.pending, pendingRec{sseq: s, cseq: p.cseq, ts: p.ts, dc: uint32(p.dc)})
	}
	snap.maxed = append(snap.maxed[:0], c.mu.maxed...)
	snap.pin, snap.pinGroup, snap.pinnedAt = c.mu.pin, c.mu.pinGroup, 0
	if c.mu.pin != "" {
		snap.pinnedAt = c.mu.pinnedAt.UnixNano()
	}
}

// saveState makes an encoded state durable: in the consumer's directory,
// or in the set's Store for a replicated stream.
func (c *consumer) saveState(b []byte) error {
	if s := c.set.store; s != nil {
		return s.PutState(c.name, c.created, b)
	}
	return log.WriteFileAtomic(c.set.fs, c.dir, stateFile, b)
}

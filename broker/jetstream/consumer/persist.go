package consumer

// persistLoop writes a durable consumer's state whenever it changed,
// coalescing every change made while the previous write was in progress
// (one write and its fsyncs serve many acks), then answers the double acks
// the write made durable. It makes a last write when the consumer stops.
func (c *consumer) persistLoop() {
	defer close(c.persistDone)
	var (
		buf  []byte
		snap savedState
	)
	for {
		stopping := false
		select {
		case <-c.persistKick:
		case <-c.stop:
			stopping = true
		}
		c.mu.Lock()
		v := c.mu.version
		if v == c.mu.written && !stopping {
			c.mu.Unlock()
			continue
		}
		c.snapshotLocked(&snap)
		c.mu.Unlock()
		buf = appendState(buf[:0], &snap)
		err := writeFileAtomic(c.dir, stateFile, buf)
		if err != nil {
			c.set.log.Error("consumer: writing state", "stream", c.set.st.Name(), "consumer", c.name, "err", err)
		}
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
}

package jetstream

// dedupEntry is one Nats-Msg-Id seen within the duplicate window.
type dedupEntry struct {
	seq uint64
	ts  int64 // unix ns the message was assigned its sequence
	// pending: the message is not durable yet; duplicates arriving now wait
	// for it (their replies are queued in waiters) instead of being
	// acknowledged for a message that could still fail.
	pending bool
	waiters [][]byte
}

// dedupRec is the order in which ids were added, for expiry.
type dedupRec struct {
	id string
	e  *dedupEntry
}

// dedupTable is a stream's Nats-Msg-Id window: a map for lookups and a FIFO
// in timestamp order for expiry. Not safe for concurrent use: the stream's
// mu guards it.
type dedupTable struct {
	ids   map[string]*dedupEntry
	order []dedupRec
	head  int
}

// get returns id's entry, or nil.
func (d *dedupTable) get(id string) *dedupEntry {
	return d.ids[id]
}

// add records id for seq at ts (replacing an older entry for id).
func (d *dedupTable) add(id string, seq uint64, ts int64, pending bool) *dedupEntry {
	if d.ids == nil {
		d.ids = make(map[string]*dedupEntry)
	}
	e := &dedupEntry{seq: seq, ts: ts, pending: pending}
	d.ids[id] = e
	d.order = append(d.order, dedupRec{id, e})
	return e
}

// remove forgets id if its entry is still e (a failed store).
func (d *dedupTable) remove(id string, e *dedupEntry) {
	if d.ids[id] == e {
		delete(d.ids, id)
	}
}

// expire forgets every durable id stored before cutoff (unix ns). A pending
// entry stops the sweep: it is the newest kind and will be swept later.
func (d *dedupTable) expire(cutoff int64) {
	for d.head < len(d.order) {
		r := d.order[d.head]
		if r.e.ts >= cutoff || r.e.pending {
			break
		}
		if d.ids[r.id] == r.e {
			delete(d.ids, r.id)
		}
		d.order[d.head] = dedupRec{}
		d.head++
	}
	if d.head > 1024 && d.head*2 > len(d.order) {
		n := copy(d.order, d.order[d.head:])
		clear(d.order[n:])
		d.order = d.order[:n]
		d.head = 0
	}
}

// len is the number of ids remembered.
func (d *dedupTable) len() int { return len(d.ids) }

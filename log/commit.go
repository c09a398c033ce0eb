package log

import (
	"fmt"
	"slices"

	"github.com/bargemq/barge/subject"
)

type opKind uint8

const (
	opMsg    opKind = iota + 1 // a message committed (msg or commit record)
	opDelete                   // a tombstone
	opPurge                    // a purge record
	opExpire                   // MaxAge timer fired (no record)
	opConfig                   // limits changed (no record)
	opSettle                   // a write failed: a leader must settle it (no record; writefail.go)
)

// op is one state change on its way through the group commit: written to
// the segment (in file order, under l.w), then synced and applied to the
// index in the same order by whichever waiter leads the batch.
type op struct {
	kind    opKind
	seq     uint64 // opMsg: assigned; opDelete: target; opPurge: last sequence removed
	gap     uint64 // opMsg: the first sequence its skip record skips (mirror.go); 0: none
	subject string // opMsg: subject; opPurge: filter ("" = all)
	e       entry  // opMsg
	cfg     Config // opConfig
	record  bool   // a record was written: the batch must be synced
	n       uint64 // opPurge: messages removed
	// mark (opPurge with a subject filter, a Checker's rollup): the
	// removals it makes are logged by its own record, not as evictions.
	mark bool
	err  error // result, set by the leader
	done bool  // guarded by l.sq
	// Where the op's last record ends, and the epoch it was written in
	// (noteRecordLocked): a leader settling a write failure keeps the op
	// only if that is before the durable point.
	wseg  *segment
	end   int64
	epoch uint64
	// evict: an eviction-log op (evict.go) carrying the evictions its
	// records log, restored as pending if the op fails.
	evict    bool
	evFront  uint64
	evSeqs   []uint64
	evLogged uint64
	// async is CommitAsync's callback (opMsg only): the leader hands the
	// finished op to the notifier instead of waking a waiter.
	async func(seq uint64, ts int64, err error)
}

// enqueue adds o behind every operation written before it. Callers that
// wrote a record hold l.w, so queue order is file order.
func (l *Log) enqueue(o *op) {
	l.sq.Lock()
	l.sq.queue = append(l.sq.queue, o)
	l.sq.Unlock()
}

// enqueueWith is enqueue of o and then, when not nil, also (a Checker's
// purge), in one step so that both apply in the same batch.
func (l *Log) enqueueWith(o, also *op) {
	if also == nil {
		l.enqueue(o)
		return
	}
	l.sq.Lock()
	l.sq.queue = append(l.sq.queue, o, also)
	l.sq.Unlock()
}

// await blocks until o is applied (or failed) and returns its error. The
// first waiter to find no batch in progress leads: it takes every queued
// operation, syncs once (SyncAlways), applies them in order, and wakes all
// the waiters. Waiters that arrive during a sync form the next batch: one
// fsync completes everyone who was waiting at that moment.
func (l *Log) await(o *op) error {
	l.sq.Lock()
	for !o.done {
		if l.sq.leading {
			l.sq.cond.Wait()
			continue
		}
		l.leadLocked()
	}
	err := o.err
	l.sq.Unlock()
	return err
}

// drain applies everything queued (used by Close).
func (l *Log) drain() {
	l.sq.Lock()
	for l.sq.leading || len(l.sq.queue) > 0 {
		if l.sq.leading {
			l.sq.cond.Wait()
			continue
		}
		l.leadLocked()
	}
	l.sq.Unlock()
}

// leadLocked runs one batch. l.sq is held on entry and exit, released
// during the sync and the apply.
func (l *Log) leadLocked() {
	l.sq.leading = true
	batch := l.sq.queue
	l.sq.queue = l.sq.spare[:0]
	l.sq.Unlock()

	needSync := false
	for _, o := range batch {
		needSync = needSync || o.record
	}
	// The batch's records may still sit in the small-record buffer: they
	// reach the file before the sync and before anyone can read them. pos
	// is where the active segment's data ends then: durable once synced.
	var pos segPos
	var f File
	if needSync {
		l.w.Lock()
		_ = l.flushPendLocked() // an error sticks; sticky() below handles it
		pos = segPos{l.w.active, l.w.off}
		f = pos.seg.f
		l.w.Unlock()
	}
	var serr error
	// A replica log's records are made durable by the raft side's fsync
	// (raftlog.go): its own batches only need to reach the file.
	if needSync && l.opts.Sync == SyncAlways && !l.opts.Replica && l.sticky() == nil {
		serr = f.Sync()
	}
	if needSync || l.sticky() != nil {
		l.w.Lock()
		if serr != nil && pos.seg == l.w.active { // a sealed segment was synced by its roll
			l.failLocked(fmt.Errorf("log: sync segment %d: %w", pos.seg.id, serr))
		}
		switch err := l.sticky(); {
		case err == nil:
			l.advanceGoodLocked(pos)
		case l.opts.Replica:
			// A write or sync error anywhere since these records were
			// written means they may not be durable: fail them.
			for _, o := range batch {
				if o.record {
					o.err = err
				}
			}
		default:
			batch = l.settleLocked(batch, err)
		}
		l.w.Unlock()
	}
	l.applyBatch(batch)

	l.sq.Lock()
	notify := false
	for _, o := range batch {
		o.done = true
		if o.async != nil {
			l.sq.done = append(l.sq.done, o)
			notify = true
		}
	}
	if notify && !l.sq.notifying {
		l.sq.notifying = true
		l.async.Add(1)
		go l.notifyAsync()
	}
	clear(batch)
	l.sq.spare = batch[:0]
	l.sq.leading = false
	l.sq.cond.Broadcast()
}

// applyBatch applies the operations to the index in order; those the
// leader failed already (o.err set: their records are not durable) are
// skipped.
func (l *Log) applyBatch(batch []*op) {
	now := l.opts.Clock.Now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	marks := len(l.mu.ev.purges)
	for _, o := range batch {
		if o.kind == opMsg {
			l.pendingMsgs.Add(-1)
			l.pendingBytes.Add(-l.msgSize(len(o.subject), int(o.e.hdrLen), o.e.size))
		}
		if o.err != nil {
			if o.kind == opMsg {
				o.e.first.live.Add(-1)
			}
			if o.evict {
				l.mu.ev.restoreLocked(o)
			}
			continue
		}
		switch o.kind {
		case opMsg:
			l.applyMsgLocked(o.seq, o.e, o.subject, now)
		case opDelete:
			if _, ok := l.removeLocked(o.seq); !ok {
				o.err = ErrDeleted
			}
		case opPurge:
			if o.mark && l.mu.ev.on {
				l.mu.ev.purges = append(l.mu.ev.purges, purgeMark{o.subject, o.seq})
			}
			o.n = l.purgeLocked(o.subject, o.seq)
			if o.evict {
				l.mu.ev.recycleLocked(o)
			}
		case opExpire:
			l.applyLimitsLocked(now, false)
		case opConfig:
			l.mu.cfg = o.cfg
			l.applyLimitsLocked(now, true)
		}
	}
	l.dropPrefixLocked()
	if n := len(l.mu.ev.purges); n > marks {
		clear(l.mu.ev.purges[marks:]) // the rollup marks above: noted
		l.mu.ev.purges = l.mu.ev.purges[:marks]
	}
	l.scheduleExpiryLocked()
	close(l.mu.changed)
	l.mu.changed = make(chan struct{})
}

// applyMsgLocked indexes a committed message (its first segment is already
// pinned for it) and enforces the limits it may break. Recovery replays
// through here too, so a log rebuilt from its segments matches the one
// that wrote them.
func (l *Log) applyMsgLocked(seq uint64, e entry, subject string, now int64) {
	x := &l.mu.idx
	if seq <= x.last {
		// Already indexed (a duplicate record): release the pin.
		e.first.live.Add(-1)
		return
	}
	x.add(seq, e, subject)
	if max := l.mu.cfg.MaxMsgsPerSubject; max > 0 {
		id := x.subjects[subject]
		for int64(len(x.subjs[id].seqs)) > max {
			l.removeLocked(x.subjs[id].seqs[0])
		}
	}
	l.applyLimitsLocked(now, false)
}

// applyLimitsLocked drops the oldest messages past MaxMsgs, MaxBytes and
// MaxAge, and when perSubject is set, every subject's excess over
// MaxMsgsPerSubject.
func (l *Log) applyLimitsLocked(now int64, perSubject bool) {
	x := &l.mu.idx
	cfg := &l.mu.cfg
	if perSubject && cfg.MaxMsgsPerSubject > 0 {
		for id := range x.subjs {
			for int64(len(x.subjs[id].seqs)) > cfg.MaxMsgsPerSubject {
				l.removeLocked(x.subjs[id].seqs[0])
			}
		}
	}
	for cfg.MaxMsgs > 0 && x.msgs > uint64(cfg.MaxMsgs) {
		l.removeLocked(x.base)
	}
	for cfg.MaxBytes > 0 && x.bytes > uint64(cfg.MaxBytes) && x.msgs > 0 {
		l.removeLocked(x.base)
	}
	if cfg.MaxAge > 0 {
		cutoff := now - int64(cfg.MaxAge)
		for x.msgs > 0 && x.ents[0].ts <= cutoff {
			l.removeLocked(x.base)
		}
	}
}

// removeLocked removes a live message and unpins its first segment.
func (l *Log) removeLocked(seq uint64) (entry, bool) {
	e, ok := l.mu.idx.remove(seq)
	if ok {
		e.first.live.Add(-1)
	}
	return e, ok
}

// purgeLocked removes the live messages with sequence <= upTo whose subject
// matches filter ("" matches all) and returns how many.
func (l *Log) purgeLocked(filter string, upTo uint64) uint64 {
	x := &l.mu.idx
	var n uint64
	if filter == "" || filter == ">" {
		for x.msgs > 0 && x.base <= upTo {
			if _, ok := l.removeLocked(x.base); ok {
				n++
			}
		}
		if x.msgs == 0 && upTo > x.last {
			x.pad(upTo)
		}
		return n
	}
	if !subject.HasWildcard(filter) {
		id, ok := x.subjects[filter]
		if !ok {
			return 0
		}
		for len(x.subjs[id].seqs) > 0 && x.subjs[id].seqs[0] <= upTo {
			seq := x.subjs[id].seqs[0]
			l.removeLocked(seq)
			n++
			if _, still := x.subjects[filter]; !still {
				break
			}
		}
		return n
	}
	var victims []uint64
	for id := range x.subjs {
		s := &x.subjs[id]
		if len(s.seqs) == 0 || !subject.Matches(filter, s.name) {
			continue
		}
		for _, seq := range s.seqs {
			if seq > upTo {
				break
			}
			victims = append(victims, seq)
		}
	}
	slices.Sort(victims)
	for _, seq := range victims {
		if _, ok := l.removeLocked(seq); ok {
			n++
		}
	}
	return n
}

// scheduleExpiryLocked arms the MaxAge timer for the oldest message.
func (l *Log) scheduleExpiryLocked() {
	x := &l.mu.idx
	maxAge := l.mu.cfg.MaxAge
	if maxAge <= 0 || x.msgs == 0 {
		return
	}
	at := x.ents[0].ts + int64(maxAge)
	l.bg.Lock()
	defer l.bg.Unlock()
	if l.bg.closed || (l.bg.expiry != nil && l.bg.expiryAt <= at) {
		return
	}
	if l.bg.expiry != nil {
		l.bg.expiry.Stop()
	}
	l.bg.expiryAt = at
	d := max(at-l.opts.Clock.Now().UnixNano(), 0)
	l.bg.expiry = l.opts.Clock.AfterFunc(timeDuration(d)+1, l.expire)
}

// expire runs when the oldest message may have reached MaxAge.
func (l *Log) expire() {
	l.bg.Lock()
	l.bg.expiry = nil
	closed := l.bg.closed
	l.bg.Unlock()
	if closed {
		return
	}
	o := &op{kind: opExpire}
	l.enqueue(o)
	l.await(o)
}

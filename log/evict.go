package log

import "github.com/bargemq/barge/subject"

// Limit evictions are logged, so that recovery rebuilds exactly the state
// the writer had even when a limit is raised (UpdateConfig, or a larger
// limit passed to the next Open) before the evicted messages' segments are
// reclaimed. Replay applies the limits of the Config it is opened with; a
// raised limit alone would keep messages the writer had dropped.
//
// No new record type is needed: an eviction from the front (MaxMsgs,
// MaxBytes, MaxAge, and any removal that advances FirstSeq) is a purge
// record with the empty filter up to FirstSeq-1, and an interior one
// (MaxMsgsPerSubject) is a delete record. Both are idempotent on replay.
//
// The records are written after the batch that evicted (the index learns of
// an eviction only when a batch is applied, after its fsync) by one
// on-demand goroutine, in the group-commit queue like any other record, so
// they join the next batch's fsync. UpdateConfig, Open and Close write and
// sync the pending evictions before they return. See doc.go for the window
// this leaves.

// evictLog is the bookkeeping of evictions not yet written. It is guarded by
// Log.mu (l.mu.ev).
type evictLog struct {
	on      bool     // log evictions (file storage, not a replica)
	auto    bool     // start the writer goroutine when evictions are noted
	writing bool     // the writer goroutine runs
	front   uint64   // pending: every sequence <= front is gone (0: none)
	logged  uint64   // highest front written so far
	seqs    []uint64 // pending interior tombstones
	spare   []uint64
	// purges are subject purges whose records are written: their removals
	// need no tombstone.
	purges []purgeMark
}

type purgeMark struct {
	filter string
	upTo   uint64
}

// removal is one message removed from the index while the index tracks
// removals (index.track): its sequence and subject.
type removal struct {
	seq  uint64
	subj string
}

// maxTombstones bounds the delete records written in one write.
const maxTombstones = 4096

// noteEvictionsLocked turns the removals the index saw since the last call
// into pending eviction records, and starts the writer when asked to. It is
// called with l.mu held for writing after every applied batch.
func (l *Log) noteEvictionsLocked() {
	x := &l.mu.idx
	ev := &l.mu.ev
	if len(x.removed) == 0 {
		// Evictions left pending by a write failure are retried after
		// the next batch.
		if ev.auto && !ev.writing && ev.pendingLocked() && l.sticky() == nil {
			ev.writing = true
			l.async.Add(1)
			go l.runEvictions()
		}
		return
	}
	f := x.firstSeq()
	for _, r := range x.removed {
		if r.seq < f {
			if f-1 > ev.logged {
				ev.front = max(ev.front, f-1)
			}
			continue
		}
		if ev.coveredLocked(r) {
			continue
		}
		ev.seqs = append(ev.seqs, r.seq)
	}
	clear(x.removed)
	x.removed = x.removed[:0]
	if ev.auto && !ev.writing && ev.pendingLocked() {
		ev.writing = true
		l.async.Add(1)
		go l.runEvictions()
	}
}

// coveredLocked reports whether a written subject purge removes r.
func (ev *evictLog) coveredLocked(r removal) bool {
	for _, p := range ev.purges {
		if r.seq <= p.upTo && subject.Matches(p.filter, r.subj) {
			return true
		}
	}
	return false
}

func (ev *evictLog) pendingLocked() bool { return ev.front > 0 || len(ev.seqs) > 0 }

// runEvictions is the writer goroutine: it writes what is pending, waits
// for it to be applied (synced with its batch), and exits when nothing is
// left or the log stopped taking writes.
func (l *Log) runEvictions() {
	defer l.async.Done()
	for {
		o := l.writeEvictions(true)
		if o == nil {
			return
		}
		l.await(o)
	}
}

// writeEvictions writes the pending eviction records and enqueues them as
// one operation (a purge of nothing new, which applies as a no-op), which it
// returns; nil when nothing was pending or the log refuses writes (the
// pending evictions then stay for Close). runner: called by the writer
// goroutine, which ends itself when it returns nil.
func (l *Log) writeEvictions(runner bool) *op {
	l.w.Lock()
	defer l.w.Unlock()
	return l.writeEvictionsLocked(runner)
}

// writeEvictionsLocked is writeEvictions with l.w held.
func (l *Log) writeEvictionsLocked(runner bool) *op {
	werr := l.writableLocked() // before l.mu: it may take l.sq
	l.mu.Lock()
	ev := &l.mu.ev
	if werr != nil || !ev.pendingLocked() {
		if runner {
			ev.writing = false
		}
		l.mu.Unlock()
		return nil
	}
	front, seqs, logged := ev.front, ev.seqs, ev.logged
	ev.front, ev.seqs, ev.spare = 0, ev.spare[:0], nil
	ev.logged = max(ev.logged, front)
	l.mu.Unlock()

	o := &op{kind: opPurge, seq: front, record: true, evict: true, evFront: front, evSeqs: seqs, evLogged: logged}
	if err := l.writeEvictionRecordsLocked(o, front, seqs); err != nil {
		// The log refuses writes now: the evictions stay pending.
		l.mu.Lock()
		ev.restoreLocked(o)
		if runner {
			ev.writing = false
		}
		l.mu.Unlock()
		return nil
	}
	l.enqueue(o)
	return o
}

// restoreLocked puts back the evictions of an eviction op whose records
// were not written or not made durable, so they are logged later. l.mu
// held for writing.
func (ev *evictLog) restoreLocked(o *op) {
	ev.front = max(ev.front, o.evFront)
	ev.seqs = append(ev.seqs, o.evSeqs...)
	ev.logged = min(ev.logged, o.evLogged)
	o.evSeqs = nil
}

// recycleLocked keeps an applied eviction op's sequence buffer for the
// next one. l.mu held for writing.
func (ev *evictLog) recycleLocked(o *op) {
	if ev.spare == nil && o.evSeqs != nil {
		clear(o.evSeqs)
		ev.spare = o.evSeqs[:0]
	}
	o.evSeqs = nil
}

// writeEvictionRecordsLocked writes a purge record up to front (when > 0)
// and a delete record for every sequence in seqs above front. l.w held.
func (l *Log) writeEvictionRecordsLocked(o *op, front uint64, seqs []uint64) error {
	const delSize = recHeaderSize + deleteBodySz
	buf := make([]byte, 0, recHeaderSize+purgeMetaSize+delSize*min(len(seqs), maxTombstones))
	if front > 0 {
		var rec [recHeaderSize + purgeMetaSize]byte
		putRecHeader(rec[:], recPurge, 0, purgeMetaSize)
		le.PutUint64(rec[recHeaderSize:], front)
		le.PutUint16(rec[recHeaderSize+8:], 0)
		sealRecord(rec[:], rec[recHeaderSize:])
		buf = append(buf, rec[:]...)
	}
	n := 0
	for _, seq := range seqs {
		if seq <= front {
			continue
		}
		var rec [delSize]byte
		putRecHeader(rec[:], recDelete, 0, deleteBodySz)
		le.PutUint64(rec[recHeaderSize:], seq)
		sealRecord(rec[:], rec[recHeaderSize:])
		buf = append(buf, rec[:]...)
		if n++; n == maxTombstones {
			seg, off, err := l.writeLocked(buf, nil)
			if err != nil {
				return err
			}
			l.noteRecordLocked(o, seg, off+int64(len(buf)))
			buf, n = buf[:0], 0
		}
	}
	if len(buf) == 0 {
		return nil
	}
	seg, off, err := l.writeLocked(buf, nil)
	if err == nil {
		l.noteRecordLocked(o, seg, off+int64(len(buf)))
	}
	return err
}

// flushEvictions writes every pending eviction and returns once it is
// durable (used by Open and UpdateConfig). Errors: the sticky write error.
func (l *Log) flushEvictions() error {
	for {
		o := l.writeEvictions(false)
		if o == nil {
			return l.sticky()
		}
		if err := l.await(o); err != nil {
			return err
		}
	}
}

// markPurge notes a subject purge whose record is written, so its removals
// are not tombstoned again; the returned func forgets it.
func (l *Log) markPurge(filter string, upTo uint64) func() {
	if filter == "" || filter == ">" {
		return func() {}
	}
	m := purgeMark{filter, upTo}
	l.mu.Lock()
	on := l.mu.ev.on
	if on {
		l.mu.ev.purges = append(l.mu.ev.purges, m)
	}
	l.mu.Unlock()
	if !on {
		return func() {}
	}
	return func() {
		l.mu.Lock()
		ps := l.mu.ev.purges
		for i := range ps {
			if ps[i] == m {
				l.mu.ev.purges = append(ps[:i], ps[i+1:]...)
				break
			}
		}
		l.mu.Unlock()
	}
}

// queueEmpty reports whether no operation waits in the group-commit queue
// or is being applied.
func (l *Log) queueEmpty() bool {
	l.sq.Lock()
	defer l.sq.Unlock()
	return len(l.sq.queue) == 0 && !l.sq.leading
}

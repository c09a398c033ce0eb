package log

import "fmt"

// Atomic batches on a replica: ApplyBatch commits a batch's messages, all
// carried by one raft entry (their commits, small payloads inline, large
// ones chunked by entries before it), as one step of the apply path:
//
//   - every message is decided first (pending chunks complete, the log's
//     DiscardNew limits for the whole batch, then the Checker about each in
//     order, with the sequences they will have and one timestamp): one
//     refusal drops the whole batch and writes nothing, as
//     CommitBatch does on an R1 log;
//   - then the commit records are written and their ops queued in one
//     step, so one group commit applies them all under one index lock: a
//     reader sees all of the batch or none of it;
//   - a crash inside the writes leaves records after the last applied
//     marker, which recovery drops (replica_recover.go): raft applies the
//     batch's entry again, whole;
//   - the same entry applied again (a retried proposal that had
//     committed) finds its messages' ids committed: ErrDuplicate, with the
//     original sequences, and nothing is written.

// BatchMsg is one message of ApplyBatch.
type BatchMsg struct {
	C Commit // C.Seq must be 0
	// Inline: the message's one chunk is Data (CRC-32C CRC), which lies in
	// the batch's raft entry at At; otherwise its chunks were applied
	// before (ApplyChunk, ApplyChunkAt).
	Inline bool
	Data   []byte
	CRC    uint32
	At     EntryRef
}

// ApplyBatch commits msgs as consecutive sequences with one timestamp
// (max(msgs[0].C.Time, the previous)), all of them or none (see above),
// and returns the first and last sequence and the timestamp. The records
// become durable and visible with the next MarkApplied. Errors, decided
// from the log's contents and msgs alone: ErrDuplicate (the batch was
// committed before: first and last are its sequences), ErrNotFound (a
// message's chunks are unknown or aborted), ErrCorrupt, ErrMaxMsgs and
// ErrMaxBytes (DiscardNew), a *BatchRefusal wrapping the Checker's
// refusal; on these every pending message of the batch is dropped.
// ErrBadRequest, ErrClosed and the sticky write error can also come back.
// Data is not retained.
func (l *Log) ApplyBatch(msgs []BatchMsg) (first, last uint64, ts int64, err error) {
	if len(msgs) == 0 {
		return 0, 0, 0, fmt.Errorf("%w: empty batch", ErrBadRequest)
	}
	// Where the inline payloads lie, found before rep.mu (as ApplyInlineAt).
	type at struct {
		ref chunkRef
		seg *segment
		ok  bool
	}
	ats := make([]at, len(msgs))
	for i := range msgs {
		if m := &msgs[i]; m.Inline {
			ats[i].ref, ats[i].seg, ats[i].ok = l.entryRef(m.At, len(m.Data), m.CRC)
		}
	}
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return 0, 0, 0, err
	}
	dropAll := func() {
		for i := range msgs {
			l.dropLocked(msgs[i].C.ID)
		}
	}
	for i := range msgs {
		c := &msgs[i].C
		if c.Subject == "" || len(c.Subject) > 0xffff || int64(len(c.Hdr)) > 1<<31 || c.Seq != 0 {
			dropAll()
			return 0, 0, 0, fmt.Errorf("%w: batch message %d: empty or oversized subject or header, or a sequence", ErrBadRequest, i)
		}
	}
	l.loadIDsLocked()
	if seq, dup := l.dupLocked(msgs[0].C.ID); dup {
		// Committed before, whole: the same entry again.
		last := seq + uint64(len(msgs)) - 1
		if s, ok := l.dupLocked(msgs[len(msgs)-1].C.ID); ok {
			last = s
		}
		dropAll()
		return seq, last, 0, ErrDuplicate
	}
	// Inline messages become pending, as ApplyInlineAt makes them.
	for i := range msgs {
		m := &msgs[i]
		if !m.Inline || rs.mu.pending[m.C.ID] != nil {
			continue
		}
		if len(m.Data) > maxChunkSize || crc32c(m.Data) != m.CRC {
			dropAll()
			return 0, 0, 0, fmt.Errorf("%w: inline chunk of batch message %d", ErrCorrupt, i)
		}
		if !ats[i].ok {
			if err := l.applyChunkLocked(m.C.ID, 0, m.Data, m.CRC); err != nil {
				dropAll()
				return 0, 0, 0, err
			}
			continue
		}
		p := l.newPendingLocked()
		p.have = append(p.have[:0], true)
		p.refs = append(p.refs[:0], ats[i].ref)
		p.n, p.bytes, p.inline = 1, int64(len(m.Data)), true
		ats[i].seg.live.Add(1)
		p.first = ats[i].seg
		rs.mu.pending[m.C.ID] = p
	}
	ps := make([]*pendingMsg, len(msgs))
	var total int64
	for i := range msgs {
		c := &msgs[i].C
		p := rs.mu.pending[c.ID]
		if p == nil {
			dropAll()
			return 0, 0, 0, fmt.Errorf("%w: batch message %d", ErrNotFound, i)
		}
		if err := p.check(c); err != nil {
			dropAll()
			return 0, 0, 0, err
		}
		ps[i] = p
		total += l.msgSize(len(c.Subject), len(c.Hdr), c.Size)
	}
	// Everything written before is applied: the Checker decides against
	// it without waiting.
	if err := l.barrierLocked(); err != nil {
		dropAll()
		return 0, 0, 0, err
	}
	l.w.Lock()
	defer l.w.Unlock()
	if err := l.writableLocked(); err != nil {
		dropAll()
		return 0, 0, 0, err
	}
	if err := l.checkBatchDiscardNew(len(msgs), total); err != nil {
		dropAll()
		return 0, 0, 0, err
	}
	seq0, ts0 := l.w.nextSeq, l.w.lastTs
	ts = max(msgs[0].C.Time, ts0)
	acts := make([]Action, len(msgs))
	for i := range msgs {
		c := &msgs[i].C
		act, out, err := l.checkLocked(c.Subject, c.Hdr, c.Size, l.w.nextSeq, ts, false)
		if err == nil && (out.body != nil || out.hasFilter) {
			// A counter's total or a schedule's purge rewrites the
			// message; a batch's records are built as they came (as
			// CommitBatch).
			err = fmt.Errorf("%w: a counter or schedule message cannot be part of an atomic batch", ErrBadRequest)
		}
		if err != nil {
			l.truncateCheckerLocked(seq0 - 1)
			l.w.nextSeq, l.w.lastTs = seq0, ts0
			dropAll()
			return 0, 0, 0, &BatchRefusal{Index: i, Err: err}
		}
		acts[i] = act
		l.w.nextSeq++
		l.w.lastTs = ts
	}
	l.w.nextSeq, l.w.lastTs = seq0, ts0 // assigned again as each is written
	ops := make([]*op, 0, len(msgs)+1)
	for i := range msgs {
		c, p, seq := &msgs[i].C, ps[i], seq0+uint64(i)
		rec := l.commitRecordLocked(c, p, seq, ts)
		seg, off, err := l.writeLocked(rec, nil)
		if err != nil {
			// A write error: it sticks, the replica must be reopened
			// (recovery drops what follows the last marker).
			l.truncateCheckerLocked(seq0 - 1)
			return 0, 0, 0, err
		}
		po, err := l.actionLocked(acts[i], c.Subject, seq)
		if err != nil {
			l.truncateCheckerLocked(seq0 - 1)
			return 0, 0, 0, err
		}
		o := l.newOpLocked()
		*o = op{kind: opMsg, seq: seq, subject: c.Subject, record: true,
			e: entry{seg: seg, first: p.first, off: off, ts: ts, size: c.Size, hdrLen: uint32(len(c.Hdr)), mlen: uint32(len(rec))}}
		p.first = nil // the pin now belongs to the entry
		delete(rs.mu.pending, c.ID)
		l.recyclePendingLocked(p)
		rs.mu.ids[c.ID] = seq
		l.w.nextSeq++
		l.w.lastTs = ts
		l.pendingMsgs.Add(1)
		l.pendingBytes.Add(l.msgSize(len(c.Subject), len(c.Hdr), c.Size))
		ops = append(ops, o)
		if po != nil {
			ops = append(ops, po)
		}
	}
	// One step: whoever leads the next group commit applies them all.
	l.sq.Lock()
	l.sq.queue = append(l.sq.queue, ops...)
	l.sq.Unlock()
	rs.mu.queued = append(rs.mu.queued, ops...)
	return seq0, l.w.nextSeq - 1, ts, nil
}

package log

import "fmt"

// CommitAsync is Commit for callers that must not wait for the fsync (an
// event loop): it assigns the sequence and timestamp and writes the record
// before it returns, so messages committed one after another get increasing
// sequences in that order, and calls done once the message is durable and
// visible (err nil) or has failed (err as Commit's: ErrSize, ErrMaxMsgs,
// ErrMaxBytes, the sticky write error). done runs exactly once on the
// log's notifier goroutine, one callback after another in commit order (a
// slow done delays the next ones, not the next fsync); Close returns only
// after every done has returned, so done must not wait for Close. It is
// not called when CommitAsync itself fails. On a non-nil return nothing of the message
// becomes visible and done is never called. The Appender is finished either
// way.
func (a *Appender) CommitAsync(done func(seq uint64, ts int64, err error)) (uint64, int64, error) {
	_, seq, ts, err := a.begin(done)
	if err != nil {
		return 0, 0, err
	}
	a.l.kickAsync()
	return seq, ts, nil
}

// kickAsync makes sure a committer goroutine will lead the batch holding a
// CommitAsync op just queued: one runner per log at a time, started on
// demand, so a burst of async commits costs no goroutine per message and
// one fsync per batch. A runner that is already going sees the op, because
// it exits only under l.sq with nothing queued and nobody leading.
func (l *Log) kickAsync() {
	l.sq.Lock()
	if l.sq.runner {
		l.sq.Unlock()
		return
	}
	l.sq.runner = true
	l.async.Add(1)
	l.sq.Unlock()
	go l.runAsync()
}

// runAsync leads batches until nothing is queued. A batch led by a
// synchronous waiter (Commit, Delete, ...) completes async ops too: the
// runner waits for it and then looks again.
func (l *Log) runAsync() {
	defer l.async.Done()
	l.sq.Lock()
	for {
		switch {
		case l.sq.leading:
			l.sq.cond.Wait()
		case len(l.sq.queue) > 0:
			l.leadLocked()
		default:
			l.sq.runner = false
			l.sq.Unlock()
			return
		}
	}
}

// notifyAsync calls the callbacks of finished CommitAsync ops in commit
// order, on its own goroutine, so the next batch's fsync overlaps them (a
// callback sends a PubAck; it may also call back into the log).
func (l *Log) notifyAsync() {
	defer l.async.Done()
	var ops []*op
	for {
		l.sq.Lock()
		if len(l.sq.done) == 0 {
			l.sq.notifying = false
			l.sq.Unlock()
			return
		}
		ops, l.sq.done = l.sq.done, ops[:0]
		l.sq.Unlock()
		for i, o := range ops {
			done, seq, ts, err := o.async, o.seq, o.e.ts, o.err
			o.async = nil
			ops[i] = nil
			if err != nil {
				done(0, 0, err)
			} else {
				done(seq, ts, nil)
			}
		}
		if f := l.opts.AsyncBatchDone; f != nil {
			f()
		}
	}
}

// begin asks the Checker, writes the message's final record (msg or
// commit) and any purge its Action asks for, assigns its sequence and
// timestamp, and queues it for the group commit. The caller
// awaits the returned op, or passes async (CommitAsync) and kicks the
// runner. On error the Appender is finished and nothing is
// queued.
func (a *Appender) begin(async func(uint64, int64, error)) (o *op, seq uint64, ts int64, err error) {
	if a.err == nil && a.n != a.size {
		a.err = ErrSize
	}
	if a.err == nil && a.chunked && a.fill > 0 {
		a.flushBuf()
	}
	if err := a.err; err != nil {
		a.finish()
		return nil, 0, 0, err
	}
	l := a.l
	var rec, tail []byte
	var mlen int
	if a.chunked {
		rec = a.commitRecord()
		mlen = len(rec)
	} else {
		rec, tail = a.msgRecord()
		mlen = recHeaderSize + msgMetaSize + len(a.subject) + len(a.hdr)
	}
	o = &a.op
	l.w.Lock()
	if a.pinned != nil && a.epoch != l.w.epoch {
		// The log rolled back after a write failure: chunks may be gone.
		err := l.rolledBackLocked()
		l.w.Unlock()
		a.finish()
		return nil, 0, 0, err
	}
	if err := l.checkDiscardNew(l.w.cfg, l.msgSize(len(a.subject), len(a.hdr), a.size), false); err != nil {
		l.w.Unlock()
		a.finish()
		return nil, 0, 0, err
	}
	seq, ts, gap, err := l.placeLocked(a.at, a.atTs, l.opts.Clock.Now().UnixNano())
	var act Action
	var out *checkOut
	if err == nil {
		act, out, err = l.checkLocked(a.subject, a.hdr, a.size, seq, ts, false)
	}
	if err == nil && out.body != nil {
		if a.chunked {
			l.truncateCheckerLocked(seq - 1)
			err = fmt.Errorf("%w: a chunked message's payload cannot be replaced", ErrBadRequest)
		} else {
			if out.hdr != nil {
				a.hdr = append(a.hdr[:0], out.hdr...)
				mlen = recHeaderSize + msgMetaSize + len(a.subject) + len(a.hdr)
			}
			rec, tail = a.replacePayload(out.body)
		}
	}
	if err != nil {
		l.w.Unlock()
		a.finish()
		return nil, 0, 0, err
	}
	le.PutUint64(rec[recHeaderSize:], seq)
	le.PutUint64(rec[recHeaderSize+8:], uint64(ts))
	sealRecord(rec, rec[recHeaderSize:mlen])
	if gap != 0 {
		err = l.writeSkipLocked(gap, seq)
	}
	var seg *segment
	var off int64
	if err == nil {
		seg, off, err = l.writeLocked(rec, tail)
	}
	var po *op
	if err == nil {
		po, err = l.actionLocked(act, out.purgeSubject(a.subject), seq)
	}
	if err != nil {
		if gap != 0 {
			l.w.nextSeq = gap // the skip goes with the message
		}
		l.truncateCheckerLocked(seq - 1)
		l.w.Unlock()
		a.finish()
		return nil, 0, 0, err
	}
	first := a.pinned
	if first == nil {
		seg.live.Add(1)
		first = seg
	}
	a.pinned = nil // the pin now belongs to the entry
	l.w.nextSeq++
	l.w.lastTs = ts
	*o = op{kind: opMsg, seq: seq, gap: gap, subject: a.subject, record: true, async: async,
		e: entry{seg: seg, first: first, off: off, ts: ts, size: a.size, hdrLen: uint32(len(a.hdr)), mlen: uint32(mlen)}}
	l.noteRecordLocked(o, seg, off+int64(len(rec)+len(tail)))
	l.pendingMsgs.Add(1)
	l.pendingBytes.Add(l.msgSize(len(a.subject), len(a.hdr), a.size))
	l.enqueueWith(o, po)
	l.w.Unlock()
	a.finish()
	return o, seq, ts, nil
}

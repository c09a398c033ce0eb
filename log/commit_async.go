package log

// CommitAsync is Commit for callers that must not wait for the fsync (an
// event loop): it assigns the sequence and timestamp and writes the record
// before it returns, so messages committed one after another get increasing
// sequences in that order, and calls done once the message is durable and
// visible (err nil) or has failed (err as Commit's: ErrSize, ErrMaxMsgs,
// ErrMaxBytes, the sticky write error). done runs on another goroutine,
// exactly once, whatever CommitAsync returns; it is not called when
// CommitAsync itself fails. On a non-nil return nothing of the message
// becomes visible and done is never called. The Appender is finished either
// way.
func (a *Appender) CommitAsync(done func(seq uint64, ts int64, err error)) (uint64, int64, error) {
	o, seq, ts, err := a.begin()
	if err != nil {
		return 0, 0, err
	}
	l := a.l
	go func() {
		if err := l.await(o); err != nil {
			done(0, 0, err)
			return
		}
		done(seq, ts, nil)
	}()
	return seq, ts, nil
}

// begin writes the message's final record (msg or commit), assigns its
// sequence and timestamp, and queues it for the group commit. The caller
// awaits the returned op. On error the Appender is finished and nothing is
// queued.
func (a *Appender) begin() (o *op, seq uint64, ts int64, err error) {
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
	if err := l.checkDiscardNew(l.w.cfg, int64(len(a.subject)+len(a.hdr))+a.size, false); err != nil {
		l.w.Unlock()
		a.finish()
		return nil, 0, 0, err
	}
	seq, ts = l.w.nextSeq, max(l.opts.Clock.Now().UnixNano(), l.w.lastTs)
	le.PutUint64(rec[recHeaderSize:], seq)
	le.PutUint64(rec[recHeaderSize+8:], uint64(ts))
	sealRecord(rec, rec[recHeaderSize:mlen])
	seg, off, err := l.writeLocked(rec, tail)
	if err != nil {
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
	*o = op{kind: opMsg, seq: seq, subject: a.subject, record: true,
		e: entry{seg: seg, first: first, off: off, ts: ts, size: a.size, hdrLen: uint32(len(a.hdr)), mlen: uint32(mlen)}}
	l.pendingMsgs.Add(1)
	l.pendingBytes.Add(int64(len(a.subject)+len(a.hdr)) + a.size)
	l.enqueue(o)
	l.w.Unlock()
	a.finish()
	return o, seq, ts, nil
}

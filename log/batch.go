package log

import (
	"fmt"

	"github.com/klauspost/compress/s2"
)

// Atomic batches: several messages made visible in one step.
//
// A batch's messages are staged one by one as they arrive (AppendStaged,
// Write, Stage) and committed together (CommitBatch):
//
//   - staging writes a payload over StageInline as chunk records straight
//     into the active segment, as any large payload is written, and keeps
//     at most StageInline bytes of a smaller one in memory; after Stage an
//     Appender holds no chunk buffer. Chunk records without a commit
//     record are invisible and reclaimed with their segment, so a crash
//     or an abandoned batch leaves nothing visible;
//   - CommitBatch asks the Checker about every message in order (with the
//     sequences and timestamps they will have) before it writes anything:
//     one refusal refuses the batch and nothing of it is written. Then it
//     writes the messages' final records (msg or commit records) and the
//     purges their Actions ask for as ONE write, and queues their ops in
//     one step, so one group commit applies them all under one index lock:
//     a reader sees all of the batch or none of it;
//   - a crash can still tear that write (or a write failure leave part of
//     it on disk before the rollback truncates it): the caller marks the
//     batch's last message (JetStream's Nats-Batch-Commit header) and
//     removes an unmarked tail at open (broker/jetstream/batch_repair.go).

// StageInline is the largest payload a staged message keeps in memory; a
// larger one is written as chunk records while it arrives.
const StageInline = 16 << 10

// AppendStaged is Append for a message of an atomic batch: the payload
// goes to chunk records when it is over StageInline (Append's threshold is
// Options.ChunkSize), then Stage, then CommitBatch or Abort.
func (l *Log) AppendStaged(subject string, hdr []byte, size int64) (*Appender, error) {
	a, err := l.Append(subject, hdr, size)
	if err != nil {
		return nil, err
	}
	if !a.chunked && size > StageInline {
		a.chunked = true
		*a.buf = (*a.buf)[:recHeaderSize+chunkMetaSize]
	}
	return a, nil
}

// Stage ends a staged message's payload: a short payload is ErrSize, the
// last partial chunk is written, and the chunk buffer goes back to the
// pool (a small payload is kept in a buffer of its own size). After an
// error the Appender can only be aborted.
func (a *Appender) Stage() error {
	if a.err == nil && a.n != a.size {
		a.err = ErrSize
	}
	if a.err == nil && a.chunked && a.fill > 0 {
		a.flushBuf()
	}
	if a.err != nil {
		return a.err
	}
	if a.buf != nil {
		if a.chunked {
			a.l.bufs.Put(a.buf)
			a.buf = nil
		} else if cap(*a.buf) > 2*len(*a.buf)+256 {
			b := append([]byte(nil), *a.buf...)
			a.l.bufs.Put(a.buf)
			a.buf = &b
		}
	}
	return nil
}

// SetHeader replaces the header block of a staged message (before
// CommitBatch; hdr is copied).
func (a *Appender) SetHeader(hdr []byte) {
	if a.chunked || a.buf == nil {
		a.hdr = append(a.hdr[:0], hdr...)
		return
	}
	// The small form keeps subject and header in its buffer's prefix.
	old := recHeaderSize + msgMetaSize + len(a.subject) + len(a.hdr)
	payload := (*a.buf)[old:]
	b := make([]byte, recHeaderSize+msgMetaSize+len(a.subject)+len(hdr), recHeaderSize+msgMetaSize+len(a.subject)+len(hdr)+len(payload))
	b = append(b, payload...)
	if cap(*a.buf) == a.l.bufCap() {
		a.l.bufs.Put(a.buf)
	}
	a.buf = &b
	a.hdr = append(a.hdr[:0], hdr...)
}

// Header is the message's header block (not to be modified).
func (a *Appender) Header() []byte { return a.hdr }

// BatchRefusal is CommitBatch's refusal of a batch by its Checker: the
// message at Index (0-based) was refused with Err.
type BatchRefusal struct {
	Index int
	Err   error
}

func (e *BatchRefusal) Error() string {
	return fmt.Sprintf("log: batch message %d: %v", e.Index, e.Err)
}

func (e *BatchRefusal) Unwrap() error { return e.Err }

// CommitBatch commits staged messages (every one Staged) as one atomic
// batch: sequences in order, every one decided by the Checker first, then
// written in one write and applied in one group commit (see above). It
// returns the last message's sequence; done is called once, as CommitAsync's, with the last
// message's sequence and timestamp when the whole batch is durable and
// visible, or with the error that failed it. On a non-nil return (a
// *BatchRefusal from the Checker, DiscardNew's ErrMaxMsgs/ErrMaxBytes, a
// write error) nothing of the batch is stored and done is not called.
// Every Appender is finished either way.
func (l *Log) CommitBatch(apps []*Appender, done func(seq uint64, ts int64, err error)) (uint64, error) {
	defer func() {
		for _, a := range apps {
			a.finish()
		}
	}()
	if len(apps) == 0 {
		return 0, fmt.Errorf("%w: empty batch", ErrBadRequest)
	}
	var total int64
	for _, a := range apps {
		if a.l != l || a.err != nil || a.n != a.size || (a.chunked && a.fill > 0) {
			if a.err != nil && a.err != ErrClosed {
				return 0, a.err
			}
			return 0, fmt.Errorf("%w: batch message not staged", ErrBadRequest)
		}
		total += l.msgSize(len(a.subject), len(a.hdr), a.size)
	}
	l.w.Lock()
	defer l.w.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	for _, a := range apps {
		if a.pinned != nil && a.epoch != l.w.epoch {
			// The log rolled back after a write failure: chunks may be gone.
			return 0, l.rolledBackLocked()
		}
	}
	if err := l.checkBatchDiscardNew(len(apps), total); err != nil {
		return 0, err
	}
	seq0, ts0 := l.w.nextSeq, l.w.lastTs
	undo := func() {
		l.truncateCheckerLocked(seq0 - 1)
		l.w.nextSeq, l.w.lastTs = seq0, ts0
	}
	// Decide every message first: a refusal writes nothing.
	// Every message of a batch has the same timestamp.
	acts := make([]Action, len(apps))
	ts := max(l.opts.Clock.Now().UnixNano(), ts0)
	for i, a := range apps {
		act, out, err := l.checkLocked(a.subject, a.hdr, a.size, l.w.nextSeq, ts, false)
		if err == nil && (out.body != nil || out.hasFilter) {
			// A counter's total or a schedule's purge rewrites the
			// message; a batch's records are built as they came.
			l.truncateCheckerLocked(l.w.nextSeq - 1)
			err = fmt.Errorf("%w: a counter or schedule message cannot be part of an atomic batch", ErrBadRequest)
		}
		if err != nil {
			undo()
			return 0, &BatchRefusal{Index: i, Err: err}
		}
		acts[i] = act
		l.w.nextSeq++
		l.w.lastTs = ts
	}
	// Build every record into one buffer: one write, one segment.
	var buf []byte
	type span struct{ off, mlen, end int }
	spans := make([]span, len(apps))
	for i, a := range apps {
		seq := seq0 + uint64(i)
		start := len(buf)
		var mlen int
		if a.chunked {
			rec := a.commitRecord()
			mlen = len(rec)
			buf = append(buf, rec...)
		} else {
			buf = a.appendMsgRecord(buf)
			mlen = recHeaderSize + msgMetaSize + len(a.subject) + len(a.hdr)
		}
		rec := buf[start:]
		le.PutUint64(rec[recHeaderSize:], seq)
		le.PutUint64(rec[recHeaderSize+8:], uint64(ts))
		sealRecord(rec, rec[recHeaderSize:mlen])
		spans[i] = span{start, mlen, len(buf)}
	}
	seg, base, err := l.writeLocked(buf, nil)
	if err != nil {
		undo()
		return 0, err
	}
	ops := make([]*op, 0, len(apps)+1)
	for i, a := range apps {
		seq := seq0 + uint64(i)
		first := a.pinned
		if first == nil {
			seg.live.Add(1)
			first = seg
		}
		a.pinned = nil // the pin now belongs to the entry
		o := &op{kind: opMsg, seq: seq, subject: a.subject, record: true,
			e: entry{seg: seg, first: first, off: base + int64(spans[i].off), ts: ts, size: a.size,
				hdrLen: uint32(len(a.hdr)), mlen: uint32(spans[i].mlen)}}
		if i == len(apps)-1 {
			o.async = done
		}
		l.noteRecordLocked(o, seg, base+int64(spans[i].end))
		l.pendingMsgs.Add(1)
		l.pendingBytes.Add(l.msgSize(len(a.subject), len(a.hdr), a.size))
		ops = append(ops, o)
		if acts[i] != ActNone {
			// A rollup's purge right behind its message, as a single
			// commit writes it.
			po, err := l.actionLocked(acts[i], a.subject, seq)
			if err != nil {
				// The batch's records are written but not queued: fail
				// the log so that the rollback removes them.
				for _, q := range ops {
					if q.kind == opMsg {
						l.pendingMsgs.Add(-1)
						l.pendingBytes.Add(-l.msgSize(len(q.subject), int(q.e.hdrLen), q.e.size))
						q.e.first.live.Add(-1)
					}
				}
				undo()
				return 0, err
			}
			if po != nil {
				ops = append(ops, po)
			}
		}
	}
	l.sq.Lock()
	l.sq.queue = append(l.sq.queue, ops...)
	l.sq.Unlock()
	l.kickAsync()
	return l.w.nextSeq - 1, nil
}

// appendMsgRecord appends the single-record form of a staged small message
// to dst (seq and ts left for the caller, then sealed).
func (a *Appender) appendMsgRecord(dst []byte) []byte {
	pre := recHeaderSize + msgMetaSize + len(a.subject) + len(a.hdr)
	payload := (*a.buf)[pre:]
	stored, flags := payload, byte(0)
	if a.s2 {
		a.cbuf = s2.Encode(a.cbuf[:cap(a.cbuf)], payload)
		stored, flags = a.cbuf, flagS2
	}
	start := len(dst)
	dst = append(dst, make([]byte, recHeaderSize+msgMetaSize)...)
	dst = append(dst, a.subject...)
	dst = append(dst, a.hdr...)
	dst = append(dst, stored...)
	b := dst[start:]
	putRecHeader(b, recMsg, flags, pre-recHeaderSize+len(stored))
	putMsgMeta(b[recHeaderSize:], msgMeta{crc: crc32c(stored), subjLen: len(a.subject), hdrLen: len(a.hdr), size: a.size})
	return dst
}

// checkBatchDiscardNew is checkDiscardNew for n messages of total bytes.
// l.w held.
func (l *Log) checkBatchDiscardNew(n int, total int64) error {
	cfg := l.w.cfg
	if cfg.Discard != DiscardNew || (cfg.MaxMsgs <= 0 && cfg.MaxBytes <= 0) {
		if cfg.MaxBytes > 0 && total > cfg.MaxBytes {
			return ErrMaxBytes
		}
		return nil
	}
	l.mu.RLock()
	msgs, bytes := int64(l.mu.idx.msgs), int64(l.mu.idx.bytes)
	l.mu.RUnlock()
	msgs += l.pendingMsgs.Load()
	bytes += l.pendingBytes.Load()
	if cfg.MaxMsgs > 0 && msgs+int64(n) > cfg.MaxMsgs {
		return ErrMaxMsgs
	}
	if cfg.MaxBytes > 0 && bytes+total > cfg.MaxBytes {
		return ErrMaxBytes
	}
	return nil
}

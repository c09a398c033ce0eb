package log

import (
	"fmt"
	"time"

	"github.com/klauspost/compress/s2"
)

func timeDuration(ns int64) time.Duration { return time.Duration(ns) }

// Appender writes one message whose payload arrives in pieces. A payload of
// at most Options.ChunkSize bytes is buffered and stored as one msg record
// at Commit; a larger one is stored as chunk records while it arrives (a
// piece that covers a whole chunk is written straight from the caller's
// slice) and Commit adds the commit record. Memory held: one chunk buffer
// plus 24 bytes per chunk.
//
// An Appender is used by one goroutine. It must end with Commit or Abort;
// after either, every method returns ErrClosed (Abort is then a no-op).
type Appender struct {
	l       *Log
	subject string
	hdr     []byte
	size    int64 // declared payload length
	n       int64 // payload bytes received
	chunked bool
	s2      bool
	buf     *[]byte // pooled: record header + meta room, then data
	fill    int     // data bytes in buf (chunked)
	refs    []chunkRef
	txn     uint64
	pinned  *segment // segment of the first chunk, pinned until commit or abort
	epoch   uint64   // the log's write epoch when the first chunk was written
	cbuf    []byte   // compression / commit-record scratch
	err     error    // sticky; ErrClosed after Commit/Abort
	op      op
	// at and atTs: the sequence and timestamp the message must get
	// (AppendAt, mirror.go); at 0: the next ones.
	at   uint64
	atTs int64
}

// Append starts a message on subject with header hdr (copied; may be nil)
// and a payload of exactly size bytes, to be given to Write. It checks
// whether the message can ever fit (ErrMaxBytes; with DiscardNew also the
// current totals). It fails with ErrClosed or the sticky write error. The
// Checker (Options.Checker) decides at Commit, in log order.
func (l *Log) Append(subject string, hdr []byte, size int64) (*Appender, error) {
	if subject == "" || size < 0 || len(subject) > 0xffff || int64(len(hdr)) > 1<<31 {
		return nil, fmt.Errorf("%w: empty or oversized subject, header, or negative size", ErrBadRequest)
	}
	l.w.Lock()
	cfg := l.w.cfg
	err := l.writableLocked()
	l.w.Unlock()
	if err != nil {
		return nil, err
	}
	if err := l.checkDiscardNew(cfg, l.msgSize(len(subject), len(hdr), size), true); err != nil {
		return nil, err
	}
	a := &Appender{l: l, subject: subject, size: size, s2: cfg.Compression == CompressionS2}
	a.hdr = append(a.hdr, hdr...)
	a.chunked = size > int64(l.opts.ChunkSize)
	a.buf = l.bufs.Get().(*[]byte)
	if a.chunked {
		*a.buf = (*a.buf)[:recHeaderSize+chunkMetaSize]
	} else {
		pre := recHeaderSize + msgMetaSize + len(subject) + len(hdr)
		if need := pre + int(size); cap(*a.buf) < need {
			b := make([]byte, 0, need)
			l.bufs.Put(a.buf)
			a.buf = &b
		}
		*a.buf = (*a.buf)[:pre]
	}
	return a, nil
}

// checkDiscardNew rejects a message that counts n bytes (msgSize) and can
// never fit in MaxBytes, and under DiscardNew one that does not fit now
// (counting messages committed but not yet applied).
func (l *Log) checkDiscardNew(cfg Config, n int64, early bool) error {
	if cfg.MaxBytes > 0 && n > cfg.MaxBytes {
		return ErrMaxBytes
	}
	if cfg.Discard != DiscardNew || (cfg.MaxMsgs <= 0 && cfg.MaxBytes <= 0) {
		return nil
	}
	l.mu.RLock()
	msgs, bytes := int64(l.mu.idx.msgs), int64(l.mu.idx.bytes)
	l.mu.RUnlock()
	msgs += l.pendingMsgs.Load()
	bytes += l.pendingBytes.Load()
	if cfg.MaxMsgs > 0 && msgs+1 > cfg.MaxMsgs {
		return ErrMaxMsgs
	}
	if cfg.MaxBytes > 0 && bytes+n > cfg.MaxBytes {
		return ErrMaxBytes
	}
	return nil
}

// Write adds the next piece of the payload. p is not retained: it is
// copied, or (for a whole chunk) written to the segment before Write
// returns. More bytes than declared is ErrSize; an I/O error sticks to the
// log. After an error the Appender can only be aborted.
func (a *Appender) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if a.n+int64(len(p)) > a.size {
		a.err = ErrSize
		return 0, a.err
	}
	a.n += int64(len(p))
	if !a.chunked {
		*a.buf = append(*a.buf, p...)
		return len(p), nil
	}
	total := len(p)
	chunk := a.l.opts.ChunkSize
	pre := recHeaderSize + chunkMetaSize
	for len(p) > 0 {
		if a.fill == 0 && len(p) >= chunk && !a.s2 {
			if err := a.writeChunk(nil, p[:chunk]); err != nil {
				return 0, err
			}
			p = p[chunk:]
			continue
		}
		k := copy((*a.buf)[pre+a.fill:pre+chunk], p)
		a.fill += k
		p = p[k:]
		if a.fill == chunk {
			if err := a.flushBuf(); err != nil {
				return 0, err
			}
		}
	}
	return total, nil
}

// flushBuf writes the buffered partial or full chunk.
func (a *Appender) flushBuf() error {
	pre := recHeaderSize + chunkMetaSize
	b := (*a.buf)[:pre+a.fill]
	err := a.writeChunk(b, b[pre:])
	a.fill = 0
	return err
}

// writeChunk writes one chunk record. When framed is non-nil it holds room
// for the record header and meta followed by data, and is written in one
// call; otherwise the header is written from scratch and data after it.
func (a *Appender) writeChunk(framed, data []byte) error {
	l := a.l
	stored, flags := data, byte(0)
	if a.s2 {
		a.cbuf = s2.Encode(a.cbuf[:cap(a.cbuf)], data)
		stored, flags, framed = a.cbuf, flagS2, nil
	}
	var scratch [recHeaderSize + chunkMetaSize]byte
	h := scratch[:]
	if framed != nil {
		h = framed[:recHeaderSize+chunkMetaSize]
	}
	crc := crc32c(stored)
	putRecHeader(h, recChunk, flags, chunkMetaSize+len(stored))
	meta := h[recHeaderSize:]
	le.PutUint32(meta[8:], uint32(len(a.refs)))
	le.PutUint32(meta[12:], crc)

	l.w.Lock()
	defer l.w.Unlock()
	if a.pinned == nil {
		a.txn = l.w.nextTxn
		l.w.nextTxn++
	} else if a.epoch != l.w.epoch {
		// The log rolled back after a write failure: earlier chunks may
		// be gone.
		a.err = l.rolledBackLocked()
		return a.err
	}
	le.PutUint64(meta[0:], a.txn)
	sealRecord(h, meta)
	var seg *segment
	var off int64
	var err error
	if framed != nil {
		seg, off, err = l.writeLocked(framed, nil)
	} else {
		seg, off, err = l.writeLocked(h, stored)
	}
	if err != nil {
		a.err = err
		return err
	}
	if a.pinned == nil {
		seg.live.Add(1)
		a.pinned = seg
		a.epoch = l.w.epoch
	}
	a.refs = append(a.refs, chunkRef{seg: seg.id, off: off + recHeaderSize + chunkMetaSize, n: uint32(len(stored)), crc: crc})
	return nil
}

// Commit makes the message durable and visible and returns its sequence
// and timestamp (unix ns, never less than the previous commit's). With
// SyncAlways it returns only after the record is fsynced (group commit).
// Fewer payload bytes than declared is ErrSize; DiscardNew limits give
// ErrMaxMsgs/ErrMaxBytes; the Checker's refusal is its *CheckError; I/O
// errors stick to the log. On error nothing of the message becomes
// visible. The Appender is finished either way.
func (a *Appender) Commit() (seq uint64, ts int64, err error) {
	o, seq, ts, err := a.begin(nil)
	if err != nil {
		return 0, 0, err
	}
	if err := a.l.await(o); err != nil {
		return 0, 0, err
	}
	return seq, ts, nil
}

// msgRecord finishes the single-record form: meta, subject and header in
// the buffer's prefix, the payload after (or compressed into tail). seq and
// ts are filled in under the write lock.
func (a *Appender) msgRecord() (rec, tail []byte) {
	b := *a.buf
	pre := recHeaderSize + msgMetaSize + len(a.subject) + len(a.hdr)
	payload := b[pre:]
	flags := byte(0)
	stored := payload
	if a.s2 {
		a.cbuf = s2.Encode(a.cbuf[:cap(a.cbuf)], payload)
		stored, flags = a.cbuf, flagS2
		rec, tail = b[:pre], stored
	} else {
		rec = b
	}
	putRecHeader(b, recMsg, flags, pre-recHeaderSize+len(stored))
	putMsgMeta(b[recHeaderSize:], msgMeta{crc: crc32c(stored), subjLen: len(a.subject), hdrLen: len(a.hdr), size: a.size})
	copy(b[recHeaderSize+msgMetaSize:], a.subject)
	copy(b[recHeaderSize+msgMetaSize+len(a.subject):], a.hdr)
	return rec, tail
}

// replacePayload makes body the payload of a single-record message (a
// Checker's View.SetPayload) and returns its record rebuilt.
func (a *Appender) replacePayload(body []byte) (rec, tail []byte) {
	pre := recHeaderSize + msgMetaSize + len(a.subject) + len(a.hdr)
	b := *a.buf
	if cap(b) < pre { // a header replaced by a longer one (View.SetHeader)
		b = make([]byte, pre, pre+len(body))
	}
	*a.buf = append(b[:pre], body...)
	a.size, a.n = int64(len(body)), int64(len(body))
	return a.msgRecord()
}

// commitRecord builds the commit record of a chunked message.
func (a *Appender) commitRecord() []byte {
	body := commitMetaSz + len(a.subject) + len(a.hdr) + chunkRefSize*len(a.refs)
	n := recHeaderSize + body
	if cap(a.cbuf) < n {
		a.cbuf = make([]byte, n)
	}
	b := a.cbuf[:n]
	flags := byte(0)
	if a.s2 {
		flags = flagS2 // all of its chunks are compressed
	}
	putRecHeader(b, recCommit, flags, body)
	putCommitMeta(b[recHeaderSize:], msgMeta{subjLen: len(a.subject), hdrLen: len(a.hdr), size: a.size, txn: a.txn, nchunks: len(a.refs)})
	p := recHeaderSize + commitMetaSz
	p += copy(b[p:], a.subject)
	p += copy(b[p:], a.hdr)
	for _, r := range a.refs {
		putChunkRef(b[p:], r)
		p += chunkRefSize
	}
	return b
}

// Abort abandons the message: nothing of it becomes visible, and its chunk
// records are reclaimed with their segments. Safe to call after Commit (a
// no-op then).
func (a *Appender) Abort() {
	if a.err == ErrClosed {
		return
	}
	a.finish()
}

// finish releases the appender's resources and closes it.
func (a *Appender) finish() {
	if a.pinned != nil {
		a.pinned.live.Add(-1)
		a.pinned = nil
	}
	if a.buf != nil {
		if cap(*a.buf) == a.l.bufCap() { // a pool buffer (a staged one may be its own)
			a.l.bufs.Put(a.buf)
		}
		a.buf = nil
	}
	a.refs = nil
	a.cbuf = nil
	a.err = ErrClosed
}

// AppendMsg stores a whole message in one call and returns its sequence
// and timestamp; see Append and Commit for the rules and errors. payload
// and hdr are not retained.
func (l *Log) AppendMsg(subject string, hdr, payload []byte) (uint64, int64, error) {
	a, err := l.Append(subject, hdr, int64(len(payload)))
	if err != nil {
		return 0, 0, err
	}
	if _, err := a.Write(payload); err != nil {
		a.Abort()
		return 0, 0, err
	}
	return a.Commit()
}

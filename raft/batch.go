package raft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

// Batched small publishes.
//
// A message of at most batchMax bytes does not travel as a chunk entry
// and a commit entry, each waited for in turn: Publish queues it, and one
// goroutine per shard proposes everything queued as one batch entry (kind
// 9) of at most a chunk's worth of payload, waits for it to be applied,
// and proposes what queued meanwhile. A publisher alone pays one raft
// round trip instead of two; many concurrent publishers share one entry,
// one leader fsync, one follower fsync and one apply batch, and the
// leader's receive queue sees one forwarded proposal instead of hundreds
// (a flood of them made Dragonboat drop incoming messages).
//
// Batch entry format (format):
//
//	9 batch  count u32 | count × (commit len u32 | commit entry (kind 2 or 6,
//	         Chunks 1) | data crc u32 | data len u32 | data)
//
// Each message is applied as its single chunk then its commit, exactly as
// the two entries would be, so a retried batch is deduplicated message by
// message (by message id). The result's Data is, per message,
// code u8 | value u64 | ts i64 | extra len u16 | extra.
const (
	kindBatch byte = 9
	// batchMax is the largest payload + header that goes through a batch.
	batchMax = 64 << 10
	// batchResultFixed is one message's result size without its extra.
	batchResultFixed = 1 + 8 + 8 + 2
)

// batchItem is one queued message and, once done is closed, its outcome.
type batchItem struct {
	c    log.Commit // Hdr and the payload are owned copies
	data []byte
	crc  uint32
	done chan struct{}
	res  sm.Result // this message's result (code, ts, extra), as errOf reads it
	err  error     // the batch proposal failed
}

// batchesInFlight is how many batch entries of one shard may be proposed
// and not yet applied at once: while one replicates and applies, the
// next fills.
const batchesInFlight = 4

// batcher queues a shard's small publishes for the proposing goroutines.
type batcher struct {
	// mu guards queue, running and idle.
	mu      sync.Mutex
	queue   []*batchItem
	running int // goroutines draining the queue
	idle    int // of those, how many are about to take from the queue
}

// publishSmall is Publish for a message of at most batchMax bytes.
func (s *StreamShard) publishSmall(ctx context.Context, m *Message) (uint64, int64, error) {
	id, err := s.h.newID()
	if err != nil {
		return 0, 0, err
	}
	it := &batchItem{data: make([]byte, m.Size), done: make(chan struct{})}
	if _, err := io.ReadFull(m.Body, it.data); err != nil {
		return 0, 0, fmt.Errorf("raft: read payload: %w", err)
	}
	it.crc = chunking.Checksum(it.data)
	it.c = log.Commit{ID: id, Subject: m.Subject, Hdr: append([]byte(nil), m.Hdr...), Size: m.Size, Chunks: 1,
		Digest: log.ChunkDigest(0, it.crc), CheckLastSeq: m.CheckLastSeq, LastSeq: m.LastSeq, Checks: m.Checks}
	b := &s.batch
	b.mu.Lock()
	b.queue = append(b.queue, it)
	if b.idle == 0 && b.running < batchesInFlight {
		b.running++
		b.idle++
		go s.drainBatches()
	}
	b.mu.Unlock()
	select {
	case <-it.done:
	case <-ctx.Done():
		return 0, 0, ctx.Err() // it may still be stored
	}
	if it.err != nil {
		return 0, 0, it.err
	}
	if err := errOf(it.res); err != nil {
		if errors.Is(err, ErrDuplicate) {
			return it.res.Value, 0, err
		}
		return 0, 0, err
	}
	return it.res.Value, int64(le.Uint64(it.res.Data[1:])), nil
}

// drainBatches proposes the queue as batch entries, one at a time, until
// it is empty. Up to batchesInFlight of them run at once; a new one starts
// only when every running one is waiting for its entry, so batches fill.
func (s *StreamShard) drainBatches() {
	b := &s.batch
	var cmd []byte
	for {
		b.mu.Lock()
		b.idle--
		n, bytes := 0, 0
		for n < len(b.queue) && (n == 0 || bytes+len(b.queue[n].data)+len(b.queue[n].c.Hdr) <= s.chunkSize) {
			bytes += len(b.queue[n].data) + len(b.queue[n].c.Hdr)
			n++
		}
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		items := append([]*batchItem(nil), b.queue[:n]...)
		clear(b.queue[:n])
		b.queue = b.queue[n:]
		if len(b.queue) == 0 {
			b.queue = nil
		}
		b.mu.Unlock()
		cmd = s.appendBatch(cmd[:0], items)
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		res, err := s.propose(ctx, cmd)
		cancel()
		if err == nil {
			err = splitBatchResult(res, items)
		}
		for _, it := range items {
			if err != nil {
				it.err = err
			}
			close(it.done)
		}
		b.mu.Lock()
		b.idle++
		b.mu.Unlock()
	}
}

// batchTimeout bounds one batch proposal, retries included.
const batchTimeout = time.Minute

// appendBatch encodes items as a batch entry, stamping them with the
// proposer's clock.
func (s *StreamShard) appendBatch(dst []byte, items []*batchItem) []byte {
	now := s.h.cfg.Now().UnixNano()
	dst = append(dst, kindBatch)
	dst = le.AppendUint32(dst, uint32(len(items)))
	for _, it := range items {
		it.c.Time = now
		at := len(dst)
		dst = le.AppendUint32(dst, 0)
		dst = appendCommit(dst, &it.c)
		le.PutUint32(dst[at:], uint32(len(dst)-at-4))
		dst = le.AppendUint32(dst, it.crc)
		dst = le.AppendUint32(dst, uint32(len(it.data)))
		dst = append(dst, it.data...)
	}
	return dst
}

// splitBatchResult hands each item its part of a batch entry's result.
func splitBatchResult(res sm.Result, items []*batchItem) error {
	d := res.Data
	if d[0] != codeOK || res.Value != uint64(len(items)) {
		return errOf(sm.Result{Data: d[:1]})
	}
	d = d[9:]
	for _, it := range items {
		if len(d) < batchResultFixed {
			return fmt.Errorf("%w: short batch result", ErrRejected)
		}
		xl := int(le.Uint16(d[17:]))
		if len(d) < batchResultFixed+xl {
			return fmt.Errorf("%w: short batch result", ErrRejected)
		}
		r := make([]byte, 9+xl)
		r[0] = d[0]
		copy(r[1:9], d[9:17])
		copy(r[9:], d[batchResultFixed:batchResultFixed+xl])
		it.res = sm.Result{Value: le.Uint64(d[1:]), Data: r}
		d = d[batchResultFixed+xl:]
	}
	return nil
}

// applyBatch applies a batch entry: each message's chunk, then its commit.
// It returns the entry's result (codeOK and the count, per-message results
// after the first 9 bytes), or codeBadEntry, or codeOther when the log
// failed.
func (s *streamSM) applyBatch(l *log.Log, cmd []byte) sm.Result {
	bad := sm.Result{Data: resultData(codeBadEntry, 0, "")}
	if len(cmd) < 5 {
		return bad
	}
	n := int(le.Uint32(cmd[1:]))
	p := cmd[5:]
	out := resultData(codeOK, 0, "")
	for i := 0; i < n; i++ {
		if len(p) < 4 {
			return bad
		}
		cl := int(le.Uint32(p))
		if len(p) < 4+cl+8 {
			return bad
		}
		c := &s.commit
		if err := parseCommit(p[4:4+cl], c); err != nil {
			return bad
		}
		q := p[4+cl:]
		crc, dl := le.Uint32(q), int(le.Uint32(q[4:]))
		if len(q) < 8+dl || c.Chunks != 1 {
			return bad
		}
		data := q[8 : 8+dl]
		p = q[8+dl:]
		var val uint64
		var ts int64
		var extra string
		code := s.check(l.ApplyChunk(c.ID, 0, data, crc))
		if code == codeOK {
			seq, t, err := l.ApplyCommit(c)
			var ce *log.CheckError
			if errors.As(err, &ce) {
				val, extra = ce.Seq, ce.MsgID
			} else {
				val, ts = seq, t
			}
			code = s.check(err)
		}
		c.Hdr = nil
		if code == codeOther {
			return sm.Result{Data: resultData(codeOther, 0, "")}
		}
		out = append(out, code)
		out = le.AppendUint64(out, val)
		out = le.AppendUint64(out, uint64(ts))
		out = le.AppendUint16(out, uint16(len(extra)))
		out = append(out, extra...)
	}
	if len(p) != 0 {
		return bad
	}
	return sm.Result{Value: uint64(n), Data: out}
}

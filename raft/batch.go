package raft

import (
	"fmt"
	"slices"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/log"
)

// Batch and group entries.
//
// Commit-bearing entries carry many messages (see pipeline.go): a batch
// entry (kind 9, written by earlier versions and still applied) holds
// small messages only, each its one chunk and its commit; a group entry
// (kind 10) holds those and the commits of large messages whose chunks
// came in chunk entries before it; what the pipeline writes is kind 11, a
// kind 10 body behind the pipeline's id and the group's sequence
// (committer.go).
//
// Batch and group entry format (format):
//
//	9 batch  count u32 | count × (commit len u32 | commit entry (kind 2 or 6,
//	         Chunks 1) | data crc u32 | data len u32 | data)
//	10 group count u32 | count × (commit len u32 | commit entry (kind 2 or 6) |
//	         data crc u32 | data len u32 | data), where data len 0xffffffff
//	         (noInline, crc 0, no data) is a commit of chunks applied from
//	         chunk entries, and any other is one inline chunk (Chunks 1)
//
// An inline message is applied as its single chunk then its commit, exactly
// as the two entries would be, so a retried entry is deduplicated message
// by message (by message id). The result's Data is, per message,
// code u8 | value u64 | ts i64 | extra len u16 | extra.
const (
	kindBatch byte = 9
	kindGroup byte = 10
	// batchMax is the largest payload + header that goes inline.
	batchMax = 64 << 10
	// noInline is the data length of a group member without inline data.
	noInline = 0xffffffff
	// batchResultFixed is one message's result size without its extra.
	batchResultFixed = 1 + 8 + 8 + 2
)

// appendGroup encodes items as group seq of pipeline pipe (a kind 11
// entry: see committer.go), stamping them with the proposer's clock
// (raised past each commit's earlier stamp).
func (s *StreamShard) appendGroup(dst []byte, pipe, seq, base uint64, items []*pubItem) []byte {
	now := s.h.cfg.Now().UnixNano()
	need := 1 + 3*8 + 4
	for _, it := range items {
		need += 4 + commitFixed + len(it.c.Subject) + len(it.c.Hdr) + 8 + len(it.data)
	}
	dst = slices.Grow(dst, need)
	dst = append(dst, kindGroupSeq)
	dst = le.AppendUint64(dst, pipe)
	dst = le.AppendUint64(dst, seq)
	dst = le.AppendUint64(dst, base)
	dst = le.AppendUint32(dst, uint32(len(items)))
	for _, it := range items {
		if it.c.Seq == 0 { // a mirror's copy keeps its origin's timestamp
			it.c.Time = max(it.c.Time, now)
		}
		at := len(dst)
		dst = le.AppendUint32(dst, 0)
		dst = appendCommit(dst, &it.c)
		le.PutUint32(dst[at:], uint32(len(dst)-at-4))
		if it.large {
			dst = le.AppendUint32(dst, 0)
			dst = le.AppendUint32(dst, noInline)
			continue
		}
		dst = le.AppendUint32(dst, it.crc)
		dst = le.AppendUint32(dst, uint32(len(it.data)))
		dst = append(dst, it.data...)
	}
	return dst
}

// splitBatchResult hands each item its part of a batch entry's result.
func splitBatchResult(res sm.Result, items []*pubItem) error {
	d := res.Data
	if d[0] != codeOK || res.Value != uint64(len(items)) {
		return errOf(sm.Result{Data: d[:1]})
	}
	d = d[9:]
	// One buffer for every item's result: it is (9 + extra) for each item
	// where the entry's result has (batchResultFixed + extra).
	buf := make([]byte, 0, len(d)-len(items)*(batchResultFixed-9))
	for _, it := range items {
		if len(d) < batchResultFixed {
			return fmt.Errorf("%w: short batch result", ErrRejected)
		}
		xl := int(le.Uint16(d[17:]))
		if len(d) < batchResultFixed+xl || cap(buf)-len(buf) < 9+xl {
			return fmt.Errorf("%w: short batch result", ErrRejected)
		}
		r := buf[len(buf) : len(buf)+9+xl : len(buf)+9+xl]
		buf = buf[:len(buf)+9+xl]
		r[0] = d[0]
		copy(r[1:9], d[9:17])
		copy(r[9:], d[batchResultFixed:batchResultFixed+xl])
		it.res = sm.Result{Value: le.Uint64(d[1:]), Data: r}
		d = d[batchResultFixed+xl:]
	}
	return nil
}

// applyBatch applies batch or group entry index: each inline message (its
// commit record pointing at the data inside the entry's own record), and a
// group's noInline member as its commit alone.
// It returns the entry's result (codeOK and the count, per-message results
// after the first 9 bytes), or codeBadEntry, or codeOther when the log
// failed.
func (s *streamSM) applyBatch(l *log.Log, index uint64, cmd []byte) sm.Result {
	if cmd[0] == kindAtomic {
		return s.applyAtomic(l, index, cmd)
	}
	bad := sm.Result{Data: resultData(codeBadEntry, 0, nil)}
	body := 1
	if cmd[0] == kindGroupSeq {
		if len(cmd) < groupSeqSize {
			return bad
		}
		if !s.pipes.accept(le.Uint64(cmd[1:]), le.Uint64(cmd[9:]), le.Uint64(cmd[17:]), index) {
			return sm.Result{Data: resultData(codeOutOfOrder, 0, nil)}
		}
		body = groupSeqSize
	}
	if len(cmd) < body+4 {
		return bad
	}
	n := int(le.Uint32(cmd[body:]))
	p := cmd[body+4:]
	out := resultData(codeOK, 0, nil)
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
		crc, dl := le.Uint32(q), le.Uint32(q[4:])
		inline := dl != noInline || cmd[0] == kindBatch
		if !inline {
			dl = 0
		}
		if uint64(len(q)) < 8+uint64(dl) || (inline && c.Chunks != 1) {
			return bad
		}
		data := q[8 : 8+dl]
		dataOff := len(cmd) - len(q) + 8
		p = q[8+dl:]
		var seq uint64
		var ts int64
		var err error
		if inline {
			// The commit record points at the data in this entry's record.
			seq, ts, err = l.ApplyInlineAt(c, data, crc, entryRef(index, cmd, dataOff))
		} else {
			seq, ts, err = l.ApplyCommit(c)
		}
		code := s.check(err)
		c.Hdr = nil
		if code == codeOther {
			return sm.Result{Data: resultData(codeOther, 0, nil)}
		}
		val, extra := outcome(code, seq, err)
		if code != codeOK {
			ts = 0
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

package raft

import (
	"fmt"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

// Atomic batches (JetStream's ADR-50 batches on a replicated stream).
//
// SubmitBatch queues a batch of messages as ONE item of the ordered
// pipeline. Its large messages (and those past the batch's inline budget)
// are chunked by the chunker as any large message is, a chunk at a time
// (pending data on every replica, invisible without a commit); when all
// of them are applied here the committer proposes the batch alone as an
// atomic group entry:
//
//	12 atomic  a kind 11 group (pipeline id | seq | base | count | members),
//	           applied all or nothing (log.ApplyBatch)
//
// Every replica applies the entry in one Update, with log.ApplyBatch: the
// batch's messages are decided in order by the publish rules and written
// and made visible in one step, or refused whole (the chunks dropped). A
// crash inside that apply leaves records after the last applied marker,
// which recovery drops: the entry is applied again, whole. A retried
// entry that had committed is answered with the original sequences
// (ApplyBatch's ErrDuplicate), so a leader change after the proposal
// never stores the batch twice. A batch that fails before it is applied
// (chunking failed, the pipeline gave up) has its chunks aborted.
//
// The result is one for the batch: code u8 | ts i64 (Data) and the last
// sequence (Value), or the refusal as a single commit's result carries it.
const kindAtomic byte = 12

// SubmitBatch queues msgs as one atomic batch after every message
// submitted to this shard before it, and returns at once (as Submit).
// done is called once with the batch's last sequence and timestamp once a
// quorum has it and this replica applied it, or with the error that
// refused it (the rules' *log.CheckError for a refusal; nothing of the
// batch is then stored). A message whose Data is nil is read from Body
// later, a chunk at a time. Hdrs are copied.
func (s *StreamShard) SubmitBatch(msgs []*Message, done func(seq uint64, ts int64, err error)) {
	if len(msgs) == 0 || len(msgs) > groupMaxItems {
		done(0, 0, fmt.Errorf("%w: atomic batch of %d messages", ErrRejected, len(msgs)))
		return
	}
	b := &pubItem{done: done, atomic: true}
	inline := int64(0)
	// The entry stays about one chunk: small bodies go inline while the
	// entry's commits and inline bodies are within budget (the commits,
	// subjects and headers, always travel in it).
	budget := int64(s.chunkSize / 2)
	for _, m := range msgs {
		id, err := s.h.newID()
		if err != nil {
			done(0, 0, err)
			return
		}
		it := &pubItem{parent: b, size: m.Size}
		it.c = log.Commit{ID: id, Subject: m.Subject, Hdr: append([]byte(nil), m.Hdr...), Size: m.Size}
		inline += int64(commitFixed + len(m.Subject) + len(m.Hdr)) // in the entry whatever the body
		if m.Size == 0 && m.Data == nil {
			m.Data = []byte{}
		}
		small := m.Size == 0 || m.Data != nil && m.Size+int64(len(m.Hdr)) <= batchMax && m.Size <= int64(s.chunkSize) &&
			inline+m.Size <= budget
		switch {
		case small:
			if int64(len(m.Data)) != m.Size {
				done(0, 0, fmt.Errorf("%w: payload of %d bytes, size %d", ErrRejected, len(m.Data), m.Size))
				return
			}
			it.data = m.Data
			it.crc = chunking.Checksum(it.data)
			it.c.Chunks, it.c.Digest = 1, log.ChunkDigest(0, it.crc)
			it.ready = true
			inline += m.Size
			b.mem += m.Size
		case m.Data != nil:
			it.large, it.body = true, bytesReader(m.Data)
			b.mem += int64(len(m.Data))
		default:
			it.large, it.body = true, m.Body
		}
		if it.large {
			b.waiting++
		}
		b.subs = append(b.subs, it)
	}
	b.ready = b.waiting == 0
	p := &s.pipe
	p.memBytes.Add(b.mem)
	p.mu.Lock()
	p.queue = append(p.queue, b)
	for _, it := range b.subs {
		if it.large {
			p.chunks = append(p.chunks, it)
		}
	}
	if b.waiting > 0 && !p.chunking {
		p.chunking = true
		go s.chunkLoop()
	}
	if !p.committing {
		p.committing = true
		go s.commitLoop()
	} else if b.ready {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

// subErr is the first chunking failure among the batch's messages.
func (it *pubItem) subErr() error {
	for _, m := range it.subs {
		if m.err != nil {
			return m.err
		}
	}
	return nil
}

// finishAtomic answers batch b with err or its entry's result res; a
// batch that is not stored has its chunks aborted.
func (s *StreamShard) finishAtomic(b *pubItem, err error, res sm.Result) {
	var seq uint64
	var ts int64
	if err == nil {
		if err = errOf(res); err == nil {
			seq, ts = res.Value, int64(le.Uint64(res.Data[1:]))
		}
	}
	for _, it := range b.subs {
		if it.cancel != nil {
			it.cancel()
		}
		if err != nil && it.large {
			s.abort(it.c.ID)
		}
		it.body, it.data = nil, nil
	}
	b.subs = nil
	s.finish(b, seq, ts, err)
}

// applyAtomic applies atomic group entry index (kind 12) with
// log.ApplyBatch.
func (s *streamSM) applyAtomic(l *log.Log, index uint64, cmd []byte) sm.Result {
	bad := sm.Result{Data: resultData(codeBadEntry, 0, nil)}
	if len(cmd) < groupSeqSize+4 {
		return bad
	}
	if !s.pipes.accept(le.Uint64(cmd[1:]), le.Uint64(cmd[9:]), le.Uint64(cmd[17:]), index) {
		return sm.Result{Data: resultData(codeOutOfOrder, 0, nil)}
	}
	n := int(le.Uint32(cmd[groupSeqSize:]))
	if n == 0 || n > groupMaxItems {
		return bad
	}
	p := cmd[groupSeqSize+4:]
	msgs := make([]log.BatchMsg, n)
	for i := range msgs {
		if len(p) < 4 {
			return bad
		}
		cl := int(le.Uint32(p))
		if len(p) < 4+cl+8 {
			return bad
		}
		m := &msgs[i]
		if err := parseCommit(p[4:4+cl], &m.C); err != nil {
			return bad
		}
		q := p[4+cl:]
		crc, dl := le.Uint32(q), le.Uint32(q[4:])
		m.Inline = dl != noInline
		if !m.Inline {
			dl = 0
		}
		if uint64(len(q)) < 8+uint64(dl) || (m.Inline && m.C.Chunks != 1) {
			return bad
		}
		m.Data, m.CRC = q[8:8+dl], crc
		m.At = entryRef(index, cmd, len(cmd)-len(q)+8)
		p = q[8+dl:]
	}
	if len(p) != 0 {
		return bad
	}
	_, last, ts, err := l.ApplyBatch(msgs)
	code := s.check(err)
	if code == codeOther {
		return sm.Result{Data: resultData(codeOther, 0, nil)}
	}
	val, extra := outcome(code, last, err)
	if code != codeOK {
		ts = 0
	}
	return sm.Result{Value: val, Data: resultData(code, ts, extra)}
}

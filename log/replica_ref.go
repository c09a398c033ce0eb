package log

import (
	"fmt"
)

// Applying without copying: a replica log that stores the raft entry a
// payload came in (raftlog.go) records where the payload lies inside that
// entry's record instead of writing it again.

// ApplyChunkAt is ApplyChunk for a chunk whose bytes, data, are also the
// cmd bytes of a raft entry this log stores, at at: the chunk is recorded
// as a chunk reference (36 bytes) pointing into the entry's record, not
// copied. The caller has checked data against crc (the chunk header's
// checksum, which reads of the message check again). When the log does
// not hold the entry as at describes it, the chunk is copied as
// ApplyChunk does. Same results and errors as ApplyChunk; data is not
// retained.
func (l *Log) ApplyChunkAt(id uint64, index uint32, data []byte, crc uint32, at EntryRef) error {
	ref, seg, ok := l.entryRef(at, len(data), crc)
	if !ok {
		return l.ApplyChunk(id, index, data, crc)
	}
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return err
	}
	if index >= maxReplicaChunks || len(data) > maxChunkSize {
		return fmt.Errorf("%w: chunk %d of %d bytes", ErrBadRequest, index, len(data))
	}
	p := l.pendingForLocked(id, index)
	if p == nil {
		return nil
	}
	var b [recHeaderSize + chunkRefBodySize]byte
	putRecHeader(b[:], recChunkRef, 0, chunkRefBodySize)
	body := b[recHeaderSize:]
	le.PutUint64(body[0:], id)
	le.PutUint32(body[8:], index)
	le.PutUint32(body[12:], crc)
	le.PutUint64(body[16:], ref.seg)
	le.PutUint64(body[24:], uint64(ref.off))
	le.PutUint32(body[32:], ref.n)
	sealRecord(b[:], body)
	l.w.Lock()
	_, _, err := l.writeLocked(b[:], nil)
	l.w.Unlock()
	if err != nil {
		return err
	}
	p.hold(index, ref, seg)
	return nil
}

// ApplyInlineAt is ApplyInline for a message whose payload, data, is also
// part of the cmd of a raft entry this log stores, at at: the commit
// record points into the entry's record and nothing else is written (no
// chunk record). Falls back to ApplyInline when the log does not hold the
// entry as at describes it. Same results and errors as ApplyInline; data
// is not retained.
func (l *Log) ApplyInlineAt(c *Commit, data []byte, crc uint32, at EntryRef) (seq uint64, ts int64, err error) {
	ref, seg, ok := l.entryRef(at, len(data), crc)
	if !ok {
		return l.ApplyInline(c, data, crc)
	}
	rs := &l.rep
	rs.mu.Lock()
	if err := l.replicaLocked(); err != nil {
		rs.mu.Unlock()
		return 0, 0, err
	}
	if rs.mu.pending[c.ID] != nil {
		// A chunk of this message is already held: take the two-step path.
		rs.mu.Unlock()
		if err := l.ApplyChunkAt(c.ID, 0, data, crc, at); err != nil {
			return 0, 0, err
		}
		return l.ApplyCommit(c)
	}
	defer rs.mu.Unlock()
	if c.Subject == "" || len(c.Subject) > 0xffff || int64(len(c.Hdr)) > 1<<31 {
		return 0, 0, fmt.Errorf("%w: empty or oversized subject or header", ErrBadRequest)
	}
	if len(data) > maxChunkSize {
		return 0, 0, fmt.Errorf("%w: chunk of %d bytes", ErrBadRequest, len(data))
	}
	if crc32c(data) != crc {
		return 0, 0, fmt.Errorf("%w: chunk 0 of message %d", ErrCorrupt, c.ID)
	}
	l.loadIDsLocked()
	if seq, dup := l.dupLocked(c.ID); dup {
		return seq, 0, ErrDuplicate
	}
	// The message is pending for the length of this call: the commit path
	// checks and drops it like any other.
	p := l.newPendingLocked()
	p.have = append(p.have[:0], true)
	p.refs = append(p.refs[:0], ref)
	p.n, p.bytes, p.inline = 1, int64(len(data)), true
	seg.live.Add(1)
	p.first = seg
	rs.mu.pending[c.ID] = p
	return l.applyCommitLocked(c)
}

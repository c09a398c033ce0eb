package log

import (
	"fmt"
	"slices"
)

// ApplyInline applies a message whose payload is one chunk carried with its
// commit (a replicated stream's small message): exactly what ApplyChunk(
// c.ID, 0, data, crc) then ApplyCommit(c) do, with the same results and
// errors, but the chunk record and the commit record reach the segment in
// one write, and a message refused by a check writes nothing. data is not
// retained.
func (l *Log) ApplyInline(c *Commit, data []byte, crc uint32) (seq uint64, ts int64, err error) {
	rs := &l.rep
	rs.mu.Lock()
	if err := l.replicaLocked(); err != nil {
		rs.mu.Unlock()
		return 0, 0, err
	}
	if rs.mu.pending[c.ID] != nil {
		// A chunk of this message is already held: take the two-step path.
		rs.mu.Unlock()
		if err := l.ApplyChunk(c.ID, 0, data, crc); err != nil {
			return 0, 0, err
		}
		return l.ApplyCommit(c)
	}
	defer rs.mu.Unlock()
	if len(data) > maxChunkSize {
		return 0, 0, fmt.Errorf("%w: chunk of %d bytes", ErrBadRequest, len(data))
	}
	if crc32c(data) != crc {
		return 0, 0, fmt.Errorf("%w: chunk 0 of message %d", ErrCorrupt, c.ID)
	}
	if c.Subject == "" || len(c.Subject) > 0xffff || int64(len(c.Hdr)) > 1<<31 {
		return 0, 0, fmt.Errorf("%w: empty or oversized subject or header", ErrBadRequest)
	}
	l.loadIDsLocked()
	if seq, dup := l.dupLocked(c.ID); dup {
		return seq, 0, ErrDuplicate
	}
	if c.Chunks != 1 || c.Size != int64(len(data)) || c.Digest != ChunkDigest(0, crc) {
		return 0, 0, fmt.Errorf("%w: message %d has 1 of %d chunks, %d of %d bytes", ErrCorrupt, c.ID, c.Chunks, len(data), c.Size)
	}
	b := l.inlineChunkLockedCRC(c.ID, data, crc)
	p := l.newPendingLocked()
	p.have = append(p.have[:0], true)
	p.refs = append(p.refs[:0], chunkRef{n: uint32(len(data)), crc: crc})
	p.n, p.bytes = 1, int64(len(data))
	return l.commitLocked(c, p, b)
}

// inlineChunkLocked builds the sealed chunk record of an inline message's
// one chunk, data, in rep.mu.inline; writeInlineLocked appends the commit.
// rep.mu held.
func (l *Log) inlineChunkLocked(id uint64, data []byte) []byte {
	return l.inlineChunkLockedCRC(id, data, crc32c(data))
}

// inlineChunkLockedCRC is inlineChunkLocked with data's CRC-32C known.
func (l *Log) inlineChunkLockedCRC(id uint64, data []byte, crc uint32) []byte {
	rs := &l.rep
	n := recHeaderSize + chunkMetaSize + len(data)
	b := slices.Grow(rs.mu.inline[:0], n)[:n]
	putRecHeader(b, recChunk, 0, chunkMetaSize+len(data))
	meta := b[recHeaderSize : recHeaderSize+chunkMetaSize]
	le.PutUint64(meta[0:], id)
	le.PutUint32(meta[8:], 0)
	le.PutUint32(meta[12:], crc)
	copy(b[recHeaderSize+chunkMetaSize:], data)
	sealRecord(b[:recHeaderSize+chunkMetaSize], meta)
	rs.mu.inline = b
	return b
}

// writeInlineLocked writes chunk (a chunk record) and the commit record of
// c as seq, ts in one write, both in the active segment (rolled first when
// they would not fit), fills p's chunk location and pins the segment for
// it. It returns the segment and the commit record's offset; the commit
// record is left in rep.mu.buf. rep.mu and l.w held.
func (l *Log) writeInlineLocked(c *Commit, p *pendingMsg, chunk []byte, seq uint64, ts int64) (*segment, int64, error) {
	rs := &l.rep
	n := int64(len(chunk)) + recHeaderSize + commitMetaSz + int64(len(c.Subject)+len(c.Hdr)) + chunkRefSize
	if l.w.off+n > l.opts.SegmentSize && l.w.off > recHeaderSize+segBodySize {
		if err := l.createSegmentLocked(); err != nil {
			return nil, 0, err
		}
	}
	seg, off := l.w.active, l.w.off
	p.refs[0].seg = seg.id
	p.refs[0].off = off + recHeaderSize + chunkMetaSize
	rec := l.commitRecordLocked(c, p, seq, ts)
	all := append(chunk, rec...)
	rs.mu.inline = all
	wseg, woff, err := l.writeLocked(all, nil)
	if err != nil {
		return nil, 0, err
	}
	if wseg != seg || woff != off {
		return nil, 0, l.failLocked(fmt.Errorf("log: inline write landed at segment %d offset %d, not %d/%d", wseg.id, woff, seg.id, off))
	}
	seg.live.Add(1)
	p.first = seg
	return seg, off + int64(len(chunk)), nil
}

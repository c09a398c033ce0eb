package log

import (
	"cmp"
	"fmt"
	"slices"
)

// Recovery of a replica log (Options.Replica).
//
// The applied index Open reports is that of the last applied marker in the
// valid prefix of the log: the newest segment is cut at its first record
// that does not verify (a torn tail: nothing after it was fsynced, since an
// fsync makes every earlier byte durable, and no acknowledged raft entry
// lies past it), and a sealed segment was fsynced whole when it was
// sealed. Every record before that marker is therefore intact, the entries
// the marker's commits refer to included (an entry is saved before it is
// applied). Entry, state and reset records are replayed wherever they lie:
// they are the raft log.
//
// The apply side's records (commit, chunk reference, delete, purge) count
// only when a marker follows them: replay stages them and applies them,
// in order, at the next marker. Those after the last marker (a batch whose
// marker never reached the disk) are dropped, and raft applies the entries
// after the marker again, which writes their records again. So that a
// later recovery does not count the first copies with the next marker,
// Open then writes a void record (type 13, the applied index u64): the
// staged records before it are dropped. (Re-applying is deterministic, but
// not every record is idempotent over a state that already has later
// effects: a purge that keeps the last n messages is not.)
//
// Segment headers of replica logs carry the last sequence and timestamp of
// the last applied marker written before the segment was created (not the
// log's current ones): a roll fsyncs the segment before, so that marker is
// durable, and no recovery can find a commit of a later batch below a
// segment's floor.

// stagedRec is an apply-side record waiting for its marker.
type stagedRec struct {
	h    recHeader
	seg  *segment
	off  int64
	body []byte // a copy (of a chunk record, its meta only)
}

// replayReplicaLocked replays a record that only replica logs have, or
// stages one of the apply side: it reports whether the record is dealt
// with (replayRecordLocked then does nothing more).
func (l *Log) replayReplicaLocked(r *replay, s *segment, off int64, h recHeader, body []byte) bool {
	rf := &l.rf
	switch h.typ {
	case recSegment:
		if v := le.Uint32(body[8:]); string(body[:8]) != segMagic || v != segVersionRaft {
			r.err = fmt.Errorf("%w: segment %s has format version %d, not %d", ErrOldLayout, s.path, v, segVersionRaft)
			return true
		}
		return false
	case recEntry:
		rf.mu.Lock()
		rf.noteEntryLocked(le.Uint64(body), entryLoc{seg: s, off: off, term: le.Uint64(body[8:]), n: h.len - entryMetaSize})
		rf.mu.Unlock()
		return true
	case recReset:
		rf.mu.Lock()
		rf.resetLocked(le.Uint64(body))
		rf.mu.Unlock()
		return true
	case recState:
		rf.mu.Lock()
		rf.mu.state = RaftState{Term: le.Uint64(body), Vote: le.Uint64(body[8:]), Commit: le.Uint64(body[16:])}
		rf.mu.has = true
		rf.mu.Unlock()
		rf.stateSeg.Store(s.id)
		return true
	case recVoid:
		clear(r.staged)
		r.staged = r.staged[:0]
		return true
	case recApplied:
		for _, sr := range r.staged {
			l.replayOneLocked(r, sr.seg, sr.off, sr.h, sr.body)
		}
		clear(r.staged)
		r.staged = r.staged[:0]
		rs := &l.rep
		rs.mu.applied = le.Uint64(body)
		rs.mu.markerSeg, rs.mu.markerEnd = s.id, off+recHeaderSize+int64(h.len)
		rf.markSeg.Store(s.id)
		n := int(le.Uint32(body[appliedMetaSize-4:]))
		rs.mu.restore = rs.mu.restore[:0]
		for i := range n {
			rs.mu.restore = append(rs.mu.restore, le.Uint64(body[appliedMetaSize+8*i:]))
		}
		rs.mu.state = append(rs.mu.state[:0], body[appliedMetaSize+8*n+4:]...)
		return true
	case recChunkRef:
		r.staged = append(r.staged, stagedRec{h: h, seg: s, off: off, body: append([]byte(nil), body...)})
		return true
	case recChunk:
		r.staged = append(r.staged, stagedRec{h: h, seg: s, off: off, body: append([]byte(nil), body[:chunkMetaSize]...)})
		return true
	case recMsg, recCommit, recDelete, recPurge, recSkip:
		r.staged = append(r.staged, stagedRec{h: h, seg: s, off: off, body: append([]byte(nil), body...)})
		return true
	}
	return false
}

// replayChunkRefLocked notes a chunk reference (a staged record whose
// marker came).
func (l *Log) replayChunkRefLocked(r *replay, body []byte) {
	ref := chunkRef{seg: le.Uint64(body[16:]), off: int64(le.Uint64(body[24:])), n: le.Uint32(body[32:]), crc: le.Uint32(body[12:])}
	r.chunks[chunkKey{ref.seg, ref.off}] = chunkInfo{txn: le.Uint64(body), index: le.Uint32(body[8:]), n: ref.n, crc: ref.crc}
}

// writeVoidLocked writes the void record Open owes after a cut batch
// (see above). l.w held.
func (l *Log) writeVoidLocked() error {
	var b [recHeaderSize + voidBodySize]byte
	putRecHeader(b[:], recVoid, 0, voidBodySize)
	le.PutUint64(b[recHeaderSize:], l.rep.mu.applied)
	sealRecord(b[:], b[recHeaderSize:])
	_, _, err := l.writeLocked(b[:], nil)
	return err
}

// restorePendingLocked rebuilds the messages the last marker listed as
// pending from the chunk records recovery left uncommitted, and pins their
// segments. Called at the end of recovery, before old segments are dropped.
func (l *Log) restorePendingLocked(r *replay) {
	rs := &l.rep
	rs.mu.pending = make(map[uint64]*pendingMsg, len(rs.mu.restore))
	if len(rs.mu.restore) == 0 {
		return
	}
	for _, id := range rs.mu.restore {
		rs.mu.pending[id] = &pendingMsg{}
	}
	type loc struct {
		k chunkKey
		c chunkInfo
	}
	var found []loc
	for k, c := range r.chunks {
		if _, ok := rs.mu.pending[c.txn]; ok {
			found = append(found, loc{k, c})
		}
	}
	// File order, so the first chunk seen of a message is its earliest.
	slices.SortFunc(found, func(a, b loc) int {
		if c := cmp.Compare(a.k.seg, b.k.seg); c != 0 {
			return c
		}
		return cmp.Compare(a.k.off, b.k.off)
	})
	for _, f := range found {
		p := rs.mu.pending[f.c.txn]
		i := f.c.index
		if i >= maxReplicaChunks || (int(i) < len(p.have) && p.have[i]) {
			continue
		}
		var seg *segment
		if p.first == nil {
			seg = findSeg(l.mu.segs, f.k.seg)
		}
		p.hold(i, chunkRef{seg: f.k.seg, off: f.k.off, n: f.c.n, crc: f.c.crc}, seg)
	}
	rs.mu.restore = nil
}

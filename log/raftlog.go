package log

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// The raft side of a replica log.
//
// A replica log (Options.Replica) is also its raft group's log: the
// entries raft saves (SaveRaft) are records of the stream's own segments,
// so an entry's bytes are written once, and a message applied from an
// entry refers to its payload where the entry record holds it (replica.go:
// ApplyChunkAt, ApplyInlineAt) instead of copying it. Records of the raft
// side (format version 2):
//
//	9  entry    index u64 | term u64 | key u64 | client u64 | series u64 |
//	            responded to u64 | type u8 | 3 zero bytes | cmd crc u32 | cmd
//	10 state    term u64 | vote u64 | commit u64
//	11 reset    index u64: every entry record before this one is void and
//	            the raft log goes on after index (a snapshot was installed)
//	12 chunkref id u64 | index u32 | crc u32 | segment u64 | offset u64 |
//	            len u32: chunk index of pending message id is len bytes at
//	            offset of segment (inside an entry record)
//
// The record crc of an entry covers its meta; the cmd has its own CRC-32C,
// like a chunk's payload. Entries are a contiguous run: an entry record for
// index i voids every entry at or after i written before it (raft replaced
// a follower's uncommitted tail), so recovery, like the writer, keeps for
// each index the last record written. The newest state record is the
// state.
//
// Durability: SaveRaft writes its records and fsyncs the active segment
// once before it returns (a sealed segment was fsynced when it was
// sealed). Everything written before that fsync is durable with it,
// including the apply side's records (commit records, chunk references,
// applied markers), which are written without an fsync of their own.
//
// Space: a segment is removed from the front when no live message has a
// record in it (as in any log) and it holds no entry above the raft floor
// (SetRaftFloor: raft has compacted its log up to there); the segments
// holding the newest state record and the last applied marker are kept.
//
// Memory: one entryLoc (32 bytes) per stored entry above the floor.

// RaftEntry is one raft log entry as a replica log stores it: Dragonboat's
// entry fields, the log does not interpret them.
type RaftEntry struct {
	Index, Term uint64
	Type        uint8
	Key         uint64
	ClientID    uint64
	SeriesID    uint64
	RespondedTo uint64
	Cmd         []byte
}

// RaftState is raft's persistent hard state.
type RaftState struct {
	Term, Vote, Commit uint64
}

// ErrOldLayout: a replica log's directory holds segments of an earlier
// format (version 1: raft entries lived in Dragonboat's own store).
var ErrOldLayout = errors.New("log: replica segments of an earlier format")

// entryLoc is where a stored entry's record is.
type entryLoc struct {
	seg  *segment
	off  int64 // record offset in seg
	term uint64
	n    uint32 // cmd length
}

// raftLog is a replica log's raft index (Log.rf).
type raftLog struct {
	// mu guards the fields below. It is a leaf lock: taken under l.w,
	// l.mu and rep.mu, it takes none.
	mu struct {
		sync.Mutex
		ents  []entryLoc // ents[i] is entry first+i
		first uint64     // index of ents[0] (when empty: of the next entry, 0 unknown)
		state RaftState
		has   bool // a state record exists
	}
	// floor: entries at or below it are no longer needed by raft.
	floor atomic.Uint64
	// stateSeg and markSeg are the ids of the segments holding the newest
	// state record and the last applied marker (0: none): kept.
	stateSeg, markSeg atomic.Uint64
	// hdr is the entry record header scratch (l.w held).
	hdr [recHeaderSize + entryMetaSize]byte
}

// noteEntryLocked records that entry index's record is at loc, voiding
// every entry at or after index stored before. rf.mu held.
func (rf *raftLog) noteEntryLocked(index uint64, loc entryLoc) {
	m := &rf.mu
	next := m.first + uint64(len(m.ents))
	switch {
	case len(m.ents) > 0 && index >= m.first && index <= next:
		m.ents = m.ents[:index-m.first]
	default:
		m.ents = m.ents[:0]
		m.first = index
	}
	m.ents = append(m.ents, loc)
	for {
		cur := loc.seg.maxEntry.Load()
		if index <= cur || loc.seg.maxEntry.CompareAndSwap(cur, index) {
			break
		}
	}
}

// resetLocked voids every stored entry: the log goes on after index.
// rf.mu held.
func (rf *raftLog) resetLocked(index uint64) {
	rf.mu.ents = rf.mu.ents[:0]
	rf.mu.first = index + 1
}

// SaveRaft stores, in this order: when reset > 0 a reset record (every
// entry stored so far is void, the log goes on after index reset: raft
// installed a snapshot), the entries (a contiguous run; the first voids
// any stored entry at or after its index), and st when not nil. It returns
// once they are durable: one fsync of the active segment (with SyncInterval,
// once they are written: the interval flusher fsyncs them, as it does R1
// messages, so a power loss can take the last interval). ents' Cmd slices
// are not retained. Errors: ErrNotReplica, ErrBadRequest (a gap in ents),
// ErrClosed, the sticky write error (the log must be reopened).
func (l *Log) SaveRaft(reset uint64, ents []RaftEntry, st *RaftState) error {
	if !l.opts.Replica {
		return ErrNotReplica
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			return fmt.Errorf("%w: raft entries %d then %d", ErrBadRequest, ents[i-1].Index, ents[i].Index)
		}
	}
	l.w.Lock()
	err := l.saveRaftLocked(reset, ents, st)
	if err == nil {
		err = l.flushPendLocked()
	}
	seg := l.w.active
	l.w.Unlock()
	if err != nil || l.opts.Sync == SyncInterval {
		return err
	}
	return l.syncSegment(seg)
}

// saveRaftLocked writes SaveRaft's records. l.w held.
func (l *Log) saveRaftLocked(reset uint64, ents []RaftEntry, st *RaftState) error {
	if err := l.writableLocked(); err != nil {
		return err
	}
	rf := &l.rf
	if reset > 0 {
		var b [recHeaderSize + resetBodySize]byte
		putRecHeader(b[:], recReset, 0, resetBodySize)
		le.PutUint64(b[recHeaderSize:], reset)
		sealRecord(b[:], b[recHeaderSize:])
		if _, _, err := l.writeLocked(b[:], nil); err != nil {
			return err
		}
		rf.mu.Lock()
		rf.resetLocked(reset)
		rf.mu.Unlock()
	}
	for i := range ents {
		e := &ents[i]
		h := rf.hdr[:]
		putRecHeader(h, recEntry, 0, entryMetaSize+len(e.Cmd))
		m := h[recHeaderSize:]
		le.PutUint64(m[0:], e.Index)
		le.PutUint64(m[8:], e.Term)
		le.PutUint64(m[16:], e.Key)
		le.PutUint64(m[24:], e.ClientID)
		le.PutUint64(m[32:], e.SeriesID)
		le.PutUint64(m[40:], e.RespondedTo)
		m[48], m[49], m[50], m[51] = e.Type, 0, 0, 0
		le.PutUint32(m[52:], crc32c(e.Cmd))
		sealRecord(h, m)
		seg, off, err := l.writeLocked(h, e.Cmd)
		if err != nil {
			return err
		}
		rf.mu.Lock()
		rf.noteEntryLocked(e.Index, entryLoc{seg: seg, off: off, term: e.Term, n: uint32(len(e.Cmd))})
		rf.mu.Unlock()
	}
	if st != nil {
		var b [recHeaderSize + stateBodySize]byte
		putRecHeader(b[:], recState, 0, stateBodySize)
		le.PutUint64(b[recHeaderSize:], st.Term)
		le.PutUint64(b[recHeaderSize+8:], st.Vote)
		le.PutUint64(b[recHeaderSize+16:], st.Commit)
		sealRecord(b[:], b[recHeaderSize:])
		seg, _, err := l.writeLocked(b[:], nil)
		if err != nil {
			return err
		}
		rf.mu.Lock()
		rf.mu.state, rf.mu.has = *st, true
		rf.mu.Unlock()
		rf.stateSeg.Store(seg.id)
	}
	return nil
}

// syncSegment fsyncs seg unless a roll has sealed it since (which synced
// it). A failure sticks.
func (l *Log) syncSegment(seg *segment) error {
	if seg != l.activeSeg.Load() {
		return nil
	}
	if err := seg.f.Sync(); err != nil {
		l.w.Lock()
		defer l.w.Unlock()
		if seg == l.w.active {
			return l.failLocked(fmt.Errorf("log: sync segment %d: %w", seg.id, err))
		}
	}
	return nil
}

// Sync makes everything written so far durable (one fsync of the active
// segment): for a replica log, the apply side's records, which the Apply
// methods and MarkApplied write without one.
func (l *Log) Sync() error {
	l.w.Lock()
	if l.w.closed {
		l.w.Unlock()
		return ErrClosed
	}
	err := l.flushPendLocked()
	if err == nil {
		err = l.sticky()
	}
	seg := l.w.active
	l.w.Unlock()
	if err != nil {
		return err
	}
	return l.syncSegment(seg)
}

// RaftRange returns the index of the first and the last stored entry above
// the raft floor; last < first when there is none (first is then the index
// the next entry will have, or 1 when nothing is known).
func (l *Log) RaftRange() (first, last uint64) {
	l.rf.mu.Lock()
	defer l.rf.mu.Unlock()
	m := &l.rf.mu
	if m.first == 0 {
		return 1, 0
	}
	return m.first, m.first + uint64(len(m.ents)) - 1
}

// RaftState returns raft's newest saved state; ok is false when none was
// saved.
func (l *Log) RaftState() (st RaftState, ok bool) {
	l.rf.mu.Lock()
	defer l.rf.mu.Unlock()
	return l.rf.mu.state, l.rf.mu.has
}

// ReadRaftEntries reads the stored entries from low up to (not including)
// high, in order, and calls fn with each until fn returns false. Each
// entry's Cmd is a fresh slice fn may keep. Entries outside the stored
// range are skipped (the caller sees where the run starts and ends).
// Errors: ErrCorrupt (a record fails its checksum), read errors.
func (l *Log) ReadRaftEntries(low, high uint64, fn func(RaftEntry) bool) error {
	var locs []entryLoc
	l.rf.mu.Lock()
	m := &l.rf.mu
	first := max(low, m.first)
	last := min(high, m.first+uint64(len(m.ents)))
	if first < last {
		locs = append(locs, m.ents[first-m.first:last-m.first]...)
	}
	l.rf.mu.Unlock()
	for i, loc := range locs {
		e, err := readEntry(loc)
		if err != nil {
			return err
		}
		if e.Index != first+uint64(i) {
			return fmt.Errorf("%w: raft entry %d found at the place of %d", ErrCorrupt, e.Index, first+uint64(i))
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// readEntry reads and checks the entry record at loc.
func readEntry(loc entryLoc) (RaftEntry, error) {
	b := make([]byte, recHeaderSize+entryMetaSize+int(loc.n))
	if _, err := loc.seg.f.ReadAt(b, loc.off); err != nil {
		return RaftEntry{}, fmt.Errorf("log: read raft entry in segment %d: %w", loc.seg.id, err)
	}
	h := parseRecHeader(b)
	body := b[recHeaderSize:]
	if h.typ != recEntry || int(h.len) != len(body) || !verifyRecord(h, b[:recHeaderSize], body) {
		return RaftEntry{}, fmt.Errorf("%w: raft entry record in segment %d at %d", ErrCorrupt, loc.seg.id, loc.off)
	}
	return parseEntry(body, body[entryMetaSize:]), nil
}

// parseEntry decodes an entry record's body; Cmd is cmd.
func parseEntry(body, cmd []byte) RaftEntry {
	return RaftEntry{Index: le.Uint64(body[0:]), Term: le.Uint64(body[8:]), Key: le.Uint64(body[16:]),
		ClientID: le.Uint64(body[24:]), SeriesID: le.Uint64(body[32:]), RespondedTo: le.Uint64(body[40:]),
		Type: body[48], Cmd: cmd}
}

// SetRaftFloor tells the log that raft no longer needs the entries at or
// below index: their segments go once no live message needs them either.
func (l *Log) SetRaftFloor(index uint64) {
	rf := &l.rf
	for {
		cur := rf.floor.Load()
		if index <= cur || rf.floor.CompareAndSwap(cur, index) {
			break
		}
	}
	rf.mu.Lock()
	m := &rf.mu
	if n := len(m.ents); n > 0 && index >= m.first {
		k := min(index-m.first+1, uint64(n))
		// Copy, so the dropped locations' array is freed.
		m.ents = slices.Clone(m.ents[k:])
		m.first += k
	}
	rf.mu.Unlock()
	l.mu.Lock()
	if !l.mu.closed {
		l.dropPrefixLocked()
	}
	l.mu.Unlock()
}

// raftKeeps reports whether segment s must stay for raft: it holds an
// entry above the floor, or it or a segment after it holds the newest
// state record or the last applied marker. Replica logs only.
func (l *Log) raftKeeps(s *segment) bool {
	rf := &l.rf
	if s.maxEntry.Load() > rf.floor.Load() {
		return true
	}
	for _, id := range []uint64{rf.stateSeg.Load(), rf.markSeg.Load()} {
		if id != 0 && s.id >= id {
			return true
		}
	}
	return false
}

// entryRef resolves ref (the cmd of a stored entry, from ref.Off for n
// bytes) to a chunk location, or reports false when the entry is not
// stored here with a cmd of ref.CmdLen bytes.
func (l *Log) entryRef(ref EntryRef, n int, crc uint32) (chunkRef, *segment, bool) {
	l.rf.mu.Lock()
	defer l.rf.mu.Unlock()
	m := &l.rf.mu
	if ref.Index < m.first || ref.Index >= m.first+uint64(len(m.ents)) {
		return chunkRef{}, nil, false
	}
	loc := m.ents[ref.Index-m.first]
	if int(loc.n) != ref.CmdLen || ref.Off < 0 || ref.Off+n > ref.CmdLen {
		return chunkRef{}, nil, false
	}
	off := loc.off + recHeaderSize + entryMetaSize + int64(ref.Off)
	return chunkRef{seg: loc.seg.id, off: off, n: uint32(n), crc: crc}, loc.seg, true
}

// EntryRef locates a payload inside a raft entry this log stores: Off
// bytes into the cmd of entry Index, whose cmd is CmdLen bytes long (a
// check that the caller and the log speak of the same bytes).
type EntryRef struct {
	Index  uint64
	Off    int
	CmdLen int
}

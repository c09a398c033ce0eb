package log

import (
	"slices"
	"sort"
)

// entry is the in-memory index of one sequence: where its msg or commit
// record lives and what the limits need. Entries are kept for every sequence
// from index.base to the last one; removed messages stay as dead entries
// until they reach the front.
type entry struct {
	seg    *segment // segment of the msg/commit record
	first  *segment // segment of the message's first record (pinned while live)
	off    int64    // record offset in seg
	ts     int64    // unix nanoseconds
	size   int64    // payload length (uncompressed)
	subj   uint32   // subject id
	hdrLen uint32
	mlen   uint32 // bytes from off that LoadMsg reads: header, meta, subject, hdr, refs
	live   bool
	lost   bool // found damaged by the verifier: reported, never served
}

// subjectIndex is one subject's index: its live sequences, ascending.
type subjectIndex struct {
	name string
	seqs []uint64
}

// index is the sequence, subject and time index of the live messages. It is
// guarded by Log.mu; every method expects that lock held for writing unless
// it says otherwise.
type index struct {
	base     uint64  // sequence of ents[0]
	ents     []entry // ents[i] is sequence base+i
	last     uint64  // last sequence assigned (may exceed base+len-1 after a purge)
	lastTs   int64
	msgs     uint64
	bytes    uint64  // sum of MsgSize over the live messages
	storage  Storage // what MsgSize counts (fixed at Open)
	subjects map[string]uint32
	subjs    []subjectIndex
	free     []uint32 // recycled subject ids
	lost     []uint64 // sequences found corrupt at recovery, ascending
	dead     deadBlocks
	// track makes remove note every removal in removed, for the eviction
	// log (evict.go).
	track   bool
	removed []removal
}

func newIndex(storage Storage) index {
	return index{base: 1, subjects: make(map[string]uint32), storage: storage}
}

// entryBytes is what e counts toward bytes (see MsgSize).
func (x *index) entryBytes(e *entry) uint64 {
	return uint64(MsgSize(x.storage, len(x.subjs[e.subj].name), int(e.hdrLen), e.size))
}

// get returns the entry for seq, or nil when seq is outside the index.
func (x *index) get(seq uint64) *entry {
	if seq < x.base || seq-x.base >= uint64(len(x.ents)) {
		return nil
	}
	return &x.ents[seq-x.base]
}

// firstSeq is the first live sequence, or last+1 when empty.
func (x *index) firstSeq() uint64 {
	if x.msgs == 0 {
		return x.last + 1
	}
	return x.base
}

// internSubject returns the id of name, adding it when new.
func (x *index) internSubject(name string) uint32 {
	if id, ok := x.subjects[name]; ok {
		return id
	}
	var id uint32
	if n := len(x.free); n > 0 {
		id = x.free[n-1]
		x.free = x.free[:n-1]
		x.subjs[id] = subjectIndex{name: name}
	} else {
		id = uint32(len(x.subjs))
		x.subjs = append(x.subjs, subjectIndex{name: name})
	}
	x.subjects[name] = id
	return id
}

// add appends seq (which must be last+1 or later: skipped sequences become
// dead placeholders) as a live message.
func (x *index) add(seq uint64, e entry, name string) {
	x.pad(seq - 1)
	if len(x.ents) == 0 {
		x.base = seq
	}
	e.subj = x.internSubject(name)
	e.live = true
	x.ents = append(x.ents, e)
	x.last = seq
	x.lastTs = max(x.lastTs, e.ts)
	x.msgs++
	x.bytes += x.entryBytes(&e)
	s := &x.subjs[e.subj]
	s.seqs = append(s.seqs, seq)
}

// pad makes the index cover sequences up to upTo with dead placeholders (for
// sequences lost at recovery); it only advances last when empty.
func (x *index) pad(upTo uint64) {
	if len(x.ents) == 0 {
		if upTo > x.last {
			x.last = upTo
		}
		x.base = x.last + 1
		return
	}
	for x.base+uint64(len(x.ents)) <= upTo {
		x.dead.inc(x.base, x.base+uint64(len(x.ents)))
		x.ents = append(x.ents, entry{})
	}
	x.last = max(x.last, upTo)
}

// markLost records seq as lost (corrupt at recovery).
func (x *index) markLost(seq uint64) {
	if i, found := slices.BinarySearch(x.lost, seq); !found {
		x.lost = slices.Insert(x.lost, i, seq)
	}
}

// remove kills the live message seq and returns its entry (a copy) and
// true, or false when it is not live.
func (x *index) remove(seq uint64) (entry, bool) {
	e := x.get(seq)
	if e == nil || !e.live {
		return entry{}, false
	}
	out := *e
	if x.track {
		x.removed = append(x.removed, removal{seq: seq, subj: x.subjs[e.subj].name})
	}
	e.live = false
	x.dead.inc(x.base, seq)
	x.msgs--
	x.bytes -= x.entryBytes(e)
	s := &x.subjs[e.subj]
	if len(s.seqs) > 0 && s.seqs[0] == seq {
		s.seqs = s.seqs[1:]
	} else if i, ok := slices.BinarySearch(s.seqs, seq); ok {
		s.seqs = slices.Delete(s.seqs, i, i+1)
	}
	if len(s.seqs) == 0 {
		delete(x.subjects, s.name)
		*s = subjectIndex{}
		x.free = append(x.free, e.subj)
	}
	x.trimFront()
	return out, true
}

// trimFront drops dead entries from the front.
func (x *index) trimFront() {
	i := 0
	for i < len(x.ents) && !x.ents[i].live {
		i++
	}
	if i == 0 {
		return
	}
	clear(x.ents[:i]) // release segment pointers
	x.ents = x.ents[i:]
	x.dead.trimmed(x.base, x.base+uint64(i))
	x.base += uint64(i)
	if len(x.ents) == 0 {
		x.ents = nil
		x.dead = deadBlocks{}
		x.base = x.last + 1
	}
}

// seqAtTime returns the first sequence whose timestamp is >= ts among live
// messages, or last+1.
func (x *index) seqAtTime(ts int64) uint64 {
	// Timestamps are non-decreasing, so the search is over ts; dead entries
	// may sit at the boundary: walk to the next live one.
	i := sort.Search(len(x.ents), func(i int) bool { return x.ents[i].ts >= ts })
	for i < len(x.ents) && !x.ents[i].live {
		i++
	}
	if i == len(x.ents) {
		return x.last + 1
	}
	return x.base + uint64(i)
}

// lastForSubject returns the newest live sequence of a literal subject.
func (x *index) lastForSubject(name string) (uint64, bool) {
	id, ok := x.subjects[name]
	if !ok {
		return 0, false
	}
	s := x.subjs[id].seqs
	return s[len(s)-1], true
}

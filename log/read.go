package log

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bargemq/barge/subject"
	"github.com/klauspost/compress/s2"
)

// Extent is a run of stored payload bytes: Len bytes at Off in R, whose
// CRC-32C is CRC. On the OS file system R is the segment's *os.File, so a
// transport can send the extent with sendfile/splice without copying it
// through user space. R stays open until its segment is removed (when the
// message is deleted or expires); a read after that fails with an error
// (os.ErrClosed) and the send must be abandoned.
type Extent struct {
	R   io.ReaderAt
	Off int64
	Len int64
	CRC uint32
}

// StoredMsg is a loaded message. LoadMsg fills a caller's StoredMsg and
// reuses its slices, so a StoredMsg reused across loads costs no
// allocations once its buffers have grown.
type StoredMsg struct {
	Seq     uint64
	Subject string // shared, immutable
	Hdr     []byte // aliases the StoredMsg's buffer: valid until its next load
	Size    int64  // payload length
	Time    int64  // unix nanoseconds
	// Compressed reports that the extents hold s2 blocks (CompressionS2);
	// read the payload with ReadPayload instead of sending the extents.
	Compressed bool
	// Extents lists the payload in order: one for a small message, one per
	// chunk for a large one.
	Extents []Extent
	buf     []byte // metadata read by LoadMsg (Hdr aliases it)
	zbuf    []byte // compressed payload scratch for ReadPayload
	// seg and off locate the message's record as loaded (markDamaged).
	seg *segment
	off int64
}

// LoadMsg fills sm with message seq. It reads and checksums the message's
// metadata (not the payload: see ReadPayload). Errors: ErrNotFound when seq
// is 0 or past LastSeq; ErrDeleted when the message was removed (also
// below FirstSeq); ErrCorrupt when its record failed a checksum; ErrClosed.
// It does not allocate once sm's buffers are large enough.
func (l *Log) LoadMsg(seq uint64, sm *StoredMsg) error {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	err := l.loadLocked(seq, sm)
	l.mu.RUnlock()
	if err == nil && l.damagedOnLoad(sm) {
		return fmt.Errorf("%w: seq %d is damaged", ErrCorrupt, seq)
	}
	return err
}

func (l *Log) loadLocked(seq uint64, sm *StoredMsg) error {
	x := &l.mu.idx
	if seq == 0 || seq > x.last {
		return ErrNotFound
	}
	e := x.get(seq)
	if e == nil || !e.live {
		if _, lost := slices.BinarySearch(x.lost, seq); lost {
			return fmt.Errorf("%w: seq %d was lost at recovery", ErrCorrupt, seq)
		}
		return ErrDeleted
	}
	if e.lost {
		return fmt.Errorf("%w: seq %d is damaged", ErrCorrupt, seq)
	}
	n := int(e.mlen)
	if cap(sm.buf) < n {
		sm.buf = make([]byte, n, n+n/4)
	}
	b := sm.buf[:n]
	if _, err := e.seg.f.ReadAt(b, e.off); err != nil {
		return fmt.Errorf("log: read seq %d: %w", seq, err)
	}
	h := parseRecHeader(b)
	if int(h.len)+recHeaderSize < n || crc32cUpdate(crc32c(b[4:recHeaderSize]), b[recHeaderSize:]) != h.crc {
		return fmt.Errorf("%w: seq %d metadata checksum", ErrCorrupt, seq)
	}
	body := b[recHeaderSize:]
	var m msgMeta
	var p int
	switch h.typ {
	case recMsg:
		m, p = getMsgMeta(body), msgMetaSize
	case recCommit:
		m, p = getCommitMeta(body), commitMetaSz
	default:
		return fmt.Errorf("%w: seq %d record type %d", ErrCorrupt, seq, h.typ)
	}
	if m.seq != seq {
		return fmt.Errorf("%w: seq %d found %d", ErrCorrupt, seq, m.seq)
	}
	p += m.subjLen
	sm.Seq, sm.Subject, sm.Size, sm.Time = seq, x.subjs[e.subj].name, m.size, m.ts
	sm.seg, sm.off = e.seg, e.off
	sm.Hdr = body[p : p+m.hdrLen : p+m.hdrLen]
	sm.Compressed = h.flags&flagS2 != 0
	sm.Extents = sm.Extents[:0]
	p += m.hdrLen
	if h.typ == recMsg {
		stored := int64(h.len) - int64(p)
		sm.Extents = append(sm.Extents, Extent{R: e.seg.f, Off: e.off + recHeaderSize + int64(p), Len: stored, CRC: m.crc})
		return nil
	}
	for i := 0; i < m.nchunks; i++ {
		r := getChunkRef(body[p+i*chunkRefSize:])
		s := findSeg(l.mu.segs, r.seg)
		if s == nil {
			return fmt.Errorf("%w: seq %d chunk in missing segment %d", ErrCorrupt, seq, r.seg)
		}
		sm.Extents = append(sm.Extents, Extent{R: s.f, Off: r.off, Len: int64(r.n), CRC: r.crc})
	}
	return nil
}

// ReadPayload appends sm's payload to dst and returns the extended slice,
// checking every extent's checksum (ErrCorrupt) and decompressing s2. It
// allocates only when dst (or sm's scratch, for compressed data) must grow.
// It can fail with an I/O error if the message was removed after LoadMsg.
func (sm *StoredMsg) ReadPayload(dst []byte) ([]byte, error) {
	for _, x := range sm.Extents {
		var src []byte
		if sm.Compressed {
			if int64(cap(sm.zbuf)) < x.Len {
				sm.zbuf = make([]byte, x.Len)
			}
			src = sm.zbuf[:x.Len]
		} else {
			dst = slices.Grow(dst, int(x.Len))
			src = dst[len(dst) : len(dst)+int(x.Len)]
		}
		if _, err := x.R.ReadAt(src, x.Off); err != nil {
			return dst, fmt.Errorf("log: read seq %d payload: %w", sm.Seq, err)
		}
		if crc32c(src) != x.CRC {
			return dst, fmt.Errorf("%w: seq %d payload checksum", ErrCorrupt, sm.Seq)
		}
		if !sm.Compressed {
			dst = dst[:len(dst)+int(x.Len)]
			continue
		}
		n, err := s2.DecodedLen(src)
		if err != nil {
			return dst, fmt.Errorf("%w: seq %d: %v", ErrCorrupt, sm.Seq, err)
		}
		dst = slices.Grow(dst, n)
		if _, err := s2.Decode(dst[len(dst):len(dst)+n], src); err != nil {
			return dst, fmt.Errorf("%w: seq %d: %v", ErrCorrupt, sm.Seq, err)
		}
		dst = dst[:len(dst)+n]
	}
	return dst, nil
}

// LoadNext fills sm with the first live message at or after seq whose
// subject matches filter ("" or ">" = all; NATS wildcards) and returns its
// sequence; messages flagged damaged are skipped (verify.go). ErrNotFound
// when there is none (yet): use Wait to block.
func (l *Log) LoadNext(seq uint64, filter string, sm *StoredMsg) (uint64, error) {
	for {
		l.mu.RLock()
		if l.mu.closed {
			l.mu.RUnlock()
			return 0, ErrClosed
		}
		found, err := l.loadNextLocked(seq, filter, sm)
		l.mu.RUnlock()
		if err != nil || !l.damagedOnLoad(sm) {
			return found, err
		}
		seq = found + 1 // found damaged now: skipped, as the flagged ones are
	}
}

// loadNextLocked is LoadNext under mu's read lock.
func (l *Log) loadNextLocked(seq uint64, filter string, sm *StoredMsg) (uint64, error) {
	x := &l.mu.idx
	seq = max(seq, x.base, 1)
	found := uint64(0)
	switch {
	case filter == "" || filter == ">":
		for ; seq <= x.last; seq++ {
			if e := x.get(seq); e != nil && e.live && !e.lost {
				found = seq
				break
			}
		}
	case !subject.HasWildcard(filter):
		if id, ok := x.subjects[filter]; ok {
			s := x.subjs[id].seqs
			for i, _ := slices.BinarySearch(s, seq); i < len(s); i++ {
				if e := x.get(s[i]); e == nil || !e.lost {
					found = s[i]
					break
				}
			}
		}
	default:
		for ; seq <= x.last; seq++ {
			if e := x.get(seq); e != nil && e.live && !e.lost && subject.Matches(filter, x.subjs[e.subj].name) {
				found = seq
				break
			}
		}
	}
	if found == 0 {
		return 0, ErrNotFound
	}
	return found, l.loadLocked(found, sm)
}

// LastSeqForSubject returns the newest live sequence whose subject matches
// filter (literal: an index lookup; wildcards: a scan of the subjects), or
// ErrNotFound.
func (l *Log) LastSeqForSubject(filter string) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x := &l.mu.idx
	if !subject.HasWildcard(filter) && filter != "" {
		if seq, ok := x.lastForSubject(filter); ok {
			return seq, nil
		}
		return 0, ErrNotFound
	}
	var best uint64
	for _, s := range x.subjs {
		if len(s.seqs) > 0 && s.seqs[len(s.seqs)-1] > best && subject.Matches(filter, s.name) {
			best = s.seqs[len(s.seqs)-1]
		}
	}
	if best == 0 {
		return 0, ErrNotFound
	}
	return best, nil
}

// SeqAtTime returns the first live sequence stored at or after t, or
// LastSeq+1 when none is.
func (l *Log) SeqAtTime(t time.Time) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.idx.seqAtTime(t.UnixNano())
}

// SubjectState summarizes one subject.
type SubjectState struct {
	Msgs  uint64
	First uint64
	Last  uint64
}

// SubjectsState returns the live subjects matching filter ("" = all) with
// their counts (literal filter: an index lookup; otherwise a scan of the
// subjects). The map is the caller's.
func (l *Log) SubjectsState(filter string) map[string]SubjectState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[string]SubjectState)
	if filter != "" && !subject.HasWildcard(filter) {
		if id, ok := l.mu.idx.subjects[filter]; ok {
			if s := &l.mu.idx.subjs[id]; len(s.seqs) > 0 {
				out[s.name] = SubjectState{Msgs: uint64(len(s.seqs)), First: s.seqs[0], Last: s.seqs[len(s.seqs)-1]}
			}
		}
		return out
	}
	for _, s := range l.mu.idx.subjs {
		if len(s.seqs) > 0 && subject.Matches(filter, s.name) {
			out[s.name] = SubjectState{Msgs: uint64(len(s.seqs)), First: s.seqs[0], Last: s.seqs[len(s.seqs)-1]}
		}
	}
	return out
}

// Wait blocks until LastSeq >= seq (the message is committed and visible,
// though it may since have been removed), ctx ends (its error), or the log
// closes (ErrClosed).
func (l *Log) Wait(ctx context.Context, seq uint64) error {
	for {
		l.mu.RLock()
		closed, last, ch := l.mu.closed, l.mu.idx.last, l.mu.changed
		l.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		if last >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Changed returns a channel that is closed at the next change of the index
// (a commit, delete, purge or expiry becoming visible) or at Close. Take a
// new one after each wake-up.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.changed
}

package log

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/bargemq/barge/subject"
)

// scanner reads a segment through a window buffer, so small records cost no
// system call each.
type scanner struct {
	f    File
	size int64
	buf  []byte
	at   int64 // file offset of buf[0]
	// win is how many bytes a read fetches at least (0: scanWindow).
	win int
}

const scanWindow = 1 << 20

// window returns the n bytes at off, valid until the next call.
func (s *scanner) window(off int64, n int) ([]byte, error) {
	if off >= s.at && off+int64(n) <= s.at+int64(len(s.buf)) {
		return s.buf[off-s.at : off-s.at+int64(n)], nil
	}
	w := s.win
	if w == 0 {
		w = scanWindow
	}
	want := int64(max(n, w))
	want = min(want, s.size-off)
	if int64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	if _, err := s.f.ReadAt(s.buf, off); err != nil {
		s.buf = s.buf[:0]
		return nil, err
	}
	s.at = off
	return s.buf[:n], nil
}

// record returns the valid record at off, or ok=false when the bytes there
// are not one (torn, corrupt, or past the end).
func (s *scanner) record(off int64) (h recHeader, rec []byte, ok bool, err error) {
	if off+recHeaderSize > s.size {
		return h, nil, false, nil
	}
	b, err := s.window(off, recHeaderSize)
	if err != nil {
		return h, nil, false, err
	}
	h = parseRecHeader(b)
	if !h.plausible(b) || off+recHeaderSize+int64(h.len) > s.size {
		return h, nil, false, nil
	}
	rec, err = s.window(off, recHeaderSize+int(h.len))
	if err != nil {
		return h, nil, false, err
	}
	return h, rec, verifyRecord(h, rec[:recHeaderSize], rec[recHeaderSize:]), nil
}

// resync finds the next valid record at or after off, or -1.
func (s *scanner) resync(off int64) (int64, error) {
	for ; off+recHeaderSize <= s.size; off++ {
		b, err := s.window(off, recHeaderSize)
		if err != nil {
			return -1, err
		}
		if h := parseRecHeader(b); !h.plausible(b) {
			continue
		}
		if _, _, ok, err := s.record(off); err != nil {
			return -1, err
		} else if ok {
			return off, nil
		}
	}
	return -1, nil
}

type chunkKey struct {
	seg uint64
	off int64
}

type chunkInfo struct {
	txn   uint64
	index uint32
	n     uint32
	crc   uint32
}

// replay is the state of one recovery pass.
type replay struct {
	chunks  map[chunkKey]chunkInfo
	now     int64
	maxTxn  uint64
	lastTs  int64
	started bool  // a segment header has set the sequence floor
	maxJump int64 // largest believable sequence gap: every lost sequence was a record of >= 12 bytes
	// tombs are the sequences whose delete record found them already
	// removed by replay's limits: that eviction is logged already.
	tombs map[uint64]struct{}
	front uint64 // highest purge-all bound replayed (evictions logged up to there)
	// chunkless are the sequences marked lost because a chunk of their
	// commit is missing, with their subjects: when a later record removes
	// one, the writer had removed it (compaction drops the chunks of dead
	// messages), so it is not reported.
	chunkless map[uint64]string
	// err ends the recovery (a replica segment of an older format).
	err error
	// staged are a replica log's apply-side records since the last applied
	// marker, applied when the next marker is met (replica_recover.go).
	staged []stagedRec
}

// recover rebuilds the index from the segments in l.dir (see Open). Called
// before the Log is shared, but takes the locks its helpers expect.
func (l *Log) recover() error {
	if l.mu.cfg.Storage == MemoryStorage {
		l.w.nextSeq, l.w.nextTxn = 1, 1
		return nil
	}
	names, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("log: list %s: %w", l.dir, err)
	}
	var ids []uint64
	var idxs []string
	for _, n := range names {
		if id, ok := parseSegName(n); ok {
			ids = append(ids, id)
		} else if _, ok := isIdxFile(n); ok {
			idxs = append(idxs, n)
		} else if isCompactTemp(n) || strings.HasSuffix(n, idxSuffix+".tmp") {
			// A compaction that crashed before its rename: the
			// segment it was rewriting is intact.
			if err := l.fs.Remove(path.Join(l.dir, n)); err != nil {
				return fmt.Errorf("log: remove %s: %w", n, err)
			}
		}
	}
	// Index sidecars are used for sealed segments only: the newest
	// segment's (from before a torn roll was undone) and orphans go.
	for _, n := range idxs {
		id, _ := isIdxFile(n)
		if l.opts.Replica || len(ids) == 0 || id == ids[len(ids)-1] || !slices.Contains(ids, id) {
			l.fs.Remove(path.Join(l.dir, n))
		}
	}
	r := &replay{chunks: make(map[chunkKey]chunkInfo), now: l.opts.Clock.Now().UnixNano(), tombs: make(map[uint64]struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Removals by the limits during replay are tracked: those not already
	// logged (the limits may be lower than the writer's) get logged at Open.
	l.mu.ev.on = !l.opts.Replica
	l.mu.idx.track = l.mu.ev.on
	var end int64
	for i, id := range ids {
		if i == 0 {
			r.maxJump = l.totalSize(ids)/recHeaderSize + 1
		}
		last := i == len(ids)-1
		p := path.Join(l.dir, segName(id))
		f, err := l.fs.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("log: open %s: %w", p, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("log: stat %s: %w", p, err)
		}
		s := &segment{id: id, path: p, f: f}
		l.mu.segs = append(l.mu.segs, s)
		prevEnd := end
		if !last && !l.opts.Replica && l.replayIndexFile(r, s, fi.Size()) {
			end = fi.Size()
			continue
		}
		end, err = l.scanSegment(r, s, fi.Size(), last)
		if err == nil {
			err = r.err
		}
		if err != nil {
			return err
		}
		if last && end == 0 {
			// Nothing valid at all: a segment whose creation was torn.
			l.mu.segs = l.mu.segs[:len(l.mu.segs)-1]
			f.Close()
			if err := l.fs.Remove(p); err != nil {
				return fmt.Errorf("log: remove empty segment: %w", err)
			}
			// The previous segment is the active one again: appends go
			// at its valid end (not at 0, over its header), and
			// whatever follows that end is cut as a torn tail would be.
			end = prevEnd
			if n := len(l.mu.segs); n > 0 {
				prev := l.mu.segs[n-1]
				prev.indexed.Store(false)
				l.fs.Remove(idxPath(prev.path))
				if pfi, err := prev.f.Stat(); err == nil && pfi.Size() > end {
					if err := prev.f.Truncate(end); err != nil {
						return fmt.Errorf("log: truncate %s: %w", prev.path, err)
					}
				}
			}
		}
	}
	x := &l.mu.idx
	l.w.nextSeq = x.last + 1
	l.w.lastTs = max(x.lastTs, r.lastTs)
	l.w.nextTxn = r.maxTxn + 1
	l.w.markSeq, l.w.markTs = l.w.nextSeq-1, l.w.lastTs
	if n := len(l.mu.segs); n > 0 {
		l.w.active = l.mu.segs[n-1]
		l.w.off = end
		l.activeSeg.Store(l.w.active)
	}
	if len(x.lost) > 0 {
		l.opts.Logger.Warn("log: messages lost to corruption", "dir", l.dir, "seqs", x.lost)
	}
	l.forgetLoggedEvictionsLocked(r)
	if l.opts.Replica {
		l.restorePendingLocked(r)
		// Records of a batch whose marker was lost: voided before
		// anything new is applied (replica_recover.go).
		l.rep.voidAtOpen = len(r.staged) > 0
		r.staged = nil
	}
	return nil
}

// scanSegment replays one segment and returns the offset where valid data
// ends. In the last segment a torn tail is truncated; elsewhere, and for
// corrupt records followed by valid ones, the damage is reported.
func (l *Log) scanSegment(r *replay, s *segment, size int64, last bool) (int64, error) {
	sc := &scanner{f: s.f, size: size}
	off := int64(0)
	for off < size {
		h, rec, ok, err := sc.record(off)
		if err != nil {
			return 0, fmt.Errorf("log: read %s: %w", s.path, err)
		}
		if !ok && last && l.opts.Replica {
			// A replica log's valid prefix ends at its first bad record
			// (replica_recover.go).
			l.opts.Logger.Warn("log: truncating torn tail", "segment", s.path, "offset", off, "bytes", size-off)
			if err := s.f.Truncate(off); err != nil {
				return 0, fmt.Errorf("log: truncate %s: %w", s.path, err)
			}
			return off, nil
		}
		if !ok {
			next, err := sc.resync(off + 1)
			if err != nil {
				return 0, fmt.Errorf("log: read %s: %w", s.path, err)
			}
			if next < 0 {
				if last {
					l.opts.Logger.Warn("log: truncating torn tail", "segment", s.path, "offset", off, "bytes", size-off)
					if err := s.f.Truncate(off); err != nil {
						return 0, fmt.Errorf("log: truncate %s: %w", s.path, err)
					}
				} else {
					l.opts.Logger.Error("log: corrupt segment tail", "segment", s.path, "offset", off, "bytes", size-off)
				}
				return off, nil
			}
			l.opts.Logger.Error("log: corrupt record skipped", "segment", s.path, "offset", off, "bytes", next-off)
			off = next
			continue
		}
		l.replayRecordLocked(r, s, off, h, rec[recHeaderSize:])
		off += recHeaderSize + int64(h.len)
	}
	return off, nil
}

// replayRecordLocked applies one valid record found at off in s.
func (l *Log) replayRecordLocked(r *replay, s *segment, off int64, h recHeader, body []byte) {
	if l.opts.Replica && l.replayReplicaLocked(r, s, off, h, body) {
		return
	}
	l.replayOneLocked(r, s, off, h, body)
}

// replayOneLocked applies one record of the message side.
func (l *Log) replayOneLocked(r *replay, s *segment, off int64, h recHeader, body []byte) {
	x := &l.mu.idx
	switch h.typ {
	case recSegment:
		if string(body[:8]) != segMagic || le.Uint32(body[8:]) != l.segVersion() {
			l.opts.Logger.Error("log: unknown segment format", "segment", s.path)
			return
		}
		floor := le.Uint64(body[20:])
		if floor >= s.id {
			// A segment's id is above every sequence before it.
			l.opts.Logger.Error("log: segment header contradicts its name", "segment", s.path, "last", floor)
			return
		}
		r.lastTs = max(r.lastTs, int64(le.Uint64(body[28:])))
		if !r.started {
			x.pad(floor) // older sequences went with removed segments
			r.started = true
		} else if l.believableLocked(r, floor) {
			l.lostUpToLocked(floor)
		}
	case recChunk:
		txn := le.Uint64(body[0:])
		r.maxTxn = max(r.maxTxn, txn)
		r.chunks[chunkKey{s.id, off + recHeaderSize + chunkMetaSize}] = chunkInfo{txn: txn, index: le.Uint32(body[8:]),
			n: h.len - chunkMetaSize, crc: le.Uint32(body[12:])}
	case recMsg:
		m := getMsgMeta(body)
		if !l.believableLocked(r, m.seq) || !l.replaySeqLocked(m.seq) {
			return
		}
		name := l.subjectName(body[msgMetaSize : msgMetaSize+m.subjLen])
		s.live.Add(1)
		l.applyMsgLocked(m.seq, entry{seg: s, first: s, off: off, ts: m.ts, size: m.size, hdrLen: uint32(m.hdrLen),
			mlen: uint32(recHeaderSize + msgMetaSize + m.subjLen + m.hdrLen)}, name, r.now)
	case recCommit:
		m := getCommitMeta(body)
		if !l.believableLocked(r, m.seq) || !l.replaySeqLocked(m.seq) {
			return
		}
		var first *segment
		refs := body[commitMetaSz+m.subjLen+m.hdrLen:]
		if h.flags&flagRefs != 0 {
			// The chunks lie inside raft entry records (replica.go): no
			// chunk records to match.
			if m.nchunks > 0 {
				first = findSeg(l.mu.segs, getChunkRef(refs).seg)
			}
			if first == nil {
				x.pad(m.seq)
				x.markLost(m.seq)
				return
			}
			m.nchunks = 0
		}
		for i := 0; i < m.nchunks; i++ {
			ref := getChunkRef(refs[i*chunkRefSize:])
			k := chunkKey{ref.seg, ref.off}
			c, ok := r.chunks[k]
			if !ok || c.txn != m.txn || c.index != uint32(i) || c.n != ref.n || c.crc != ref.crc {
				if m.seq > x.last {
					if r.chunkless == nil {
						r.chunkless = make(map[uint64]string)
					}
					r.chunkless[m.seq] = string(body[commitMetaSz : commitMetaSz+m.subjLen])
				}
				x.pad(m.seq)
				x.markLost(m.seq)
				return
			}
			if i == 0 {
				first = findSeg(l.mu.segs, ref.seg)
			}
		}
		for i := 0; i < m.nchunks; i++ {
			ref := getChunkRef(refs[i*chunkRefSize:])
			delete(r.chunks, chunkKey{ref.seg, ref.off})
		}
		if first == nil {
			first = s
		}
		name := l.subjectName(body[commitMetaSz : commitMetaSz+m.subjLen])
		first.live.Add(1)
		l.applyMsgLocked(m.seq, entry{seg: s, first: first, off: off, ts: m.ts, size: m.size, hdrLen: uint32(m.hdrLen),
			mlen: uint32(recHeaderSize + len(body))}, name, r.now)
	case recDelete:
		seq := le.Uint64(body)
		if e := x.get(seq); e != nil && !e.live && !e.lost && x.track {
			r.tombs[seq] = struct{}{}
		}
		track := x.track
		x.track = false // a logged removal
		l.removeLocked(seq)
		x.track = track
		if _, ok := r.chunkless[seq]; ok {
			l.unloseLocked(r, seq)
		}
	case recSkip:
		l.replaySkipLocked(r, le.Uint64(body), le.Uint64(body[8:]))
	case recChunkRef:
		l.replayChunkRefLocked(r, body)
	case recPurge:
		n := int(le.Uint16(body[8:]))
		filter, upTo := string(body[purgeMetaSize:purgeMetaSize+n]), le.Uint64(body)
		if filter == "" {
			r.front = max(r.front, upTo)
		}
		track := x.track
		x.track = false
		l.purgeLocked(filter, upTo)
		x.track = track
		for seq, subj := range r.chunkless {
			if seq <= upTo && (filter == "" || subject.Matches(filter, subj)) {
				l.unloseLocked(r, seq)
			}
		}
	}
}

// unloseLocked takes seq off the lost list: a record shows the writer had
// removed it before its chunks went.
func (l *Log) unloseLocked(r *replay, seq uint64) {
	delete(r.chunkless, seq)
	x := &l.mu.idx
	if i, found := slices.BinarySearch(x.lost, seq); found {
		x.lost = slices.Delete(x.lost, i, i+1)
	}
}

// forgetLoggedEvictionsLocked drops, from the removals replay tracked, those
// a replayed record shows were logged already, and notes how far the front
// is logged, so Open writes records only for evictions that are new.
func (l *Log) forgetLoggedEvictionsLocked(r *replay) {
	x := &l.mu.idx
	l.mu.ev.logged = r.front
	kept := x.removed[:0]
	for _, rm := range x.removed {
		if _, ok := r.tombs[rm.seq]; !ok && rm.seq > r.front {
			kept = append(kept, rm)
		}
	}
	clear(x.removed[len(kept):])
	x.removed = kept
}

// believableLocked rejects a sequence further past the last one than the
// segments have room for lost records (only a forged or garbage record can
// claim it, and indexing the gap would be unbounded work).
func (l *Log) believableLocked(r *replay, seq uint64) bool {
	last := l.mu.idx.last
	if seq > last && seq-last > uint64(r.maxJump) {
		l.opts.Logger.Error("log: record with an impossible sequence ignored", "seq", seq, "last", last)
		return false
	}
	return true
}

// totalSize sums the sizes of the segment files.
func (l *Log) totalSize(ids []uint64) int64 {
	var n int64
	for _, id := range ids {
		f, err := l.fs.OpenFile(path.Join(l.dir, segName(id)), os.O_RDONLY, 0)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil {
			n += fi.Size()
		}
		f.Close()
	}
	return n
}

// replaySeqLocked checks a committed sequence against the index: sequences
// skipped since the last one were lost to corruption; a sequence at or
// below the last is a duplicate and is ignored.
func (l *Log) replaySeqLocked(seq uint64) bool {
	x := &l.mu.idx
	if seq <= x.last {
		l.opts.Logger.Warn("log: duplicate sequence ignored", "seq", seq)
		return false
	}
	l.lostUpToLocked(seq - 1)
	return true
}

// lostUpToLocked marks every sequence after the last one seen, up to and
// including seq, as lost.
func (l *Log) lostUpToLocked(seq uint64) {
	x := &l.mu.idx
	from := x.last + 1
	if seq < from {
		return
	}
	x.pad(seq)
	for s := from; s <= seq; s++ {
		x.markLost(s)
	}
}

// subjectName returns the interned string for b when the subject is known,
// else a new string.
func (l *Log) subjectName(b []byte) string {
	if id, ok := l.mu.idx.subjects[string(b)]; ok {
		return l.mu.idx.subjs[id].name
	}
	return string(b)
}

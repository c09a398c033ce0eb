package log

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Compaction rewrites a sealed segment whose live data has fallen below a
// threshold into a new file with only what recovery still needs: the
// segment header, the records of live messages (msg records, and commit
// records with the chunk records they reference, chunk locations updated),
// every delete and purge record, and a skip record for each run of dead
// messages dropped, so replay knows those sequences were removed and not
// lost. The new file is written beside the old one (%020d.seg.compact),
// fsynced, renamed over it and the directory fsynced: a crash leaves either
// the old segment or the new one (a stray .compact file is removed at
// Open). The old file handle stays open (until Close, or until maxRetired
// newer compactions), so extents loaded before the compaction stay
// readable.
//
// A segment is not compacted while it (or an older one) is pinned by an
// appender or a commit in flight, nor when it holds chunks of a live
// message committed in a later segment (the commit record elsewhere
// points at them), nor when it has a record that does not verify.

const compactSuffix = ".seg.compact"

// maxRetired bounds the replaced segment files kept open for extents loaded
// before their compaction.
const maxRetired = 64

// DefaultCompactThreshold is Compact's default: a segment is rewritten when
// its live data is below half its size.
const DefaultCompactThreshold = 0.5

func isCompactTemp(name string) bool { return strings.HasSuffix(name, compactSuffix) }

// CompactStats reports what Compact did.
type CompactStats struct {
	Segments  int   // segments rewritten
	Reclaimed int64 // bytes of segment files freed
}

// candidate is a segment chosen for compaction, with the live records it
// held when chosen: record offset -> sequence.
type candidate struct {
	s    *segment
	size int64
	live map[int64]uint64
}

// Compact rewrites every sealed segment whose live bytes are below
// threshold times its size (threshold in (0, 1]; 0 means
// DefaultCompactThreshold), as described above, and returns what it
// reclaimed. Loaded messages and their extents stay valid. It runs one at a
// time; readers and writers go on meanwhile (readers wait only while a
// rewritten segment is swapped in). Memory and replica logs are left alone
// (zero stats). Errors: ErrClosed, ErrBadRequest for a bad threshold, I/O
// errors from writing the new file (the old segment is then kept; the log
// stays writable).
func (l *Log) Compact(threshold float64) (CompactStats, error) {
	var st CompactStats
	if threshold == 0 {
		threshold = DefaultCompactThreshold
	}
	if !(threshold > 0 && threshold <= 1) {
		return st, fmt.Errorf("%w: compact threshold %v", ErrBadRequest, threshold)
	}
	if l.opts.Replica {
		return st, nil
	}
	l.compacting.Lock()
	defer l.compacting.Unlock()
	cands, err := l.compactCandidates(threshold)
	if err != nil {
		return st, err
	}
	for _, c := range cands {
		n, err := l.compactSegment(c)
		if err != nil {
			return st, err
		}
		if n > 0 {
			st.Segments++
			st.Reclaimed += n
		}
	}
	return st, nil
}

// kickCompact starts the background work after a roll: a compaction
// (unless Options.CompactThreshold < 0), then index sidecars for sealed
// segments lacking one. If it runs already, it runs once more; not once the
// log is closing. Close waits for
// it.
func (l *Log) kickCompact() {
	th := l.opts.CompactThreshold
	if th == 0 {
		th = DefaultCompactThreshold
	}
	if l.opts.Replica {
		return
	}
	th = min(th, 1)
	l.bg.Lock()
	defer l.bg.Unlock()
	if l.bg.closed {
		return
	}
	if l.bg.compacting {
		l.bg.compactAgain = true
		return
	}
	l.bg.compacting = true
	l.async.Add(1)
	go func() {
		defer l.async.Done()
		for {
			if th > 0 {
				if _, err := l.Compact(th); err != nil && !errors.Is(err, ErrClosed) {
					l.opts.Logger.Warn("log: background compaction", "dir", l.dir, "err", err)
				}
			}
			if err := l.writeIndexFiles(); err != nil {
				l.opts.Logger.Warn("log: writing index sidecars", "dir", l.dir, "err", err)
			}
			l.bg.Lock()
			again := l.bg.compactAgain && !l.bg.closed
			l.bg.compactAgain = false
			l.bg.compacting = again
			l.bg.Unlock()
			if !again {
				return
			}
		}
	}()
}

// compactCandidates picks the segments to rewrite, under the read lock.
func (l *Log) compactCandidates(threshold float64) ([]candidate, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return nil, ErrClosed
	}
	if l.mu.cfg.Storage == MemoryStorage {
		return nil, nil
	}
	segs := l.mu.segs
	if len(segs) < 2 {
		return nil, nil
	}
	pos := make(map[*segment]int, len(segs))
	for i, s := range segs {
		pos[s] = i
	}
	firsts := make([]int64, len(segs)) // live messages whose first record is in segs[i]
	liveEst := make([]int64, len(segs))
	blocked := make([]bool, len(segs))
	x := &l.mu.idx
	for i := range x.ents {
		e := &x.ents[i]
		if !e.live {
			continue
		}
		fi, si := pos[e.first], pos[e.seg]
		firsts[fi]++
		liveEst[si] += int64(e.mlen) + e.size
		for j := fi; j < si; j++ {
			blocked[j] = true // chunks referenced from a later segment
		}
	}
	var out []candidate
	for i, s := range segs[:len(segs)-1] {
		if s.live.Load() != firsts[i] {
			break // pinned by an appender or a commit in flight: it may have chunks in any later segment
		}
		if blocked[i] {
			continue
		}
		fi, err := s.f.Stat()
		if err != nil {
			return nil, fmt.Errorf("log: stat %s: %w", s.path, err)
		}
		if float64(liveEst[i]) >= threshold*float64(fi.Size()) {
			continue
		}
		out = append(out, candidate{s: s, size: fi.Size(), live: make(map[int64]uint64)})
	}
	if len(out) == 0 {
		return nil, nil
	}
	bySeg := make(map[*segment]map[int64]uint64, len(out))
	for _, c := range out {
		bySeg[c.s] = c.live
	}
	for i := range x.ents {
		if e := &x.ents[i]; e.live {
			if live, ok := bySeg[e.seg]; ok {
				live[e.off] = x.base + uint64(i)
			}
		}
	}
	return out, nil
}

// compactSegment rewrites c.s and swaps it in; it returns the bytes freed
// (0 when the segment was left as it was).
func (l *Log) compactSegment(c candidate) (int64, error) {
	s := c.s
	sc := &scanner{f: s.f, size: c.size}
	// Pass 1: the chunks that live commit records in s reference.
	liveChunks := make(map[int64]bool)
	ok, err := scanAll(sc, func(off int64, h recHeader, body []byte) bool {
		if h.typ != recCommit {
			return true
		}
		if _, live := c.live[off]; !live {
			return true
		}
		m := getCommitMeta(body)
		refs := body[commitMetaSz+m.subjLen+m.hdrLen:]
		for i := 0; i < m.nchunks; i++ {
			if r := getChunkRef(refs[i*chunkRefSize:]); r.seg == s.id {
				liveChunks[r.off] = true
			}
		}
		return true
	})
	if err != nil || !ok {
		return 0, err
	}
	tmp := s.path[:len(s.path)-len(segSuffix)] + compactSuffix
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("log: compact %s: %w", s.path, err)
	}
	abandon := func() {
		f.Close()
		l.fs.Remove(tmp)
	}
	w := &compactWriter{f: f, moves: make(map[int64]int64, len(c.live)), chunks: make(map[int64]int64, len(liveChunks))}
	// Pass 2: write what recovery needs.
	ok, err = scanAll(sc, func(off int64, h recHeader, body []byte) bool {
		return w.record(s.id, off, h, body, c.live, liveChunks)
	})
	if err == nil && ok {
		err = w.finish()
	}
	if err != nil || !ok || w.bad {
		abandon()
		if err != nil {
			return 0, fmt.Errorf("log: compact %s: %w", s.path, err)
		}
		return 0, nil
	}
	if w.pos >= c.size {
		abandon()
		return 0, nil
	}
	l.hook("compact-written")
	if err := f.Sync(); err != nil {
		abandon()
		return 0, fmt.Errorf("log: compact %s: sync: %w", s.path, err)
	}
	l.hook("compact-synced")
	return l.swapCompacted(c, f, tmp, w)
}

// swapCompacted renames the new file over the segment and points the index
// at it, under the write lock (so the segment cannot be dropped meanwhile
// and readers see the old or the new file, never a mix).
func (l *Log) swapCompacted(c candidate, f File, tmp string, w *compactWriter) (int64, error) {
	s := c.s
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed || findSeg(l.mu.segs, s.id) != s {
		f.Close()
		l.fs.Remove(tmp)
		return 0, nil
	}
	// The old index sidecar describes the old file: remove it first (a
	// stale one would not match the new size anyway).
	s.indexed.Store(false)
	l.fs.Remove(idxPath(s.path))
	if err := l.fs.Rename(tmp, s.path); err != nil {
		f.Close()
		l.fs.Remove(tmp)
		return 0, fmt.Errorf("log: compact %s: rename: %w", s.path, err)
	}
	l.hook("compact-renamed")
	// Both files hold the same messages: a failed directory sync leaves
	// either, so the swap goes on and the error is only reported.
	var err error
	if serr := l.fs.SyncDir(l.dir); serr != nil {
		err = fmt.Errorf("log: compact %s: sync dir: %w", s.path, serr)
	}
	x := &l.mu.idx
	for off, seq := range c.live {
		if e := x.get(seq); e != nil && e.live && e.seg == s && e.off == off {
			e.off = w.moves[off]
		}
	}
	l.mu.retired = append(l.mu.retired, s.f)
	if len(l.mu.retired) > maxRetired {
		// Bound the open files: an extent loaded maxRetired compactions
		// ago now fails with os.ErrClosed, as one of a removed segment does.
		l.mu.retired[0].Close()
		l.mu.retired = append(l.mu.retired[:0], l.mu.retired[1:]...)
	}
	s.f = f
	return c.size - w.pos, err
}

// hook calls the test hook, if any.
func (l *Log) hook(step string) {
	if l.testHook != nil {
		l.testHook(step)
	}
}

// scanAll calls fn for every record of a sealed segment, in order, until fn
// returns false. ok is false when a record does not verify (the segment is
// then not compacted).
func scanAll(sc *scanner, fn func(off int64, h recHeader, body []byte) bool) (ok bool, err error) {
	for off := int64(0); off < sc.size; {
		h, rec, valid, err := sc.record(off)
		if err != nil {
			return false, err
		}
		if !valid {
			return false, nil
		}
		if !fn(off, h, rec[recHeaderSize:]) {
			return false, nil
		}
		off += recHeaderSize + int64(h.len)
	}
	return true, nil
}

// compactWriter writes the new segment through a buffer.
type compactWriter struct {
	f       File
	buf     []byte
	flushed int64           // file offset of buf[0]
	pos     int64           // bytes emitted
	moves   map[int64]int64 // live msg/commit record: old offset -> new
	chunks  map[int64]int64 // live chunk data: old offset -> new
	skip    [2]uint64       // pending run of dropped sequences (first, last); first 0 = none
	scratch []byte
	bad     bool // a live commit referenced a chunk not found before it
	err     error
}

const compactBuf = 1 << 20

func (w *compactWriter) emit(parts ...[]byte) {
	for _, p := range parts {
		w.buf = append(w.buf, p...)
		w.pos += int64(len(p))
	}
	if len(w.buf) >= compactBuf && w.err == nil {
		_, w.err = w.f.WriteAt(w.buf, w.flushed)
		w.flushed += int64(len(w.buf))
		w.buf = w.buf[:0]
	}
}

// dropSeq adds a dead message's sequence to the pending skip run.
func (w *compactWriter) dropSeq(seq uint64) {
	if w.skip[0] != 0 && seq == w.skip[1]+1 {
		w.skip[1] = seq
		return
	}
	w.flushSkip()
	w.skip = [2]uint64{seq, seq}
}

// dropRun adds a skip record's range to the pending run.
func (w *compactWriter) dropRun(first, last uint64) {
	if first == 0 || last < first {
		return
	}
	if w.skip[0] != 0 && first == w.skip[1]+1 {
		w.skip[1] = last
		return
	}
	w.flushSkip()
	w.skip = [2]uint64{first, last}
}

func (w *compactWriter) flushSkip() {
	if w.skip[0] == 0 {
		return
	}
	var rec [recHeaderSize + skipBodySize]byte
	putRecHeader(rec[:], recSkip, 0, skipBodySize)
	le.PutUint64(rec[recHeaderSize:], w.skip[0])
	le.PutUint64(rec[recHeaderSize+8:], w.skip[1])
	sealRecord(rec[:], rec[recHeaderSize:])
	w.emit(rec[:])
	w.skip = [2]uint64{}
}

// record handles one record of the old segment (id) found at off.
func (w *compactWriter) record(id uint64, off int64, h recHeader, body []byte, live map[int64]uint64, liveChunks map[int64]bool) bool {
	var hdr [recHeaderSize]byte
	putRecHeader(hdr[:], h.typ, h.flags, len(body))
	le.PutUint32(hdr[0:], h.crc)
	switch h.typ {
	case recChunk:
		data := off + recHeaderSize + chunkMetaSize
		if liveChunks[data] {
			w.chunks[data] = w.pos + recHeaderSize + chunkMetaSize
			w.emit(hdr[:], body)
		}
	case recMsg:
		if _, ok := live[off]; !ok {
			w.dropSeq(getMsgMeta(body).seq)
			return true
		}
		w.flushSkip()
		w.moves[off] = w.pos
		w.emit(hdr[:], body)
	case recCommit:
		m := getCommitMeta(body)
		if _, ok := live[off]; !ok {
			w.dropSeq(m.seq)
			return true
		}
		w.flushSkip()
		w.scratch = append(w.scratch[:0], body...)
		refs := w.scratch[commitMetaSz+m.subjLen+m.hdrLen:]
		for i := 0; i < m.nchunks; i++ {
			r := getChunkRef(refs[i*chunkRefSize:])
			if r.seg != id {
				continue
			}
			n, ok := w.chunks[r.off]
			if !ok {
				w.bad = true
				return false
			}
			r.off = n
			putChunkRef(refs[i*chunkRefSize:], r)
		}
		sealRecord(hdr[:], w.scratch)
		w.moves[off] = w.pos
		w.emit(hdr[:], w.scratch)
	case recSkip:
		w.dropRun(le.Uint64(body), le.Uint64(body[8:]))
	default: // segment header, delete, purge, applied: kept as they are
		w.flushSkip()
		w.emit(hdr[:], body)
	}
	return w.err == nil
}

// finish writes what is buffered.
func (w *compactWriter) finish() error {
	w.flushSkip()
	if w.err == nil && len(w.buf) > 0 {
		_, w.err = w.f.WriteAt(w.buf, w.flushed)
		w.flushed += int64(len(w.buf))
		w.buf = w.buf[:0]
	}
	return w.err
}

// replaySkipLocked applies a skip record: sequences first..last existed
// and were removed (their records compacted away, or a mirror's origin
// removed them: mirror.go); anything between the last sequence seen and
// first is lost. A skip that starts right after the last sequence seen is
// believed however long it is (a mirror's first message may sit at any
// sequence); one that leaves a hole must pass believableLocked.
func (l *Log) replaySkipLocked(r *replay, first, last uint64) {
	x := &l.mu.idx
	if first == 0 || last < first || last <= x.last || (first > x.last+1 && !l.believableLocked(r, last)) {
		return
	}
	l.lostUpToLocked(first - 1)
	x.pad(last)
}

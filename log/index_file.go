package log

import (
	"fmt"
	"os"
	"path"
	"strings"
)

// A sealed segment gets an index sidecar, %020d.idx beside it, so that Open
// replays it without reading its payloads: the sidecar holds, for every
// record of the segment, its offset, its 12-byte header and the bytes its
// record crc covers (all of the body except the payload of msg and chunk
// records). It is written in the background after a roll (and after a
// compaction rewrote the segment), through a temporary file, fsync and
// rename. Open uses it only for a segment that is not the newest, when its
// magic, segment id, segment size and trailing crc check out and every
// entry's record crc verifies; otherwise it scans the segment. The
// payloads' own checksums are then checked when they are read (ReadPayload)
// rather than at Open.
//
//	"BARGEIDX" | version u32 | segment id u64 | segment size u64 | count u32 |
//	count × (offset u64 | record header [12] | covered len u32 | covered) |
//	crc32c of all the above u32
const (
	idxSuffix     = ".idx"
	idxMagic      = "BARGEIDX" // format
	idxVersion    = 1          // format
	idxHeaderSize = 8 + 4 + 8 + 8 + 4
)

func idxPath(segPath string) string { return strings.TrimSuffix(segPath, segSuffix) + idxSuffix }

func isIdxFile(name string) (uint64, bool) {
	if !strings.HasSuffix(name, idxSuffix) {
		return 0, false
	}
	return parseSegName(strings.TrimSuffix(name, idxSuffix) + segSuffix)
}

// buildIndexFile scans sealed segment s (size bytes) and writes its sidecar.
// A segment with a record that does not verify gets none.
func (l *Log) buildIndexFile(s *segment, f File, size int64) error {
	sc := &scanner{f: f, size: size}
	b := make([]byte, idxHeaderSize, 64<<10)
	copy(b, idxMagic)
	le.PutUint32(b[8:], idxVersion)
	le.PutUint64(b[12:], s.id)
	le.PutUint64(b[20:], uint64(size))
	n := 0
	ok, err := scanCovered(sc, func(off int64, h recHeader, covered []byte) bool {
		var e [8 + recHeaderSize + 4]byte
		le.PutUint64(e[0:], uint64(off))
		putRecHeader(e[8:], h.typ, h.flags, int(h.len))
		le.PutUint32(e[8:], h.crc)
		le.PutUint32(e[8+recHeaderSize:], uint32(len(covered)))
		b = append(append(b, e[:]...), covered...)
		n++
		return true
	})
	if err != nil || !ok {
		return err
	}
	le.PutUint32(b[28:], uint32(n))
	b = le.AppendUint32(b, crc32c(b))
	return WriteFileAtomic(l.fs, l.dir, path.Base(idxPath(s.path)), b)
}

// writeIndexFiles gives every sealed segment without a sidecar one. It runs
// on the background goroutine, serialized with compaction.
func (l *Log) writeIndexFiles() error {
	l.compacting.Lock()
	defer l.compacting.Unlock()
	l.mu.RLock()
	if l.mu.closed || l.mu.cfg.Storage == MemoryStorage || len(l.mu.segs) < 2 {
		l.mu.RUnlock()
		return nil
	}
	segs := append([]*segment(nil), l.mu.segs[:len(l.mu.segs)-1]...)
	l.mu.RUnlock()
	for _, s := range segs {
		if s.indexed.Load() {
			continue
		}
		// s.f changes only under compacting, which is held.
		fi, err := s.f.Stat()
		if err != nil {
			return nil // dropped meanwhile
		}
		if err := l.buildIndexFile(s, s.f, fi.Size()); err != nil {
			return fmt.Errorf("log: index %s: %w", s.path, err)
		}
		s.indexed.Store(true)
	}
	return nil
}

// replayIndexFile replays sealed segment s from its sidecar and reports
// whether it could; on false nothing was applied and the caller scans.
func (l *Log) replayIndexFile(r *replay, s *segment, size int64) bool {
	f, err := l.fs.OpenFile(idxPath(s.path), os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < idxHeaderSize+4 || fi.Size() > 1<<31 {
		return false
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return false
	}
	body, sum := b[:len(b)-4], le.Uint32(b[len(b)-4:])
	if crc32c(body) != sum || string(body[:8]) != idxMagic || le.Uint32(body[8:]) != idxVersion ||
		le.Uint64(body[12:]) != s.id || int64(le.Uint64(body[20:])) != size {
		return false
	}
	// Check every entry before applying any.
	type ent struct {
		off  int64
		h    recHeader
		body []byte
	}
	count := int(le.Uint32(body[28:]))
	ents := make([]ent, 0, min(count, len(body)/(8+recHeaderSize+4)))
	p := body[idxHeaderSize:]
	for range count {
		if len(p) < 8+recHeaderSize+4 {
			return false
		}
		off := int64(le.Uint64(p))
		hb := p[8 : 8+recHeaderSize]
		h := parseRecHeader(hb)
		c := int(le.Uint32(p[8+recHeaderSize:]))
		p = p[8+recHeaderSize+4:]
		if c > len(p) || !h.plausible(hb) || c > int(h.len) || off < 0 || off+recHeaderSize+int64(h.len) > size {
			return false
		}
		cov := p[:c]
		p = p[c:]
		if crc32cUpdate(crc32c(hb[4:recHeaderSize]), cov) != h.crc {
			return false
		}
		if coveredLen(h.typ, cov) != c || (h.typ != recMsg && h.typ != recChunk && c != int(h.len)) {
			return false
		}
		ents = append(ents, ent{off, h, cov})
	}
	if len(p) != 0 {
		return false
	}
	for _, e := range ents {
		l.replayRecordLocked(r, s, e.off, e.h, e.body)
	}
	s.indexed.Store(true)
	return true
}

// Reads while building a sidecar: after a record with a large payload the
// next read fetches little, so the payload's pages are never read.
const (
	coverWindow      = 64 << 10
	coverSmallWindow = 4 << 10
	coverLargeRecord = 32 << 10
)

// scanCovered walks sealed segment sc record by record and calls fn with
// each record's header and the body bytes its record crc covers, verified
// against that crc; covered is valid only during the call. The payloads of
// msg and chunk records are skipped, not read: they carry their own crc,
// checked when a payload is read (ReadPayload), so a segment of large
// messages costs a few small reads per chunk instead of a read of the whole
// file. ok is false at the first record that does not verify (or when fn
// returns false); err is a read error.
func scanCovered(sc *scanner, fn func(off int64, h recHeader, covered []byte) bool) (ok bool, err error) {
	sc.win = coverSmallWindow
	for off := int64(0); off < sc.size; {
		if off+recHeaderSize > sc.size {
			return false, nil
		}
		b, err := sc.window(off, recHeaderSize)
		if err != nil {
			return false, err
		}
		h := parseRecHeader(b)
		if !h.plausible(b) || off+recHeaderSize+int64(h.len) > sc.size {
			return false, nil
		}
		n := int(h.len)
		switch h.typ {
		case recMsg:
			if n < msgMetaSize {
				return false, nil
			}
			m, err := sc.window(off, recHeaderSize+msgMetaSize)
			if err != nil {
				return false, err
			}
			n = msgMetaSize + int(le.Uint16(m[recHeaderSize+20:])) + int(le.Uint32(m[recHeaderSize+22:]))
			if n > int(h.len) {
				return false, nil
			}
		case recChunk:
			if n < chunkMetaSize {
				return false, nil
			}
			n = chunkMetaSize
		}
		rec, err := sc.window(off, recHeaderSize+n)
		if err != nil {
			return false, err
		}
		covered := rec[recHeaderSize:]
		if h.typ != recMsg && h.typ != recChunk && coveredLen(h.typ, covered) != n {
			return false, nil
		}
		if crc32cUpdate(crc32c(rec[4:recHeaderSize]), covered) != h.crc {
			return false, nil
		}
		if !fn(off, h, covered) {
			return false, nil
		}
		sc.win = coverWindow
		if h.len > coverLargeRecord {
			sc.win = coverSmallWindow
		}
		off += recHeaderSize + int64(h.len)
	}
	return true, nil
}

package log

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

const segSuffix = ".seg"

// segment is one file of the log. Its id (the number in its name) is at
// least the first sequence that can be committed in it, and ids increase
// with file order.
type segment struct {
	id   uint64
	path string
	f    File
	// live counts live messages whose first record is in this segment plus
	// appenders (and commits in flight) that wrote into it; the segment is
	// removed only when it and every older one reach zero.
	live atomic.Int64
	// indexed: the segment's index sidecar is known to be written and
	// current (index_file.go).
	indexed atomic.Bool
	// maxEntry is the highest raft entry index with a record in this
	// segment (replica logs; raftlog.go).
	maxEntry atomic.Uint64
}

func segName(id uint64) string { return fmt.Sprintf("%020d%s", id, segSuffix) }

// segVersion is the format version of the log's segments.
func (l *Log) segVersion() uint32 {
	if l.opts.Replica {
		return segVersionRaft
	}
	return segVersion
}

func parseSegName(name string) (uint64, bool) {
	if !strings.HasSuffix(name, segSuffix) || len(name) != 20+len(segSuffix) {
		return 0, false
	}
	id, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
	return id, err == nil
}

// findSeg returns the segment with id among segs (sorted by id), or nil.
func findSeg(segs []*segment, id uint64) *segment {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].id >= id })
	if i < len(segs) && segs[i].id == id {
		return segs[i]
	}
	return nil
}

// createSegmentLocked makes a new active segment: it syncs the current one
// (so nothing in a later segment can outlive what it depends on), creates
// the file, writes its header record, syncs the directory, and publishes it.
// l.w must be held.
func (l *Log) createSegmentLocked() error {
	if err := l.flushPendLocked(); err != nil {
		return err
	}
	id := l.w.nextSeq
	if a := l.w.active; a != nil {
		if err := a.f.Sync(); err != nil {
			return l.failLocked(fmt.Errorf("log: sync segment %d before roll: %w", a.id, err))
		}
		id = max(id, a.id+1)
	}
	p := path.Join(l.dir, segName(id))
	f, err := l.fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return l.failLocked(fmt.Errorf("log: create segment: %w", err))
	}
	// A segment that cannot be set up is removed again (it holds nothing;
	// on a full disk its blocks are wanted).
	abandon := func(what string, err error) error {
		f.Close()
		l.fs.Remove(p)
		return l.failLocked(fmt.Errorf("log: %s: %w", what, err))
	}
	s := &segment{id: id, path: p, f: f}
	var rec [recHeaderSize + segBodySize]byte
	putRecHeader(rec[:], recSegment, 0, segBodySize)
	b := rec[recHeaderSize:]
	copy(b, segMagic)
	le.PutUint32(b[8:], l.segVersion())
	le.PutUint64(b[12:], id)
	floor, ts := l.w.nextSeq-1, l.w.lastTs
	if l.opts.Replica {
		// What the last applied marker covers (replica_recover.go).
		floor, ts = l.w.markSeq, l.w.markTs
	}
	le.PutUint64(b[20:], floor)
	le.PutUint64(b[28:], uint64(ts))
	sealRecord(rec[:], b)
	if _, err := f.WriteAt(rec[:], 0); err != nil {
		return abandon("write segment header", err)
	}
	// The header is synced with the file's creation, so the new segment's
	// durable point starts after it (writefail.go).
	if err := f.Sync(); err != nil {
		return abandon("sync segment header", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return abandon("sync dir", err)
	}
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, s)
	l.mu.Unlock()
	rolled := l.w.active != nil
	l.w.active = s
	l.w.off = int64(len(rec))
	l.w.good = segPos{s, l.w.off}
	l.activeSeg.Store(s)
	if rolled {
		l.kickCompact() // a segment was sealed: there may be one to compact
	}
	return nil
}

// Small-record buffering: a record of at most pendRecord bytes is copied
// into l.w.pend instead of being written at once, and the buffer goes to the
// file in one pwrite when it would pass pendMax, before a larger record, at
// a segment roll, and by the group-commit leader before it syncs and
// publishes a batch. Nothing is acknowledged or readable before its batch
// is led, so this changes how many system calls reach the disk, not what is
// durable when.
const (
	pendRecord = 16 << 10
	pendMax    = 256 << 10
)

// writeLocked appends one record, given as up to two byte slices that are
// written back to back, to the active segment, rolling first when the
// record would pass the segment size. It returns the segment and the
// record's offset. A small record may only be buffered (see pendRecord);
// a, b are not retained either way. Any I/O error sticks. l.w must be held.
func (l *Log) writeLocked(a, b []byte) (*segment, int64, error) {
	if err := l.writableLocked(); err != nil {
		return nil, 0, err
	}
	n := int64(len(a) + len(b))
	if l.w.off+n > l.opts.SegmentSize && l.w.off > recHeaderSize+segBodySize {
		if err := l.createSegmentLocked(); err != nil {
			return nil, 0, err
		}
	}
	s, off := l.w.active, l.w.off
	if n <= pendRecord {
		if len(l.w.pend)+int(n) > pendMax {
			if err := l.flushPendLocked(); err != nil {
				return nil, 0, err
			}
		}
		if l.w.pend == nil {
			l.w.pend = make([]byte, 0, pendMax)
		}
		if len(l.w.pend) == 0 {
			l.w.pendOff = off
		}
		l.w.pend = append(append(l.w.pend, a...), b...)
		l.w.off += n
		return s, off, nil
	}
	if err := l.flushPendLocked(); err != nil {
		return nil, 0, err
	}
	if _, err := s.f.WriteAt(a, off); err != nil {
		return nil, 0, l.failLocked(fmt.Errorf("log: write segment %d: %w", s.id, err))
	}
	if len(b) > 0 {
		if _, err := s.f.WriteAt(b, off+int64(len(a))); err != nil {
			return nil, 0, l.failLocked(fmt.Errorf("log: write segment %d: %w", s.id, err))
		}
	}
	l.w.off += n
	return s, off, nil
}

// flushPendLocked writes the buffered small records to the active segment.
// A write error sticks and is returned. l.w must be held.
func (l *Log) flushPendLocked() error {
	if len(l.w.pend) == 0 {
		return nil
	}
	if err := l.sticky(); err != nil {
		// A write failed: these records are rolled back, not written.
		l.w.pend = l.w.pend[:0]
		return err
	}
	s := l.w.active
	_, err := s.f.WriteAt(l.w.pend, l.w.pendOff)
	l.w.pend = l.w.pend[:0]
	if err != nil {
		return l.failLocked(fmt.Errorf("log: write segment %d: %w", s.id, err))
	}
	return nil
}

type errBox struct{ err error }

// sticky returns the sticky write error, or nil.
func (l *Log) sticky() error {
	if b := l.werr.Load(); b != nil {
		return b.err
	}
	return nil
}

// dropPrefixLocked drops segments from the front while nothing live uses
// them (reap closes and removes their files); the newest segment is never
// dropped. It runs after every applied batch, so it also hands the batch's
// evictions to the eviction log (evict.go). l.mu must be held.
func (l *Log) dropPrefixLocked() {
	l.noteEvictionsLocked()
	n := 0
	for n < len(l.mu.segs)-1 && l.mu.segs[n].live.Load() == 0 && !(l.opts.Replica && l.raftKeeps(l.mu.segs[n])) {
		n++
	}
	if n == 0 {
		return
	}
	l.mu.doomed = append(l.mu.doomed, l.mu.segs[:n]...)
	clear(l.mu.segs[:n])
	l.mu.segs = l.mu.segs[n:]
	if !l.mu.reaping {
		l.mu.reaping = true
		l.reaper.Add(1)
		go l.reap()
	}
}

// reap closes and removes the segments dropPrefixLocked dropped, until none
// is left. It runs off the commit path: unlinking a large segment frees its
// blocks and can take milliseconds that no commit, reader or purge should
// wait for. A crash before the removal leaves a segment whose messages the
// durable records already remove, as a crash between sync and removal
// always could.
func (l *Log) reap() {
	defer l.reaper.Done()
	for {
		l.mu.Lock()
		doomed := l.mu.doomed
		l.mu.doomed = nil
		if len(doomed) == 0 {
			l.mu.reaping = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.unlinkSegments(doomed)
	}
}

package log

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Background verification. Open replays a sealed segment from its index
// sidecar without reading its payloads (index_file.go), so a flipped bit in
// an old payload would otherwise surface only when that message is read.
// After Open, one goroutine per log re-reads the messages whose first
// record lies in a segment that was sealed at Open, in sequence order, and
// checks every checksum (record metadata and every payload extent),
// reading at most Options.VerifyRate bytes per second (paced with the
// injected clock). It reads through the same extents a consumer would, so
// messages removed or rewritten meanwhile are skipped, not reported.
//
// A message that fails is flagged damaged: it stays in the counts and the
// limits (so a restart, which knows nothing of the flag until the next
// pass, keeps the same messages), it is listed in State().Lost, LoadMsg
// returns ErrCorrupt for it, and LoadNext skips it, so a consumer moves on.
// Each sealed segment with damaged messages gets one error line in the log
// with the first and last damaged sequence and their count. Nothing is
// written: the damage is found again by the next Open's pass.
//
// Until the pass has reached a message, LoadMsg and LoadNext check that
// message's payload checksums themselves before they return it
// (damagedOnLoad), so a large message whose extents a transport sends
// without reading them (sendfile) is never sent damaged either.
//
// Not verified: segments sealed after Open (their checksums were computed
// as they were written), records of removed messages, memory and replica
// logs.

// verifyState is the background verifier's lifecycle; the channels are
// made at Open and never replaced.
type verifyState struct {
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the pass ends (or does not run)
	// upTo is the last sequence the pass covers (0 once it has ended or
	// when it does not run); reached, the sequence up to which it has
	// checked every message. A load of a sequence in (reached, upTo] is
	// checked by the loader (damagedOnLoad).
	upTo, reached atomic.Uint64
	bufs          sync.Pool // *[]byte of verifyPiece bytes, for damagedOnLoad
}

const (
	verifyPiece = 64 << 10              // bytes read per call
	verifySlack = 10 * time.Millisecond // pacing: sleep only once this far ahead
)

// VerifyDone returns a channel closed when the background verification of
// the segments sealed at Open has finished (at once when there is nothing
// to verify or it is off), or the log is closing.
func (l *Log) VerifyDone() <-chan struct{} { return l.vf.done }

// startVerify starts the background pass (see the comment at the top).
func (l *Log) startVerify() {
	l.mu.RLock()
	n := len(l.mu.segs)
	mem := l.mu.cfg.Storage == MemoryStorage
	var boundary uint64
	if n > 0 {
		boundary = l.mu.segs[n-1].id
	}
	last := l.mu.idx.last
	l.mu.RUnlock()
	if l.opts.VerifyRate < 0 || l.opts.Replica || mem || n < 2 {
		close(l.vf.done)
		return
	}
	l.vf.upTo.Store(last)
	l.async.Add(1)
	go l.verifyPass(boundary, last)
}

// verifyPass checks every live message up to last whose first record is in
// a segment older than boundary (the id of the segment active at Open).
func (l *Log) verifyPass(boundary, last uint64) {
	defer l.async.Done()
	defer close(l.vf.done)
	defer l.vf.upTo.Store(0)
	p := pacer{clock: l.opts.Clock, rate: l.opts.VerifyRate, start: l.opts.Clock.Now(), stop: l.vf.stop}
	buf := make([]byte, verifyPiece)
	var sm StoredMsg
	var run damageRun
	damaged := 0
	for seq := uint64(1); seq <= last; seq++ {
		select {
		case <-l.vf.stop:
			return
		default:
		}
		l.mu.RLock()
		if l.mu.closed {
			l.mu.RUnlock()
			return
		}
		x := &l.mu.idx
		seq = max(seq, x.base)
		end := min(last, x.base+uint64(len(x.ents))-1)
		var e *entry
		for ; len(x.ents) > 0 && seq <= end; seq++ {
			if c := x.get(seq); c.live && !c.lost && c.first.id < boundary {
				e = c
				break
			}
		}
		if e == nil {
			l.mu.RUnlock()
			break
		}
		seg, off := e.seg, e.off
		err := l.loadLocked(seq, &sm)
		l.mu.RUnlock()
		if run.seg != seg {
			run.report(l)
			run = damageRun{seg: seg}
		}
		bad := errors.Is(err, ErrCorrupt)
		if err == nil {
			var stopped bool
			if bad, stopped = checkExtents(&sm, buf, &p); stopped {
				return
			}
		}
		if bad && l.markDamaged(seq, seg, off) {
			run.add(seq)
			damaged++
		}
		l.vf.reached.Store(seq)
	}
	run.report(l)
	l.opts.Logger.Debug("log: sealed segments verified", "dir", l.dir, "bytes", p.bytes, "damaged", damaged)
}

// checkExtents reads sm's payload extents and compares their checksums:
// bad when one differs. A read error (the message was removed or its
// segment rewritten meanwhile) is not damage. stopped: Close was called.
func checkExtents(sm *StoredMsg, buf []byte, p *pacer) (bad, stopped bool) {
	for _, x := range sm.Extents {
		var crc uint32
		for done := int64(0); done < x.Len; {
			n := min(int64(len(buf)), x.Len-done)
			if _, err := x.R.ReadAt(buf[:n], x.Off+done); err != nil {
				return false, false
			}
			crc = crc32cUpdate(crc, buf[:n])
			done += n
			if !p.take(n) {
				return false, true
			}
		}
		if crc != x.CRC {
			return true, false
		}
	}
	return false, false
}

// damagedOnLoad checks the payload of sm, just loaded, when the background
// pass has not reached it yet, and reports whether it is damaged (then
// flagged, as the pass would). Outside that window it costs two atomic
// loads.
func (l *Log) damagedOnLoad(sm *StoredMsg) bool {
	if seq := sm.Seq; seq > l.vf.upTo.Load() || seq <= l.vf.reached.Load() {
		return false
	}
	bp, _ := l.vf.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, verifyPiece)
		bp = &b
	}
	bad, _ := checkExtents(sm, *bp, nil)
	l.vf.bufs.Put(bp)
	if bad && l.markDamaged(sm.Seq, sm.seg, sm.off) {
		l.opts.Logger.Error("log: damaged message found on read", "segment", sm.seg.path, "seq", sm.Seq)
	}
	return bad
}

// markDamaged flags message seq as damaged if it is still the live message
// whose record is at seg/off, and reports whether it did.
func (l *Log) markDamaged(seq uint64, seg *segment, off int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	x := &l.mu.idx
	e := x.get(seq)
	if e == nil || !e.live || e.lost || e.seg != seg || e.off != off {
		return false
	}
	e.lost = true
	x.markLost(seq)
	return true
}

// damageRun collects the damaged sequences found in one segment, for one
// log line.
type damageRun struct {
	seg         *segment
	first, last uint64
	n           int
}

func (r *damageRun) add(seq uint64) {
	if r.n == 0 {
		r.first = seq
	}
	r.last = seq
	r.n++
}

func (r *damageRun) report(l *Log) {
	if r.n == 0 {
		return
	}
	l.opts.Logger.Error("log: damaged messages in a sealed segment", "segment", r.seg.path,
		"first_seq", r.first, "last_seq", r.last, "count", r.n)
}

// pacer holds a reader to rate bytes per second on the injected clock.
type pacer struct {
	clock Clock
	rate  int64
	start time.Time
	bytes int64
	stop  <-chan struct{}
}

// take accounts n bytes read and waits until reading them was allowed; it
// returns false when stop was closed meanwhile. A nil pacer never waits.
func (p *pacer) take(n int64) bool {
	if p == nil {
		return true
	}
	p.bytes += n
	due := p.start.Add(time.Duration(float64(p.bytes) / float64(p.rate) * float64(time.Second)))
	d := due.Sub(p.clock.Now())
	if d < verifySlack {
		return true
	}
	ch := make(chan struct{})
	t := p.clock.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-p.stop:
		t.Stop()
		return false
	}
}

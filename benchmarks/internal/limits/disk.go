package limits

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The write pattern of barge's log (package log at the repository root),
// mirrored here because the benchmarks module does not import barge. Keep
// these in step with log/config.go (defaults), log/record.go (record
// layout) and log/segment.go (small-record buffering, segment roll).
const (
	logSegmentSize = 64 << 20 // Options.SegmentSize default: a record that would pass it starts a new segment
	logChunkSize   = 1 << 20  // Options.ChunkSize default: larger payloads are chunk records
	logPendRecord  = 16 << 10 // records up to this size are buffered...
	logPendMax     = 256 << 10
	recHeader      = 12             // crc, type, flags, reserved, len
	msgMeta        = 34             // seq, ts, payload crc, subject len, header len, size
	chunkMeta      = 16             // txn, index, data crc
	commitMeta     = 42             // seq, ts, subject len, header len, size, txn, nchunks
	chunkRef       = 24             // per chunk in a commit record
	segHeaderRec   = recHeader + 36 // the record that opens a segment
)

// DiskShape is how one workload's messages reach barge's log: what a
// publisher stores, and how many messages it keeps unacknowledged.
type DiskShape struct {
	Payload int64 // payload bytes of one stored message
	Subject int   // subject length
	Header  int   // header block length
	// Window is how many messages the publisher keeps in flight (written
	// but not yet acknowledged, i.e. not yet covered by an fsync); at least 1.
	Window int
	// Object, when > 0, makes the publisher an Object Store put: after
	// Object messages it stores one meta message of MetaPayload bytes
	// (MetaHeader of header) and waits until everything is acknowledged
	// before the next object.
	Object      int
	MetaPayload int
	MetaHeader  int
}

// maxRecord is the largest record a message of the shape is written as.
func (s DiskShape) maxRecord() int64 {
	n := int64(logPendRecord)
	if s.Payload > logChunkSize {
		chunks := (s.Payload + logChunkSize - 1) / logChunkSize
		n = max(n, recHeader+chunkMeta+logChunkSize, recHeader+commitMeta+int64(s.Subject+s.Header)+chunks*chunkRef)
	} else {
		n = max(n, recHeader+msgMeta+int64(s.Subject+s.Header)+s.Payload)
	}
	return max(n, recHeader+msgMeta+int64(s.Subject+s.MetaHeader+s.MetaPayload))
}

// DiskResult is what DiskLog measured.
type DiskResult struct {
	Bps     float64       // acknowledged payload bytes per second
	Bytes   int64         // acknowledged payload bytes
	Msgs    int64         // acknowledged messages
	Written int64         // bytes written to segments (records, headers)
	Writes  int64         // pwrite calls
	Syncs   int64         // group-commit fsyncs (the rolls' are counted in Rolls)
	Rolls   int64         // segments started after the first
	Elapsed time.Duration // from the first write to the last acknowledgement
}

// BytesPerSync is the mean number of segment bytes one group-commit fsync
// made durable.
func (r DiskResult) BytesPerSync() float64 {
	if r.Syncs == 0 {
		return 0
	}
	return float64(r.Written) / float64(r.Syncs)
}

// WritesPerSync is the mean number of pwrite calls per group-commit fsync.
func (r DiskResult) WritesPerSync() float64 {
	if r.Syncs == 0 {
		return 0
	}
	return float64(r.Writes) / float64(r.Syncs)
}

// DiskLog writes messages of shape into fresh segment files under dir the
// way barge's log does with its default settings, with no CPU spent on
// anything else, and returns the acknowledged payload rate: the most a
// durable publish of that shape can reach on this disk.
//
// As the log: segments are created with O_RDWR|O_CREATE|O_TRUNC and no
// preallocation, start with a header record, and roll at 64 MiB (fsync of
// the old segment, create, header write, fsync, directory fsync); a
// message of at most 1 MiB is one record, larger ones 1 MiB chunk records
// and a commit record; records of at most 16 KiB are buffered and written
// in pieces of up to 256 KiB, larger ones with one pwrite each. One
// goroutine (the publisher and the server's event loop) writes; another
// leads the group commit: whenever a message is waiting and no fsync is
// running, it writes out the buffer and fsyncs once for everything written
// so far, which acknowledges the messages committed by then. The writer
// keeps at most shape.Window messages unacknowledged. Payloads are not
// checksummed (the log's CRC-32C costs CPU, not disk).
//
// It stops starting messages (objects) once maxBytes of payload are
// written or maxDur has passed, after at least two messages (one object).
// The files are removed afterwards.
func DiskLog(dir string, shape DiskShape, maxBytes int64, maxDur time.Duration) (DiskResult, error) {
	if shape.Payload < 0 || shape.Window < 1 {
		return DiskResult{}, errors.New("limits: DiskLog needs Payload >= 0 and Window >= 1")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return DiskResult{}, err
	}
	p := &probe{dir: dir, shape: shape, pend: make([]byte, 0, logPendMax)}
	p.cond = sync.NewCond(&p.mu)
	defer p.cleanup()
	if err := p.roll(); err != nil {
		return DiskResult{}, err
	}
	p.res.Rolls = 0
	p.buf = make([]byte, shape.maxRecord())
	fill(p.buf, 3)

	syncErr := make(chan error, 1)
	go func() { syncErr <- p.leader() }()
	start := time.Now()
	werr := p.publish(start, maxBytes, maxDur)
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	serr := <-syncErr
	if err := errors.Join(werr, serr); err != nil {
		return DiskResult{}, err
	}
	r := p.res
	r.Elapsed = p.lastAck.Sub(start)
	if r.Elapsed <= 0 {
		return DiskResult{}, errors.New("limits: no time elapsed")
	}
	r.Bps = float64(r.Bytes) / r.Elapsed.Seconds()
	return r, nil
}

// probe is one DiskLog run. mu guards everything below it; the leader
// releases it during its fsync, as the log's leader does.
type probe struct {
	dir   string
	shape DiskShape
	buf   []byte // the largest record's bytes (incompressible)

	mu      sync.Mutex
	cond    *sync.Cond // signalled when a message is committed or acknowledged, or on close
	seg     *os.File   // the active segment
	segs    []*os.File // every segment created, open until cleanup
	off     int64      // where the active segment's data ends (pend included)
	pend    []byte     // buffered small records...
	pendOff int64      // ...and where they go
	// committed counts messages whose last record is written; acked those
	// an fsync covered.
	committed, acked int64
	payload          []int64 // payload of committed, unacknowledged messages, in order
	closed           bool    // the writer is done
	err              error   // the first write or sync error
	lastAck          time.Time
	res              DiskResult
}

// publish writes messages until the budget is spent, keeping at most
// Window unacknowledged.
func (p *probe) publish(start time.Time, maxBytes int64, maxDur time.Duration) error {
	s := p.shape
	var sent, msgs int64
	for {
		if msgs >= 2 && (sent >= maxBytes || time.Since(start) >= maxDur) {
			return nil
		}
		n := max(s.Object, 1)
		for i := 0; i < n; i++ {
			if err := p.message(s.Payload, s.Subject, s.Header, s.Payload); err != nil {
				return err
			}
			sent += s.Payload
			msgs++
		}
		if s.Object > 0 {
			// The meta message is not object payload: it counts no bytes.
			if err := p.message(int64(s.MetaPayload), s.Subject, s.MetaHeader, 0); err != nil {
				return err
			}
			msgs = max(msgs, 2) // one whole object is enough
			// The put returns once every message of the object is acknowledged.
			p.mu.Lock()
			for p.acked < p.committed && p.err == nil {
				p.cond.Wait()
			}
			err := p.err
			p.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
}

// message stores one message: waits for room in the window, writes its
// record(s), and commits it for the group commit; counted is the payload
// its acknowledgement adds to the result.
func (p *probe) message(payload int64, subj, hdr int, counted int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.committed-p.acked >= int64(p.shape.Window) && p.err == nil {
		p.cond.Wait()
	}
	if p.err != nil {
		return p.err
	}
	if payload <= logChunkSize {
		if err := p.write(recHeader + msgMeta + int64(subj+hdr) + payload); err != nil {
			return err
		}
	} else {
		var chunks int64
		for left := payload; left > 0; left -= logChunkSize {
			// Chunks are framed in the appender's buffer and written in one
			// pwrite each (the event loop hands over socket reads smaller
			// than a chunk). The writer lock is released between chunks, as
			// the appender does, so the leader can flush and sync.
			if err := p.write(recHeader + chunkMeta + min(left, logChunkSize)); err != nil {
				return err
			}
			chunks++
			p.mu.Unlock()
			p.mu.Lock()
			if p.err != nil {
				return p.err
			}
		}
		if err := p.write(recHeader + commitMeta + int64(subj+hdr) + chunks*chunkRef); err != nil {
			return err
		}
	}
	p.committed++
	p.payload = append(p.payload, counted)
	p.cond.Broadcast()
	return nil
}

// write appends one record of n bytes as the log's writeLocked does:
// rolling first when it would pass the segment size, buffering it when
// small. p.mu is held.
func (p *probe) write(n int64) error {
	if p.off+n > logSegmentSize && p.off > segHeaderRec {
		if err := p.roll(); err != nil {
			return p.fail(err)
		}
	}
	if n <= logPendRecord {
		if len(p.pend)+int(n) > logPendMax {
			if err := p.flush(); err != nil {
				return err
			}
		}
		if len(p.pend) == 0 {
			p.pendOff = p.off
		}
		p.pend = append(p.pend, p.buf[:n]...)
		p.off += n
		return nil
	}
	if err := p.flush(); err != nil {
		return err
	}
	if _, err := p.seg.WriteAt(p.buf[:n], p.off); err != nil {
		return p.fail(err)
	}
	p.res.Writes++
	p.res.Written += n
	p.off += n
	return nil
}

// flush writes the buffered small records in one pwrite. p.mu is held.
func (p *probe) flush() error {
	if len(p.pend) == 0 {
		return nil
	}
	_, err := p.seg.WriteAt(p.pend, p.pendOff)
	p.res.Writes++
	p.res.Written += int64(len(p.pend))
	p.pend = p.pend[:0]
	if err != nil {
		return p.fail(err)
	}
	return nil
}

// roll starts a new segment as the log's createSegmentLocked does: flush
// and fsync the active one, create the next, write its header record,
// fsync it and the directory. p.mu is held.
func (p *probe) roll() error {
	if err := p.flush(); err != nil {
		return err
	}
	if p.seg != nil {
		if err := p.seg.Sync(); err != nil {
			return err
		}
		// Sealed segments stay open, as in the log: the leader may be
		// syncing this one right now.
	}
	name := filepath.Join(p.dir, fmt.Sprintf("%020d.seg", len(p.segs)+1))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	p.segs = append(p.segs, f)
	p.seg = f
	var hdr [segHeaderRec]byte
	binary.LittleEndian.PutUint32(hdr[8:], segHeaderRec-recHeader)
	copy(hdr[recHeader:], "BARGESEG")
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := syncDir(p.dir); err != nil {
		return err
	}
	p.off = segHeaderRec
	p.res.Rolls++
	return nil
}

// fail records the first error and wakes everyone. p.mu is held.
func (p *probe) fail(err error) error {
	if p.err == nil {
		p.err = err
		p.cond.Broadcast()
	}
	return p.err
}

// leader is the group commit: while messages wait, flush the buffer, fsync
// the active segment once (without the lock, so the writer goes on
// writing), and acknowledge every message committed before the flush.
func (p *probe) leader() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.committed == p.acked && !p.closed && p.err == nil {
			p.cond.Wait()
		}
		if p.err != nil {
			return p.err
		}
		if p.committed == p.acked {
			return nil // closed, nothing waits
		}
		batch := p.committed - p.acked
		if err := p.flush(); err != nil {
			return err
		}
		f := p.seg
		p.mu.Unlock()
		err := f.Sync()
		now := time.Now()
		p.mu.Lock()
		if err != nil {
			return p.fail(err)
		}
		p.res.Syncs++
		for _, b := range p.payload[:batch] {
			p.res.Bytes += b
		}
		p.payload = append(p.payload[:0], p.payload[batch:]...)
		p.acked += batch
		p.res.Msgs += batch
		p.lastAck = now
		p.cond.Broadcast()
	}
}

func (p *probe) cleanup() {
	for _, f := range p.segs {
		f.Close()
		os.Remove(f.Name())
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// The shapes of the suite's durable workloads (internal/workload).
const (
	jsPubSubject   = len("bench.js.pub")
	objChunk       = 128 << 10               // nats.go's Object Store chunk size
	objSubject     = len("$O.BENCH.C.") + 22 // chunk subject: bucket and a NUID
	objMetaHeader  = len("NATS/1.0\r\nNats-Rollup: sub\r\n\r\n")
	objMetaPayload = 300  // the object's info as JSON, about
	objInflight    = 4000 // nats.go's async publish limit (messages)
	maxWindowMsgs  = 1000 // workload.windowMsgs' upper bound
)

// JSPubShape is js-pub at payload size: async publish of size-byte
// messages, no headers, with window bytes in flight turned into a message
// count as the workload does (at least 2, at most 1000 messages).
func JSPubShape(size, window int64) DiskShape {
	return DiskShape{Payload: size, Subject: jsPubSubject, Window: int(max(2, min(window/max(size, 1), maxWindowMsgs)))}
}

// ObjPutShape is obj-put of size-byte objects: nats.go stores 128 KiB
// chunks with async publish (up to 4000 unacknowledged), then the meta
// message, and waits for every acknowledgement before the put returns.
func ObjPutShape(size int64) DiskShape {
	chunk := min(size, objChunk)
	n := int((size + objChunk - 1) / objChunk)
	if size == 0 {
		n = 0
	}
	return DiskShape{Payload: chunk, Subject: objSubject, Window: objInflight, Object: max(n, 1),
		MetaPayload: objMetaPayload, MetaHeader: objMetaHeader}
}

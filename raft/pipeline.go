package raft

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v3"
	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

// The ordered publish pipeline.
//
// Every publish of a shard goes through one queue, in the order Submit was
// called (a connection's event loop calls it in wire order), and is stored
// in that order. Two goroutines per shard, started when there is work and
// gone when there is none, drain it:
//
//   - the chunker proposes the chunk entries of large messages (over
//     batchMax), in queue order, keeping up to Config.MaxInFlight chunk
//     entries in flight across messages, so an 8 MiB message is not eight
//     round trips and the next message's chunks follow without a gap;
//   - the committer proposes commit-bearing entries: a group entry (kind
//     11) of every message at the head of the queue that is ready, small
//     messages inline (their one chunk and their commit), large ones as the
//     commit of chunks already applied, with up to Config.MaxGroups groups
//     in flight (committer.go). A large message is ready when its chunk
//     entries are applied here; the messages behind it wait for it.
//
// Order: chunks may land in any order (they are pending data, indexed by
// message id and chunk index); only commits assign sequences, and the
// groups of one pipeline are applied in the order they were proposed,
// whatever raft does with them (committer.go: each group carries the
// pipeline's id and its sequence, and the state machine applies a group
// only after its predecessor; one that comes early is refused and
// proposed again in turn). A retried group (timed out or dropped) is the
// same bytes proposed again; if the first copy commits after all, its
// messages are duplicates of themselves (the log answers a committed
// message id with its original sequence). So the messages submitted to one
// shard are stored in submission order, whatever their sizes.
//
// Memory: a small message's payload is held once (the caller's buffer,
// handed over) until its group is applied; a large message's body is read
// a chunk at a time, and at most MaxInFlight chunk buffers are alive per
// shard (recycled), besides Dragonboat's own copies of entries in flight.

// pubItem is one submitted message.
type pubItem struct {
	c    log.Commit // Hdr is owned (copied at Submit)
	done func(seq uint64, ts int64, err error)
	mem  int64 // payload bytes held in memory (counted in pipeline.memBytes)

	// small messages: the payload (owned) and its CRC-32C.
	data []byte
	crc  uint32

	// large messages: body is read by the chunker; the fields below are
	// the chunker's until ready is set (under pipeline.mu).
	large   bool
	body    io.Reader
	size    int64
	flights int  // chunk entries proposed and not yet settled
	sealed  bool // no more chunk entries will be proposed
	ctx     context.Context
	cancel  context.CancelFunc
	err     error // chunking failed: the message is not committed
	ready   bool  // the committer may take it (pipeline.mu)

	res sm.Result // this message's part of its group's result

	// An atomic batch (atomic.go): subs are its messages (not in the
	// queue; large ones go through the chunker), waiting how many of them
	// are not ready yet (pipeline.mu); a sub's parent is its batch.
	atomic  bool
	subs    []*pubItem
	waiting int
	parent  *pubItem
}

// pipeline is a shard's publish queue (see above).
type pipeline struct {
	// mu guards queue, chunks, committing and chunking, and pubItem.ready.
	mu         sync.Mutex
	queue      []*pubItem // submitted, not yet committed, in order
	chunks     []*pubItem // large messages the chunker has not started
	committing bool       // the committer goroutine runs
	chunking   bool       // the chunker goroutine runs
	// wake tells the committer that an item became ready (capacity 1: a
	// wake-up is never lost).
	wake chan struct{}
	// memBytes is the payload held in memory by queued messages.
	memBytes atomic.Int64
	// id names this pipeline in its group entries (random); nextGroup is
	// the sequence of the next group (from 1), the committer's
	// (committer.go).
	id        uint64
	nextGroup uint64
	// spare holds settled groups for reuse (the committer's only), so a
	// group's slices and encoding buffer are not allocated anew each time.
	spare []*groupFlight
}

// pipelineAttempt bounds one attempt of a pipeline entry: an election
// timeout (at least 500 ms), not Config.ProposalTimeout. The queue waits
// for its head, so an entry proposed through a leader that died must be
// proposed again soon after a new one is elected, not after 10 s (a
// second copy that commits is a duplicate of itself; see above).
func (h *NodeHost) pipelineAttempt() time.Duration {
	return max(time.Duration(h.cfg.ElectionRTT)*h.cfg.RTT, 500*time.Millisecond)
}

// Entry timeouts of the pipeline, retries included.
const (
	groupTimeout = time.Minute
	chunkTimeout = time.Minute
	// groupMaxItems bounds the messages of one group entry.
	groupMaxItems = 8192
)

// Submit queues m to be stored after every message submitted to this shard
// before it, and returns at once (it never blocks on raft: a connection's
// event loop may call it). done is called once, on one of the shard's
// pipeline goroutines, with the outcome as Publish returns it; it must not
// block. Submit reads no body: a message of at most 64 KiB (header
// included) must come with Data (the pipeline takes ownership of it until
// done); a larger one with Body (read a chunk at a time later, until done)
// or Data. Hdr is copied.
func (s *StreamShard) Submit(m *Message, done func(seq uint64, ts int64, err error)) {
	id, err := s.h.newID()
	if err != nil {
		done(0, 0, err)
		return
	}
	it := &pubItem{done: done, size: m.Size}
	it.c = log.Commit{ID: id, Subject: m.Subject, Hdr: append([]byte(nil), m.Hdr...), Size: m.Size, Seq: m.Seq, Time: m.Time}
	small := m.Size+int64(len(m.Hdr)) <= batchMax && m.Size <= int64(s.chunkSize)
	switch {
	case small && m.Data == nil:
		it.data = make([]byte, m.Size)
		if _, err := io.ReadFull(m.Body, it.data); err != nil {
			done(0, 0, fmt.Errorf("raft: read payload: %w", err))
			return
		}
	case small:
		it.data = m.Data
	case m.Data != nil:
		it.body = bytesReader(m.Data)
		it.mem = int64(len(m.Data))
	default:
		it.body = m.Body
	}
	p := &s.pipe
	if small {
		if int64(len(it.data)) != m.Size {
			done(0, 0, fmt.Errorf("%w: payload of %d bytes, size %d", ErrRejected, len(it.data), m.Size))
			return
		}
		it.crc = chunking.Checksum(it.data)
		it.c.Chunks, it.c.Digest = 1, log.ChunkDigest(0, it.crc)
		it.ready = true
		it.mem = int64(len(it.data))
	} else {
		it.large = true
	}
	p.memBytes.Add(it.mem)
	p.mu.Lock()
	p.queue = append(p.queue, it)
	if it.large {
		p.chunks = append(p.chunks, it)
		if !p.chunking {
			p.chunking = true
			go s.chunkLoop()
		}
	}
	if !p.committing {
		p.committing = true
		go s.commitLoop()
	} else if !it.large {
		// The committer may be waiting on a group in flight: it can
		// propose the next one now.
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

// QueuedBytes is the payload held in memory (handed over as Data, or
// read in for a small message) by messages submitted and not yet done.
func (s *StreamShard) QueuedBytes() int64 { return s.pipe.memBytes.Load() }

// resultOf turns the item's result into Publish's return values.
func (it *pubItem) resultOf() (uint64, int64, error) {
	if err := errOf(it.res); err != nil {
		return 0, 0, err
	}
	return it.res.Value, int64(le.Uint64(it.res.Data[1:])), nil
}

// finish reports it's outcome and drops its buffers.
func (s *StreamShard) finish(it *pubItem, seq uint64, ts int64, err error) {
	if it.cancel != nil {
		it.cancel()
	}
	s.pipe.memBytes.Add(-it.mem)
	done := it.done
	it.done, it.body, it.data = nil, nil, nil
	done(seq, ts, err)
}

// chunkFlight is one chunk entry in flight.
type chunkFlight struct {
	rs   *dragonboat.RequestState
	cmd  []byte
	item *pubItem
}

// chunkLoop proposes the chunk entries of the queued large messages, in
// order, with up to MaxInFlight outstanding; a message is marked ready for
// the committer when all its chunk entries are applied here (or one failed).
func (s *StreamShard) chunkLoop() {
	p := &s.pipe
	window := make([]chunkFlight, 0, s.h.cfg.MaxInFlight)
	var cur *pubItem
	var index, count int64
	for {
		if len(window) < cap(window) {
			if cur == nil {
				p.mu.Lock()
				if len(p.chunks) > 0 {
					cur = p.chunks[0]
					p.chunks[0] = nil
					p.chunks = p.chunks[1:]
				}
				p.mu.Unlock()
				if cur != nil {
					index, count = 0, (cur.size+int64(s.chunkSize)-1)/int64(s.chunkSize)
					cur.ctx, cur.cancel = context.WithTimeout(s.ctx, chunkTimeout)
					if count > 1<<24 {
						cur.err = fmt.Errorf("%w: message of %d bytes", ErrLimit, cur.size)
					}
				}
			}
			if cur != nil && cur.err == nil {
				f, err := s.proposeChunk(cur, index, count, s.h.getChunkBuf())
				if err != nil {
					cur.err = err
					s.h.putChunkBuf(f.cmd)
				} else {
					cur.flights++
					window = append(window, f)
					index++
				}
			}
			if cur != nil && (cur.err != nil || index == count) {
				cur.sealed = true
				s.settled(cur)
				cur = nil
			}
			if cur != nil || len(window) < cap(window) && s.moreChunks() {
				continue
			}
		}
		if len(window) == 0 {
			p.mu.Lock()
			if len(p.chunks) == 0 {
				p.chunking = false
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			continue
		}
		f := window[0]
		copy(window, window[1:])
		window[len(window)-1] = chunkFlight{}
		window = window[:len(window)-1]
		res, err := s.await(f.item.ctx, f.rs, f.cmd, s.h.pipelineAttempt())
		if err == nil {
			err = errOf(res)
		}
		if err != nil && f.item.err == nil {
			f.item.err = err
		}
		f.item.flights--
		s.settled(f.item)
		s.h.putChunkBuf(f.cmd)
	}
}

// moreChunks reports whether a large message waits for the chunker.
func (s *StreamShard) moreChunks() bool {
	s.pipe.mu.Lock()
	defer s.pipe.mu.Unlock()
	return len(s.pipe.chunks) > 0
}

// settled marks it ready once it is sealed and none of its chunk entries
// is in flight, and wakes the committer. Chunker only.
func (s *StreamShard) settled(it *pubItem) {
	if !it.sealed || it.flights > 0 {
		return
	}
	it.body = nil
	p := &s.pipe
	p.mu.Lock()
	it.ready = true
	if b := it.parent; b != nil {
		b.waiting--
		b.ready = b.waiting == 0
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// getChunkBuf returns a recycled chunk entry buffer (empty; nil when the
// pool has none). The pool keeps them across the chunker's idle periods
// and lets the GC take them when the host stays idle: a fresh megabyte per
// chunk entry was most of a publishing leader's garbage.
func (h *NodeHost) getChunkBuf() []byte {
	if b, ok := h.chunkBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// putChunkBuf gives a chunk entry buffer back to the pool.
func (h *NodeHost) putChunkBuf(b []byte) {
	if cap(b) > 0 {
		h.chunkBufs.Put(&b)
	}
}

// proposeChunk reads chunk index of count of it's body into buf (reused)
// and proposes it as a chunk entry, updating the commit's chunk count and
// digest.
func (s *StreamShard) proposeChunk(it *pubItem, index, count int64, buf []byte) (chunkFlight, error) {
	n := min(it.size-index*int64(s.chunkSize), int64(s.chunkSize))
	if cap(buf) < 1+chunking.HeaderSize+int(n) {
		buf = make([]byte, 0, 1+chunking.HeaderSize+s.chunkSize)
	}
	buf = buf[:1+chunking.HeaderSize+int(n)]
	f := chunkFlight{cmd: buf, item: it}
	data := buf[1+chunking.HeaderSize:]
	if _, err := io.ReadFull(it.body, data); err != nil {
		return f, fmt.Errorf("raft: read payload: %w", err)
	}
	h := chunking.Header{MsgID: it.c.ID, Index: uint32(index), Count: uint32(count), Last: index == count-1,
		Len: uint32(n), CRC: chunking.Checksum(data)}
	buf[0] = kindChunk
	chunking.AppendHeader(buf[1:1], h)
	it.c.Chunks++
	it.c.Digest = log.ChunkDigest(it.c.Digest, h.CRC)
	rs, err := s.start(it.ctx, buf, s.h.pipelineAttempt())
	if err != nil {
		return f, err
	}
	f.rs = rs
	return f, nil
}

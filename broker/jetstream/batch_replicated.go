package jetstream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Atomic batch publish on a replicated stream.
//
// The batch is staged on the node the publisher is connected to, as an R1
// batch is (batch_atomic.go: the same checks, limits and errors): a
// message's body is kept in memory when it is small (at most replInline,
// replBatchMem for the whole batch), else written into the batch's spool
// file (one per batch, from the stream's spool pool, at an offset
// reserved for it), so a batch of large messages costs bounded memory.
// The commit submits the whole batch to the replica's ordered pipeline as
// one item (Replica.SubmitBatch): raft chunks its large messages a chunk
// at a time from the spool, then proposes the batch as one entry that
// every replica applies all or nothing, in one step, deciding the
// messages by the same publish rules (raft/atomic.go, log.ApplyBatch). A
// crash of a replica inside that apply repairs to nothing (the entry is
// applied again, whole); a leader change after the commit is proposed
// retries the entry, and a retry of a stored batch is answered with its
// sequences, never stored twice.
//
// As in nats-server, where a batch is staged on the stream's leader and
// dropped when it loses leadership, a batch during which the stream's
// leader changed is abandoned: its next message (or its commit) gets
// 10176 (incomplete batch) and nothing of it is stored.

// replBatchMem is how many body bytes of one replicated batch are kept in
// memory; the rest goes to its spool file.
const replBatchMem = 1 << 20

// replBatch is a replicated batch's staging: its spool file and how much
// of it is reserved.
type replBatch struct {
	pool *spoolPool
	// mu guards f, end, mem and the staged messages' spooled fields.
	mu   sync.Mutex
	f    *os.File // nil until a spooled message needs it and the pool has one
	end  int64    // bytes of f reserved by the batch's messages
	mem  int64    // body bytes staged in memory
	done bool     // released: f went back to the pool
}

// replStaged is one staged message of a replicated batch (a stagedMsg).
type replStaged struct {
	b       *replBatch
	subject string
	hdr     []byte
	size    int64
	n       int64  // body bytes written so far
	mem     []byte // the body in memory (until spooled)
	spool   bool   // its body goes to the spool file
	spooled bool   // mem was moved to f at off (b.mu)
	off     int64  // its place in the spool file
	err     error
}

// stage starts a staged message of size body bytes.
func (b *replBatch) stage(subject string, hdr []byte, size int64) *replStaged {
	m := &replStaged{b: b, subject: subject, hdr: append([]byte(nil), hdr...), size: size}
	b.mu.Lock()
	defer b.mu.Unlock()
	if size > replInline || b.mem+size > replBatchMem {
		m.spool, m.off = true, b.end
		b.end += size
	} else {
		b.mem += size
	}
	return m
}

// file returns the batch's spool file, taking one from the pool when it
// has one (nil: none ready yet; never blocks). b.mu held.
func (b *replBatch) fileLocked() *os.File {
	if b.f == nil && !b.done {
		b.f = b.pool.get()
	}
	return b.f
}

// release gives the spool file back to the pool (off the caller's
// goroutine: put truncates it).
func (b *replBatch) release() {
	b.mu.Lock()
	f := b.f
	b.f, b.done = nil, true
	b.mu.Unlock()
	if f != nil {
		go b.pool.put(f)
	}
}

// Write stores the next body piece: in memory, or in the spool file once
// the batch has one (pieces wait in memory until then).
func (m *replStaged) Write(piece []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if m.n+int64(len(piece)) > m.size {
		m.err = log.ErrSize
		return 0, m.err
	}
	if m.spool {
		b := m.b
		b.mu.Lock()
		if b.done {
			// The batch was dropped: the piece goes nowhere.
			b.mu.Unlock()
			m.n += int64(len(piece))
			return len(piece), nil
		}
		f := b.fileLocked()
		if f != nil {
			if !m.spooled && len(m.mem) > 0 {
				_, m.err = f.WriteAt(m.mem, m.off)
				m.mem = nil
			}
			m.spooled = true
			if m.err == nil {
				_, m.err = f.WriteAt(piece, m.off+m.n)
			}
		}
		b.mu.Unlock()
		if m.err != nil {
			return 0, m.err
		}
		if f != nil {
			m.n += int64(len(piece))
			return len(piece), nil
		}
	}
	if m.mem == nil {
		m.mem = make([]byte, 0, min(m.size, replInline))
	}
	m.mem = append(m.mem, piece...)
	m.n += int64(len(piece))
	return len(piece), nil
}

// Stage ends the body: a short one is log.ErrSize.
func (m *replStaged) Stage() error {
	if m.err == nil && m.n != m.size {
		m.err = log.ErrSize
	}
	return m.err
}

// Abort drops the body (the spool file goes back with the batch).
func (m *replStaged) Abort() { m.mem = nil }

func (m *replStaged) Header() []byte { return m.hdr }

func (m *replStaged) SetHeader(hdr []byte) { m.hdr = append(m.hdr[:0:0], hdr...) }

// msg is m for Replica.SubmitBatch: its body handed over from memory, or
// read from its place in the spool file.
func (m *replStaged) msg() *ReplicaMsg {
	rm := &ReplicaMsg{Subject: m.subject, Hdr: m.hdr, Size: m.size}
	m.b.mu.Lock()
	spooled, f := m.spooled, m.b.f
	m.b.mu.Unlock()
	if spooled {
		rm.Body = io.NewSectionReader(f, m.off, m.size)
	} else {
		rm.Body = bytes.NewBuffer(m.mem)
		m.mem = nil
	}
	return rm
}

// leaderChanged reports whether the stream's leader is not the one the
// batch started under.
func (b *atomicBatch) leaderChanged(st *stream) bool {
	id, _ := st.repl.Leader()
	return id != b.leader
}

// commitReplBatch submits the staged batch to the replica as one atomic
// item; the PubAck {"stream","seq","batch","count"} follows this
// replica's apply of it.
func (st *stream) commitReplBatch(p *pub, b *atomicBatch, msgs []stagedMsg) {
	var reply []byte
	st.mu.Lock()
	if len(p.reply) > 0 && !st.mu.cfg.NoAck {
		reply = append([]byte(nil), p.reply...)
	}
	st.mu.Unlock()
	rms := make([]*ReplicaMsg, len(msgs))
	for i, m := range msgs {
		rms[i] = m.(*replStaged).msg()
	}
	count := uint64(len(msgs))
	e, id, rb := p.e, b.id, b.repl
	st.repl.SubmitBatch(rms, func(seq uint64, _ int64, err error) {
		rb.release() // read back by now
		if err != nil {
			if len(reply) == 0 {
				return
			}
			var ce *log.CheckError
			if errors.As(err, &ce) {
				_, _, apiErr := refusalAnswer(ce)
				if apiErr == nil {
					apiErr = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishContainsDuplicate)
				}
				e.sendPubAckError(reply, st, apiErr)
				return
			}
			e.sendPubAckError(reply, st, e.storeError(st.name, err))
			return
		}
		st.batchCommitted(seq, count)
		st.cons.StreamChanged() // a replica's apply: consumers recount
		if len(reply) > 0 {
			buf := e.srvBuf()
			buf.b = jsapi.AppendBatchPubAck(buf.b[:0], st.name, seq, id, count)
			e.srv.Send(&broker.Delivery{To: reply, Body: buf.b, Once: true})
			e.putBuf(buf)
		}
	})
}

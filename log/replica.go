package log

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// The apply path of a replicated stream.
//
// A replica's log (Options.Replica) is written only by a state machine that
// applies, in raft order, what a leader decided: chunks of a message
// (ApplyChunkAt) and then the message's commit (ApplyCommit), or a small
// message whole (ApplyInlineAt), deletes and purges, and after each batch
// MarkApplied(index), which writes an applied marker (record type 7: the
// raft index, the last sequence and timestamp, and the ids of the messages
// still pending) and makes the batch visible. Nothing on this path is
// fsynced: the payloads are already durable in the raft entry records the
// log stores (raftlog.go), and the apply side's small records ride on the
// next fsync of the raft side. Recovery (replica_recover.go) rebuilds the
// message state up to the last intact marker, which Applied then returns,
// and raft applies the entries after it again.
//
// A chunk is not copied: ApplyChunkAt writes a chunk reference record (the
// message id, the chunk's index and checksum, and where its bytes lie
// inside the chunk entry's record), and the commit record lists those
// places. A small message's commit record points straight into the group
// entry record that carried it (flagRefs). The chunks' txn (and so the
// commit's) is the message id the proposer chose: a pending message is
// rebuilt at Open from its chunk references (the last marker lists which
// ids are pending), and a duplicated commit is recognised by its id
// (DedupWindow). ApplyChunk and ApplyInline, which copy the payload into a
// chunk record, remain for entries the log does not hold.
//
// Replica logs store payloads uncompressed (Config.Compression is ignored
// by the apply path) so a chunk's stored checksum is the proposer's.

// Format of the applied marker body (format, version 2): raft index u64 |
// last seq u64 | last ts i64 | npending u32 | npending × id u64, ids
// ascending | state len u32 | state (the state machine's own, opaque:
// MarkApplied, AppliedState).
const appliedMetaSize = 8 + 8 + 8 + 4

// DedupWindow is how many of the newest sequences ApplyCommit searches for
// an already committed id. The answer depends only on the log's contents,
// so every replica gives the same one, restarted or not.
const DedupWindow = 8192

// maxReplicaChunks bounds a message's chunk count (64 TiB at 4 MiB chunks).
const maxReplicaChunks = 1 << 24

// opApplied is the group-commit op of an applied marker: it changes
// nothing in the index.
const opApplied opKind = 100

var (
	// ErrDuplicate: ApplyCommit found the message id already committed
	// within DedupWindow; the returned sequence is the original one.
	ErrDuplicate = errors.New("log: message already committed")
	// ErrNotReplica: an Apply method on a log opened without Options.Replica.
	ErrNotReplica = errors.New("log: not a replica log")
)

// replicaState is the apply path's state.
type replicaState struct {
	// voidAtOpen: recovery dropped the records of a batch whose marker was
	// lost; Open writes a void record (replica_recover.go).
	voidAtOpen bool
	// mu serializes the Apply methods and guards their state.
	// Lock order: rep.mu, then Log.w, then Log.mu.
	mu struct {
		sync.Mutex
		applied    uint64                 // raft index of the last durable marker
		markerSeg  uint64                 // segment holding the last marker (0: none)
		markerEnd  int64                  // byte after the last marker in markerSeg
		restore    []uint64               // pending ids listed by the last marker (Open only)
		state      []byte                 // the last marker's state (AppliedState)
		pending    map[uint64]*pendingMsg // messages with chunks and no commit, by id
		ids        map[uint64]uint64      // id -> seq of committed messages (see dupLocked)
		queued     []*op                  // ops queued since the last ApplySync
		free       []*op                  // recycled ops
		freeMsgs   []*pendingMsg          // recycled pending messages
		buf        []byte                 // record scratch (the last commit record)
		inline     []byte                 // ApplyInline's chunk + commit scratch
		idsLoaded  bool
		pendingIDs []uint64 // scratch for markers
	}
}

// pendingMsg is a message whose chunks are applied and whose commit is not.
type pendingMsg struct {
	refs  []chunkRef // by chunk index
	have  []bool     // refs[i] is set
	n     int        // chunks held
	bytes int64      // payload bytes held
	first *segment   // earliest segment with one of its chunks, pinned
	// inline: its one chunk lies in a raft entry record with no chunk
	// reference record (ApplyInlineAt): the commit record says so.
	inline bool
}

// replicaLocked checks that the log takes Apply calls. rep.mu held.
func (l *Log) replicaLocked() error {
	if !l.opts.Replica {
		return ErrNotReplica
	}
	if l.rep.mu.pending == nil {
		l.rep.mu.pending = make(map[uint64]*pendingMsg)
	}
	return nil
}

// Applied returns the raft index of the last applied marker that is durable:
// what a replica's state machine reports to raft at Open. 0 for a new log.
func (l *Log) Applied() uint64 {
	l.rep.mu.Lock()
	defer l.rep.mu.Unlock()
	return l.rep.mu.applied
}

// PendingChunks returns how many messages have chunks applied and no
// commit yet.
func (l *Log) PendingChunks() int {
	l.rep.mu.Lock()
	defer l.rep.mu.Unlock()
	return len(l.rep.mu.pending)
}

// ApplyChunk writes chunk index of message id: data, whose CRC-32C is crc
// (as the proposer's chunk header says; a mismatch is ErrCorrupt). data is
// not retained. A chunk already held, or of a message already committed, is
// ignored (a duplicated proposal). The chunk becomes durable with the next
// ApplySync. Errors: ErrNotReplica, ErrCorrupt, ErrBadRequest (index or
// length out of range), ErrClosed, the sticky write error.
func (l *Log) ApplyChunk(id uint64, index uint32, data []byte, crc uint32) error {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return err
	}
	return l.applyChunkLocked(id, index, data, crc)
}

// applyChunkLocked is ApplyChunk. rep.mu held.
func (l *Log) applyChunkLocked(id uint64, index uint32, data []byte, crc uint32) error {
	if index >= maxReplicaChunks || len(data) > maxChunkSize {
		return fmt.Errorf("%w: chunk %d of %d bytes", ErrBadRequest, index, len(data))
	}
	if crc32c(data) != crc {
		return fmt.Errorf("%w: chunk %d of message %d", ErrCorrupt, index, id)
	}
	p := l.pendingForLocked(id, index)
	if p == nil {
		return nil
	}
	var h [recHeaderSize + chunkMetaSize]byte
	putRecHeader(h[:], recChunk, 0, chunkMetaSize+len(data))
	meta := h[recHeaderSize:]
	le.PutUint64(meta[0:], id)
	le.PutUint32(meta[8:], index)
	le.PutUint32(meta[12:], crc)
	sealRecord(h[:], meta)
	l.w.Lock()
	seg, off, err := l.writeLocked(h[:], data)
	l.w.Unlock()
	if err != nil {
		return err
	}
	p.hold(index, chunkRef{seg: seg.id, off: off + recHeaderSize + chunkMetaSize, n: uint32(len(data)), crc: crc}, seg)
	return nil
}

// pendingForLocked returns the pending message id that chunk index is to
// join, made when it is new, or nil when the chunk is to be ignored: the
// message is already committed (a duplicated proposal) or holds that
// chunk. rep.mu held.
func (l *Log) pendingForLocked(id uint64, index uint32) *pendingMsg {
	rs := &l.rep
	p := rs.mu.pending[id]
	if p == nil {
		l.loadIDsLocked()
		if _, dup := l.dupLocked(id); dup {
			return nil
		}
		p = l.newPendingLocked()
		rs.mu.pending[id] = p
	}
	if int(index) < len(p.have) && p.have[index] {
		return nil
	}
	return p
}

// hold records that chunk index of p is at ref; seg, the segment holding
// it, is pinned while p is pending when it is p's first (nil: not found,
// nothing pinned).
func (p *pendingMsg) hold(index uint32, ref chunkRef, seg *segment) {
	if p.first == nil && seg != nil {
		seg.live.Add(1)
		p.first = seg
	}
	if n := int(index) + 1; n > len(p.have) {
		p.have = slices.Grow(p.have, n-len(p.have))[:n]
		p.refs = slices.Grow(p.refs, n-len(p.refs))[:n]
	}
	p.have[index] = true
	p.refs[index] = ref
	p.n++
	p.bytes += int64(ref.n)
}

// Commit is what a replicated commit entry carries.
type Commit struct {
	ID      uint64 // message id: the chunks' id
	Time    int64  // leader's timestamp (unix ns); raised to the last commit's if lower
	Subject string
	Hdr     []byte // copied into the record; not retained
	Size    int64  // payload length: the sum of the chunks
	Chunks  uint32 // number of chunks
	Digest  uint32 // ChunkDigest of the chunks' CRC-32Cs
	// Seq, when not 0, is the sequence the message must get (a mirror's
	// copy, mirror.go): ErrSeqExists when the log is past it; the
	// sequences before it that the log has not reached are skipped. Time
	// is then the message's own timestamp.
	Seq uint64
}

// ChunkDigest folds the CRC-32C of the next chunk into a message digest
// (start from 0). The proposer and ApplyCommit compute it over the chunks in
// index order, so a commit proves it covers exactly the chunks it was cut
// into.
func ChunkDigest(digest, chunkCRC uint32) uint32 {
	var b [4]byte
	le.PutUint32(b[:], chunkCRC)
	return crc32cUpdate(digest, b[:])
}

// ApplyCommit commits pending message c.ID as the next sequence with
// timestamp max(c.Time, previous) and returns both. The record is written at
// once; the message becomes durable and visible with the next ApplySync.
// Errors, all decided from the log's contents and c alone (so every
// replica decides alike): ErrDuplicate (already committed; seq is the
// original), ErrNotFound (no chunks for c.ID: unknown or aborted),
// ErrCorrupt (chunks missing, or size or digest wrong), ErrMaxMsgs and
// ErrMaxBytes (DiscardNew), the Checker's *CheckError; on these the pending
// message is dropped. ErrBadRequest, ErrClosed and the sticky write error
// can also come back. A purge the Checker's Action asks for is written
// right after the commit.
func (l *Log) ApplyCommit(c *Commit) (seq uint64, ts int64, err error) {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return l.applyCommitLocked(c)
}

// applyCommitLocked is ApplyCommit. rep.mu held.
func (l *Log) applyCommitLocked(c *Commit) (seq uint64, ts int64, err error) {
	rs := &l.rep
	if err := l.replicaLocked(); err != nil {
		return 0, 0, err
	}
	if c.Subject == "" || len(c.Subject) > 0xffff || int64(len(c.Hdr)) > 1<<31 {
		return 0, 0, fmt.Errorf("%w: empty or oversized subject or header", ErrBadRequest)
	}
	l.loadIDsLocked()
	if seq, dup := l.dupLocked(c.ID); dup {
		return seq, 0, ErrDuplicate
	}
	p := rs.mu.pending[c.ID]
	if p == nil {
		return 0, 0, ErrNotFound
	}
	if err := p.check(c); err != nil {
		l.dropLocked(c.ID)
		return 0, 0, err
	}
	return l.commitLocked(c, p, nil)
}

// commitLocked decides c (the log's limits, then the Checker) and, when it
// passes, writes its commit record as the next sequence. With chunk (an
// inline message's chunk record, ApplyInline) p is not in the pending map
// and its one chunk is written with the commit, in one write, at the
// offset this fills into p. On a refusal the message is dropped (chunks
// unpinned); nothing is written for an inline one. rep.mu held.
func (l *Log) commitLocked(c *Commit, p *pendingMsg, chunk []byte) (seq uint64, ts int64, err error) {
	rs := &l.rep
	drop := func() {
		if chunk != nil {
			l.recyclePendingLocked(p)
			return
		}
		l.dropLocked(c.ID)
	}
	var act Action
	var gap uint64
	var out *checkOut
	for settle := true; ; settle = false {
		l.w.Lock()
		if err := l.writableLocked(); err != nil {
			l.w.Unlock()
			if chunk != nil {
				drop()
			}
			return 0, 0, err
		}
		err = l.checkDiscardNew(l.w.cfg, l.msgSize(len(c.Subject), len(c.Hdr), c.Size), false)
		if err == nil {
			seq, ts, gap, err = l.placeLocked(c.Seq, c.Time, c.Time)
		}
		if err == nil {
			act, out, err = l.checkLocked(c.Subject, c.Hdr, c.Size, seq, ts, settle)
		}
		if err == nil {
			break
		}
		l.w.Unlock()
		if errors.Is(err, ErrUnsettled) && settle {
			// Apply what is written, then ask again (once).
			if err := l.barrierLocked(); err != nil {
				if chunk != nil {
					drop()
				}
				return 0, 0, err
			}
			continue
		}
		drop()
		return 0, 0, err
	}
	defer l.w.Unlock()
	if gap != 0 {
		if err := l.writeSkipLocked(gap, seq); err != nil {
			// A write error: it sticks, the replica must be reopened.
			l.truncateCheckerLocked(seq - 1)
			if chunk != nil {
				l.recyclePendingLocked(p)
			}
			return 0, 0, err
		}
	}
	if body := out.body; body != nil {
		// The Checker replaced the payload: it is stored as an inline
		// message's one chunk, and what held the old one is let go.
		if p.first != nil {
			p.first.live.Add(-1)
			p.first = nil
		}
		if chunk == nil {
			delete(rs.mu.pending, c.ID)
		}
		chunk = l.inlineChunkLocked(c.ID, body)
		crc := crc32c(body)
		p.have = append(p.have[:0], true)
		p.refs = append(p.refs[:0], chunkRef{n: uint32(len(body)), crc: crc})
		p.n, p.bytes, p.inline = 1, int64(len(body)), false
		cc := *c
		cc.Size, cc.Chunks, cc.Digest = int64(len(body)), 1, ChunkDigest(0, crc)
		if out.hdr != nil {
			cc.Hdr = out.hdr
		}
		c = &cc
	}
	var seg *segment
	var off int64
	if chunk == nil {
		rec := l.commitRecordLocked(c, p, seq, ts)
		seg, off, err = l.writeLocked(rec, nil)
		if err != nil {
			l.truncateCheckerLocked(seq - 1)
			return 0, 0, err
		}
	} else if seg, off, err = l.writeInlineLocked(c, p, chunk, seq, ts); err != nil {
		l.truncateCheckerLocked(seq - 1)
		l.recyclePendingLocked(p)
		return 0, 0, err
	}
	rec := rs.mu.buf
	po, err := l.actionLocked(act, out.purgeSubject(c.Subject), seq)
	if err != nil {
		// A write error: it sticks, the replica must be reopened.
		l.truncateCheckerLocked(seq - 1)
		if chunk != nil {
			p.first.live.Add(-1)
			p.first = nil
			l.recyclePendingLocked(p)
		}
		return 0, 0, err
	}
	l.w.nextSeq++
	l.w.lastTs = ts
	o := l.newOpLocked()
	*o = op{kind: opMsg, seq: seq, subject: c.Subject, record: true,
		e: entry{seg: seg, first: p.first, off: off, ts: ts, size: c.Size, hdrLen: uint32(len(c.Hdr)), mlen: uint32(len(rec))}}
	p.first = nil // the pin now belongs to the entry
	if chunk == nil {
		delete(rs.mu.pending, c.ID)
	}
	l.recyclePendingLocked(p)
	rs.mu.ids[c.ID] = seq
	l.pendingMsgs.Add(1)
	l.pendingBytes.Add(l.msgSize(len(c.Subject), len(c.Hdr), c.Size))
	l.enqueueWith(o, po)
	rs.mu.queued = append(rs.mu.queued, o)
	if po != nil {
		rs.mu.queued = append(rs.mu.queued, po)
	}
	return seq, ts, nil
}

// check verifies that p holds exactly the chunks c commits.
func (p *pendingMsg) check(c *Commit) error {
	if uint32(len(p.have)) != c.Chunks || p.n != len(p.have) || p.bytes != c.Size {
		return fmt.Errorf("%w: message %d has %d of %d chunks, %d of %d bytes", ErrCorrupt, c.ID, p.n, c.Chunks, p.bytes, c.Size)
	}
	var d uint32
	for _, r := range p.refs {
		d = ChunkDigest(d, r.crc)
	}
	if d != c.Digest {
		return fmt.Errorf("%w: message %d chunk digest", ErrCorrupt, c.ID)
	}
	return nil
}

// commitRecordLocked builds the commit record in the scratch buffer.
func (l *Log) commitRecordLocked(c *Commit, p *pendingMsg, seq uint64, ts int64) []byte {
	rs := &l.rep
	body := commitMetaSz + len(c.Subject) + len(c.Hdr) + chunkRefSize*len(p.refs)
	b := slices.Grow(rs.mu.buf[:0], recHeaderSize+body)[:recHeaderSize+body]
	rs.mu.buf = b
	var flags byte
	if p.inline {
		flags = flagRefs
	}
	putRecHeader(b, recCommit, flags, body)
	putCommitMeta(b[recHeaderSize:], msgMeta{seq: seq, ts: ts, subjLen: len(c.Subject), hdrLen: len(c.Hdr), size: c.Size, txn: c.ID, nchunks: len(p.refs)})
	q := recHeaderSize + commitMetaSz
	q += copy(b[q:], c.Subject)
	q += copy(b[q:], c.Hdr)
	for _, r := range p.refs {
		putChunkRef(b[q:], r)
		q += chunkRefSize
	}
	sealRecord(b, b[recHeaderSize:])
	return b
}

// newOpLocked returns a recycled or new op. rep.mu held.
func (l *Log) newOpLocked() *op {
	rs := &l.rep
	if n := len(rs.mu.free); n > 0 {
		o := rs.mu.free[n-1]
		rs.mu.free = rs.mu.free[:n-1]
		return o
	}
	return new(op)
}

// ApplyAbort drops pending message id and its chunks (reclaimed with their
// segments). It reports whether the message was pending.
func (l *Log) ApplyAbort(id uint64) bool {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if l.replicaLocked() != nil {
		return false
	}
	_, ok := rs.mu.pending[id]
	l.dropLocked(id)
	return ok
}

// dropLocked forgets pending message id and unpins its segment.
func (l *Log) dropLocked(id uint64) {
	if p := l.rep.mu.pending[id]; p != nil {
		if p.first != nil {
			p.first.live.Add(-1)
		}
		delete(l.rep.mu.pending, id)
		l.recyclePendingLocked(p)
	}
}

// newPendingLocked returns an empty pending message. rep.mu held.
func (l *Log) newPendingLocked() *pendingMsg {
	rs := &l.rep
	if n := len(rs.mu.freeMsgs); n > 0 {
		p := rs.mu.freeMsgs[n-1]
		rs.mu.freeMsgs = rs.mu.freeMsgs[:n-1]
		return p
	}
	return &pendingMsg{}
}

// recyclePendingLocked keeps p (no longer in the pending map) for reuse,
// unless it grew past a few chunks. rep.mu held.
func (l *Log) recyclePendingLocked(p *pendingMsg) {
	rs := &l.rep
	if cap(p.have) > 64 || len(rs.mu.freeMsgs) >= 64 {
		return
	}
	clear(p.have)
	*p = pendingMsg{have: p.have[:0], refs: p.refs[:0]}
	rs.mu.freeMsgs = append(rs.mu.freeMsgs, p)
}

// ApplyDelete removes message seq, as Delete does (same errors), once every
// earlier Apply call is durable and visible, so the decision sees them all.
func (l *Log) ApplyDelete(seq uint64) error {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return err
	}
	if err := l.barrierLocked(); err != nil {
		return err
	}
	return l.Delete(seq)
}

// ApplyPurge purges as Purge does (same result and errors), once every
// earlier Apply call is durable and visible.
func (l *Log) ApplyPurge(req PurgeRequest) (uint64, error) {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return 0, err
	}
	if err := l.barrierLocked(); err != nil {
		return 0, err
	}
	return l.Purge(req)
}

// barrierLocked waits until every op queued by the Apply methods is applied
// and returns the first error among them. rep.mu held.
func (l *Log) barrierLocked() error {
	rs := &l.rep
	var err error
	if n := len(rs.mu.queued); n > 0 {
		l.await(rs.mu.queued[n-1]) // queue order: the others are done too
	}
	for _, o := range rs.mu.queued {
		if err == nil {
			err = o.err
		}
		*o = op{}
		rs.mu.free = append(rs.mu.free, o)
	}
	clear(rs.mu.queued)
	rs.mu.queued = rs.mu.queued[:0]
	return err
}

// MarkApplied ends a batch: it writes an applied marker for raft index
// index, carrying state (the caller's own state as of index, opaque to the
// log; at most 1 MiB; not retained), and returns once every record of the
// batch is written and its messages are visible. It does not fsync: the
// marker is durable with the next fsync of the log (the raft side's
// SaveRaft, Sync, a segment roll, Close), and a recovery before that finds
// an earlier marker (see replica_recover.go). After it, Applied returns
// index and AppliedState state. An error is the sticky write error: the
// replica must stop.
func (l *Log) MarkApplied(index uint64, state []byte) error {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return err
	}
	ids := rs.mu.pendingIDs[:0]
	for id := range rs.mu.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rs.mu.pendingIDs = ids
	if len(state) > maxAppliedState {
		return fmt.Errorf("%w: applied state of %d bytes", ErrBadRequest, len(state))
	}
	n := recHeaderSize + appliedMetaSize + 8*len(ids) + 4 + len(state)
	b := slices.Grow(rs.mu.buf[:0], n)[:n]
	rs.mu.buf = b
	putRecHeader(b, recApplied, 0, n-recHeaderSize)
	body := b[recHeaderSize:]
	le.PutUint64(body, index)
	le.PutUint32(body[appliedMetaSize-4:], uint32(len(ids)))
	for i, id := range ids {
		le.PutUint64(body[appliedMetaSize+8*i:], id)
	}
	q := body[appliedMetaSize+8*len(ids):]
	le.PutUint32(q, uint32(len(state)))
	copy(q[4:], state)
	l.w.Lock()
	last, ts := l.w.nextSeq-1, l.w.lastTs
	le.PutUint64(body[8:], last)
	le.PutUint64(body[16:], uint64(ts))
	sealRecord(b, body)
	seg, off, err := l.writeLocked(b, nil)
	if err != nil {
		l.w.Unlock()
		return err
	}
	l.w.markSeq, l.w.markTs = last, ts
	o := l.newOpLocked()
	*o = op{kind: opApplied, record: true}
	l.enqueue(o)
	rs.mu.queued = append(rs.mu.queued, o)
	l.w.Unlock()
	if err := l.barrierLocked(); err != nil {
		return err
	}
	rs.mu.applied = index
	rs.mu.state = append(rs.mu.state[:0], state...)
	rs.mu.markerSeg, rs.mu.markerEnd = seg.id, off+int64(n)
	l.rf.markSeg.Store(seg.id)
	return nil
}

// maxAppliedState bounds MarkApplied's state.
const maxAppliedState = 1 << 20

// AppliedState returns (a copy of) the state the last durable-or-written
// applied marker carries: what the caller passed to MarkApplied with the
// index Applied returns. Nil for a new log.
func (l *Log) AppliedState() []byte {
	l.rep.mu.Lock()
	defer l.rep.mu.Unlock()
	return append([]byte(nil), l.rep.mu.state...)
}

// ApplySync is MarkApplied (no state) followed by Sync: the batch is
// durable when it returns.
func (l *Log) ApplySync(index uint64) error {
	if err := l.MarkApplied(index, nil); err != nil {
		return err
	}
	return l.Sync()
}

// dupLocked reports whether id is committed as a live message among the
// newest DedupWindow sequences (counting messages written but not yet
// visible), and its sequence. rep.mu held; takes Log.mu.
func (l *Log) dupLocked(id uint64) (uint64, bool) {
	ids := l.rep.mu.ids
	seq, ok := ids[id]
	if !ok {
		return 0, false
	}
	l.w.Lock()
	last := l.w.nextSeq - 1
	l.w.Unlock()
	l.mu.RLock()
	visible := l.mu.idx.last
	e := l.mu.idx.get(seq)
	live := seq > visible || (e != nil && e.live)
	l.mu.RUnlock()
	if last >= DedupWindow && seq <= last-DedupWindow {
		live = false
	}
	if !live {
		delete(ids, id)
	}
	if len(ids) > 2*DedupWindow && last >= DedupWindow {
		for k, s := range ids {
			if s <= last-DedupWindow {
				delete(ids, k)
			}
		}
	}
	return seq, live
}

// loadIDsLocked fills the dedup map from the commit records of the newest
// DedupWindow live messages, once after Open. rep.mu held.
func (l *Log) loadIDsLocked() {
	rs := &l.rep
	if rs.mu.idsLoaded {
		return
	}
	rs.mu.idsLoaded = true
	rs.mu.ids = make(map[uint64]uint64)
	l.mu.RLock()
	defer l.mu.RUnlock()
	x := &l.mu.idx
	from := x.base
	if x.last >= DedupWindow {
		from = max(from, x.last-DedupWindow+1)
	}
	var b [recHeaderSize + commitMetaSz]byte
	for seq := from; seq <= x.last; seq++ {
		e := x.get(seq)
		if e == nil || !e.live {
			continue
		}
		if _, err := e.seg.f.ReadAt(b[:], e.off); err != nil || b[4] != recCommit {
			continue
		}
		rs.mu.ids[getCommitMeta(b[recHeaderSize:]).txn] = seq
	}
}

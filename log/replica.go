package log

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sync"
)

// The apply path of a replicated stream.
//
// A replica's log (Options.Replica) is written only by a state machine that
// applies, in raft order, what a leader decided: chunks of a message
// (ApplyChunk) and then the message's commit (ApplyCommit), deletes and
// purges, and after each batch ApplySync(index), which writes an applied
// marker (record type 7: the raft index and the ids of the messages still
// pending) and makes the batch durable and visible with one fsync.
//
// The marker is what makes the applied index atomic with the data: the
// segments are append-only, so at Open a replica log keeps everything up to
// its last marker and cuts everything after it (records of a batch whose
// marker never reached the disk); Applied then returns the marker's index,
// and re-applying the entries after it rebuilds exactly what was cut.
//
// Every replicated message is chunk records plus one commit record, even a
// small one, and the chunk records' txn (and so the commit's) is the
// message id the proposer chose: a pending message is rebuilt at Open from
// its chunk records (the last marker lists which ids are pending), and a
// duplicated commit is recognised by its id (DedupWindow).
//
// Replica logs store payloads uncompressed (Config.Compression is ignored
// by the apply path) so a chunk's stored checksum is the proposer's.

// Format of the applied marker body (format): raft index u64 | npending u32
// | npending × id u64, ids ascending.
const appliedMetaSize = 8 + 4

// DedupWindow is how many of the newest sequences ApplyCommit searches for
// an already committed id. The answer depends only on the log's contents,
// so every replica gives the same one, restarted or not.
const DedupWindow = 8192

// maxReplicaChunks bounds a message's chunk count (64 TiB at 4 MiB chunks).
const maxReplicaChunks = 1 << 24

// opApplied is the group-commit op of an applied marker: it needs the sync
// and changes nothing in the index.
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
	// mu serializes the Apply methods and guards their state.
	// Lock order: rep.mu, then Log.w, then Log.mu.
	mu struct {
		sync.Mutex
		applied    uint64                 // raft index of the last durable marker
		markerSeg  uint64                 // segment holding the last marker (0: none)
		markerEnd  int64                  // byte after the last marker in markerSeg
		restore    []uint64               // pending ids listed by the last marker (Open only)
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
	if index >= maxReplicaChunks || len(data) > maxChunkSize {
		return fmt.Errorf("%w: chunk %d of %d bytes", ErrBadRequest, index, len(data))
	}
	if crc32c(data) != crc {
		return fmt.Errorf("%w: chunk %d of message %d", ErrCorrupt, index, id)
	}
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
	if p.first == nil {
		seg.live.Add(1)
		p.first = seg
	}
	if n := int(index) + 1; n > len(p.have) {
		p.have = slices.Grow(p.have, n-len(p.have))[:n]
		p.refs = slices.Grow(p.refs, n-len(p.refs))[:n]
	}
	p.have[index] = true
	p.refs[index] = chunkRef{seg: seg.id, off: off + recHeaderSize + chunkMetaSize, n: uint32(len(data)), crc: crc}
	p.n++
	p.bytes += int64(len(data))
	return nil
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
			seq, ts = l.w.nextSeq, max(c.Time, l.w.lastTs)
			act, err = l.checkLocked(c.Subject, c.Hdr, c.Size, seq, ts, settle)
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
	po, err := l.actionLocked(act, c.Subject, seq)
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
	putRecHeader(b, recCommit, 0, body)
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

// ApplySync ends a batch: it writes an applied marker for raft index index
// and returns once it and every record before it are durable (one fsync),
// with the batch's messages visible. After it, Applied returns index. An
// error is the sticky write error: the replica must stop (reopening cuts
// back to the last durable marker).
func (l *Log) ApplySync(index uint64) error {
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
	n := recHeaderSize + appliedMetaSize + 8*len(ids)
	b := slices.Grow(rs.mu.buf[:0], n)[:n]
	rs.mu.buf = b
	putRecHeader(b, recApplied, 0, n-recHeaderSize)
	le.PutUint64(b[recHeaderSize:], index)
	le.PutUint32(b[recHeaderSize+8:], uint32(len(ids)))
	for i, id := range ids {
		le.PutUint64(b[recHeaderSize+appliedMetaSize+8*i:], id)
	}
	sealRecord(b, b[recHeaderSize:])
	l.w.Lock()
	seg, off, err := l.writeLocked(b, nil)
	if err != nil {
		l.w.Unlock()
		return err
	}
	o := l.newOpLocked()
	*o = op{kind: opApplied, record: true}
	l.enqueue(o)
	rs.mu.queued = append(rs.mu.queued, o)
	l.w.Unlock()
	if err := l.barrierLocked(); err != nil {
		return err
	}
	rs.mu.applied = index
	rs.mu.markerSeg, rs.mu.markerEnd = seg.id, off+int64(n)
	return nil
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

// trimToMarker runs before recovery of a replica log: it finds the last
// valid applied marker, cuts the segments after it, and records the marker's
// index and pending ids. With no marker at all every segment goes (nothing
// was applied durably). It returns the segment ids that remain.
func (l *Log) trimToMarker(ids []uint64) ([]uint64, error) {
	rs := &l.rep
	for k := len(ids) - 1; k >= 0; k-- {
		p := path.Join(l.dir, segName(ids[k]))
		f, err := l.fs.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("log: open %s: %w", p, err)
		}
		end, body, err := lastMarker(f)
		if err == nil && end > 0 {
			var fi os.FileInfo
			if fi, err = f.Stat(); err == nil && fi.Size() > end {
				l.opts.Logger.Warn("log: cutting records after the last applied marker", "segment", p, "bytes", fi.Size()-end)
				if err = f.Truncate(end); err == nil {
					err = f.Sync()
				}
			}
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("log: trim %s: %w", p, err)
		}
		if end > 0 {
			rs.mu.applied = le.Uint64(body)
			rs.mu.markerSeg, rs.mu.markerEnd = ids[k], end
			n := int(le.Uint32(body[8:]))
			rs.mu.restore = make([]uint64, n)
			for i := range n {
				rs.mu.restore[i] = le.Uint64(body[appliedMetaSize+8*i:])
			}
			return ids[:k+1], l.removeSegments(ids[k+1:])
		}
	}
	return nil, l.removeSegments(ids)
}

// removeSegments deletes the named segments (cut by trimToMarker).
func (l *Log) removeSegments(ids []uint64) error {
	for _, id := range ids {
		l.opts.Logger.Warn("log: removing segment after the last applied marker", "segment", segName(id))
		if err := l.fs.Remove(path.Join(l.dir, segName(id))); err != nil {
			return fmt.Errorf("log: remove %s: %w", segName(id), err)
		}
	}
	if len(ids) > 0 {
		return l.fs.SyncDir(l.dir)
	}
	return nil
}

// lastMarker scans f and returns the end offset and body (a copy) of its
// last valid applied marker, or end 0 when it has none.
func lastMarker(f File) (end int64, body []byte, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	sc := &scanner{f: f, size: fi.Size()}
	for off := int64(0); off < sc.size; {
		h, rec, ok, err := sc.record(off)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			if off, err = sc.resync(off + 1); err != nil || off < 0 {
				return end, body, err
			}
			continue
		}
		off += recHeaderSize + int64(h.len)
		if h.typ == recApplied {
			end, body = off, append(body[:0], rec[recHeaderSize:]...)
		}
	}
	return end, body, nil
}

// restorePendingLocked rebuilds the messages the last marker listed as
// pending from the chunk records recovery left uncommitted, and pins their
// segments. Called at the end of recovery, before old segments are dropped.
func (l *Log) restorePendingLocked(r *replay) {
	rs := &l.rep
	rs.mu.pending = make(map[uint64]*pendingMsg, len(rs.mu.restore))
	if len(rs.mu.restore) == 0 {
		return
	}
	for _, id := range rs.mu.restore {
		rs.mu.pending[id] = &pendingMsg{}
	}
	type loc struct {
		k chunkKey
		c chunkInfo
	}
	var found []loc
	for k, c := range r.chunks {
		if _, ok := rs.mu.pending[c.txn]; ok {
			found = append(found, loc{k, c})
		}
	}
	// File order, so the first chunk seen of a message is its earliest.
	slices.SortFunc(found, func(a, b loc) int {
		if c := cmp.Compare(a.k.seg, b.k.seg); c != 0 {
			return c
		}
		return cmp.Compare(a.k.off, b.k.off)
	})
	for _, f := range found {
		p := rs.mu.pending[f.c.txn]
		i := f.c.index
		if i >= maxReplicaChunks || (int(i) < len(p.have) && p.have[i]) {
			continue
		}
		if p.first == nil {
			if s := findSeg(l.mu.segs, f.k.seg); s != nil {
				s.live.Add(1)
				p.first = s
			}
		}
		if n := int(i) + 1; n > len(p.have) {
			p.have = slices.Grow(p.have, n-len(p.have))[:n]
			p.refs = slices.Grow(p.refs, n-len(p.refs))[:n]
		}
		p.have[i] = true
		p.refs[i] = chunkRef{seg: f.k.seg, off: f.k.off, n: f.c.n, crc: f.c.crc}
		p.n++
		p.bytes += int64(f.c.n)
	}
	rs.mu.restore = nil
}

// Snapshot is a point-in-time copy of a replica log's segments: the files
// up to its last applied marker, held open so that segments the log removes
// meanwhile stay readable. Close it when done.
type Snapshot struct {
	Applied uint64         // raft index the snapshot covers
	Files   []SnapshotFile // in segment order
}

// SnapshotFile is one segment of a Snapshot: Size bytes of the file Name.
type SnapshotFile struct {
	Name string
	Size int64
	f    File
}

// Reader returns a reader of the file's Size bytes.
func (f SnapshotFile) Reader() io.Reader { return io.NewSectionReader(f.f, 0, f.Size) }

// Close releases the snapshot's files.
func (s *Snapshot) Close() error {
	var err error
	for _, f := range s.Files {
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
	}
	s.Files = nil
	return err
}

// Snapshot captures the segments as of the last ApplySync (concurrent
// appends past it are not included). It must not run concurrently with the
// Apply methods (it waits for them). Installing a snapshot is writing its
// files, byte for byte under their names, into an empty directory and
// opening it with Options.Replica. Errors: ErrNotReplica, I/O errors.
func (l *Log) Snapshot() (*Snapshot, error) {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return nil, err
	}
	s := &Snapshot{Applied: rs.mu.applied}
	if rs.mu.markerSeg == 0 {
		return s, nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, seg := range l.mu.segs {
		if seg.id > rs.mu.markerSeg {
			break
		}
		f, err := l.fs.OpenFile(seg.path, os.O_RDONLY, 0)
		if err == nil {
			size := rs.mu.markerEnd
			if seg.id != rs.mu.markerSeg {
				var fi os.FileInfo
				if fi, err = f.Stat(); err == nil {
					size = fi.Size()
				}
			}
			s.Files = append(s.Files, SnapshotFile{Name: segName(seg.id), Size: size, f: f})
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("log: snapshot %s: %w", seg.path, err)
		}
	}
	return s, nil
}

// IsSegmentName reports whether name is a segment file's name, as a
// Snapshot's files are named.
func IsSegmentName(name string) bool {
	_, ok := parseSegName(name)
	return ok
}

package raft

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/lni/dragonboat/v3"
	sm "github.com/lni/dragonboat/v3/statemachine"
)

// The committer: group entries in flight, applied in order.
//
// The committer (see pipeline.go) keeps up to Config.MaxGroups group
// entries in flight, so a group is proposed while the ones before it are
// still being saved and replicated: small publishes wait for one fsync and
// one round trip, not for every group queued before theirs. Raft appends
// one leader's proposals in the order it receives them, but proposals can
// be lost on the way (a forwarding connection breaks, a leader steps down
// with proposals queued) while later ones get through, and a group that
// comes back dropped or timed out is proposed again after the others.
// So each group entry (kind 11) carries the pipeline's id (random, per
// StreamShard), its sequence in the pipeline, and base, the sequence of
// the oldest group still unsettled when it was proposed. The state
// machine applies a group only when it may: its sequence is the next one
// after the last group of that pipeline it applied, or it has no unsettled
// predecessor (base == seq); a group applied before (a retry of one that
// had committed after all) is applied again, its messages answered as
// duplicates with their original sequences. Any other group is refused as
// a whole (codeOutOfOrder), and the committer, which settles groups in
// order, proposes it again once it is the oldest, with base = seq. The
// state machine's table of pipelines is part of its state: it travels in
// the applied markers (log.MarkApplied), so a replica that restarts or
// installs a snapshot decides exactly as the others did. The table keeps
// the maxPipes pipelines that applied a group last; a pipeline dropped
// from it meets a refusal at worst, and is then proposed again in turn.
//
//	11 group with sequence  pipeline id u64 | seq u64 | base u64 | then a
//	                        kind 10 group's body (batch.go)

const (
	kindGroupSeq byte = 11
	groupSeqSize      = 1 + 8 + 8 + 8
	// codeOutOfOrder: a group came before its predecessor was applied.
	codeOutOfOrder byte = 32
	// maxPipes bounds the state machine's table of pipelines.
	maxPipes = 64
)

// pipeSeq is the last group a pipeline had applied: its sequence, and the
// raft index it was applied at (for eviction).
type pipeSeq struct {
	seq, index uint64
}

// pipeTable is the state machine's table of pipelines (Update's goroutine).
type pipeTable map[uint64]pipeSeq

// accept decides whether group seq of pipeline pipe (proposed with base)
// may be applied at raft index, and records it when it may.
func (t pipeTable) accept(pipe, seq, base, index uint64) bool {
	cur, ok := t[pipe]
	switch {
	case ok && seq <= cur.seq:
		return true // applied before: its messages are duplicates
	case ok && seq == cur.seq+1, base == seq:
	default:
		return false
	}
	t[pipe] = pipeSeq{seq: seq, index: index}
	if len(t) > maxPipes {
		var oldest uint64
		first := true
		for id, p := range t {
			if first || p.index < t[oldest].index || p.index == t[oldest].index && id < oldest {
				oldest, first = id, false
			}
		}
		delete(t, oldest)
	}
	return true
}

// encode appends t (format: count u32 | count × (pipeline id u64 |
// seq u64 | raft index u64), by id), as the applied markers carry it.
func (t pipeTable) encode(dst []byte) []byte {
	ids := make([]uint64, 0, len(t))
	for id := range t {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	dst = le.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		dst = le.AppendUint64(dst, id)
		dst = le.AppendUint64(dst, t[id].seq)
		dst = le.AppendUint64(dst, t[id].index)
	}
	return dst
}

// parsePipeTable decodes a table encode wrote (empty input: an empty
// table).
func parsePipeTable(b []byte) (pipeTable, error) {
	t := make(pipeTable)
	if len(b) == 0 {
		return t, nil
	}
	if len(b) < 4 || len(b) != 4+24*int(le.Uint32(b)) {
		return nil, fmt.Errorf("raft: pipeline table of %d bytes", len(b))
	}
	for q := b[4:]; len(q) > 0; q = q[24:] {
		t[le.Uint64(q)] = pipeSeq{seq: le.Uint64(q[8:]), index: le.Uint64(q[16:])}
	}
	return t, nil
}

// groupFlight is one group entry of the committer's window.
type groupFlight struct {
	seq    uint64
	items  []*pubItem // taken from the queue, in order
	group  []*pubItem // those in the entry (not large ones whose chunking failed)
	cmd    []byte
	rs     *dragonboat.RequestState // the attempt in flight; nil when none
	err    error                    // the group failed to be proposed
	atomic bool                     // items is one atomic batch (atomic.go)
	ctx    context.Context          // ends groupTimeout after the group was formed
	cancel context.CancelFunc
}

// commitLoop proposes the ready head of the queue as group entries, up to
// Config.MaxGroups in flight, and settles them in order, until the queue
// is empty.
func (s *StreamShard) commitLoop() {
	p := &s.pipe
	var window []*groupFlight
	for {
		for len(window) < s.h.cfg.MaxGroups {
			g := s.takeGroup()
			if g == nil {
				break
			}
			base := g.seq
			if len(window) > 0 {
				base = window[0].seq
			}
			s.proposeGroup(g, base)
			window = append(window, g)
		}
		if len(window) == 0 {
			p.mu.Lock()
			if len(p.queue) == 0 {
				p.committing = false
				p.mu.Unlock()
				return
			}
			ready := p.queue[0].ready
			p.mu.Unlock()
			if !ready {
				<-p.wake
			}
			continue
		}
		if s.settleHead(window[0], len(window) < s.h.cfg.MaxGroups) {
			s.recycleGroup(window[0])
			copy(window, window[1:])
			window[len(window)-1] = nil
			window = window[:len(window)-1]
		}
	}
}

// takeGroup takes the ready messages at the head of the queue (up to a
// chunk of data, at most groupMaxItems) as the next group, or returns nil
// when the head is not ready.
func (s *StreamShard) takeGroup() *groupFlight {
	p := &s.pipe
	p.mu.Lock()
	n, bytes := 0, 0
	for n < len(p.queue) && n < groupMaxItems && p.queue[n].ready {
		it := p.queue[n]
		if it.atomic {
			// An atomic batch is a group entry of its own.
			if n == 0 {
				n = 1
			}
			break
		}
		sz := len(it.data) + len(it.c.Hdr) + len(it.c.Subject) + commitFixed
		if n > 0 && bytes+sz > s.chunkSize {
			break
		}
		bytes += sz
		n++
	}
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	var g *groupFlight
	if k := len(p.spare); k > 0 {
		g = p.spare[k-1]
		p.spare[k-1] = nil
		p.spare = p.spare[:k-1]
	} else {
		g = &groupFlight{}
	}
	g.seq = p.nextGroup
	p.nextGroup++
	g.items = append(g.items, p.queue[:n]...)
	// Move the rest down: the queue keeps its array.
	m := copy(p.queue, p.queue[n:])
	clear(p.queue[m:])
	p.queue = p.queue[:m]
	p.mu.Unlock()
	g.ctx, g.cancel = context.WithTimeout(s.ctx, groupTimeout)
	if g.atomic = g.items[0].atomic; g.atomic {
		g.err = g.items[0].subErr()
		if g.err == nil {
			g.group = append(g.group, g.items[0])
		}
		return g
	}
	// Messages whose chunking failed are not in the entry; every message
	// is answered in queue order after it.
	for _, it := range g.items {
		if !it.large || it.err == nil {
			g.group = append(g.group, it)
		}
	}
	return g
}

// proposeGroup encodes g with base and proposes it (retrying while the
// shard is busy or leaderless); a failure to propose is kept in g.err.
func (s *StreamShard) proposeGroup(g *groupFlight, base uint64) {
	if len(g.group) == 0 {
		return
	}
	if g.atomic {
		g.cmd = s.appendGroup(g.cmd[:0], s.pipe.id, g.seq, base, g.group[0].subs)
		g.cmd[0] = kindAtomic
	} else {
		g.cmd = s.appendGroup(g.cmd[:0], s.pipe.id, g.seq, base, g.group)
	}
	g.rs, g.err = s.start(g.ctx, g.cmd, s.h.pipelineAttempt())
}

// settleHead waits for the oldest group's outcome (and, when fill is set,
// also for a message becoming ready, to propose the next group). It
// reports whether the group is settled: answered and done with. A group
// that timed out, was dropped or came too early is proposed again here,
// as the oldest, with nothing unsettled before it.
func (s *StreamShard) settleHead(g *groupFlight, fill bool) bool {
	if len(g.group) == 0 || g.err != nil {
		s.finishGroup(g, g.err, sm.Result{})
		return true
	}
	var wake <-chan struct{}
	if fill {
		wake = s.pipe.wake
	}
	select {
	case r := <-g.rs.ResultC():
		g.rs.Release()
		g.rs = nil
		switch {
		case r.Completed():
			res := r.GetResult()
			switch {
			case len(res.Data) < 9:
				s.finishGroup(g, fmt.Errorf("%w: short result", ErrRejected), sm.Result{})
			case res.Data[0] == codeOutOfOrder:
				s.reproposeGroup(g)
				return false
			default:
				s.finishGroup(g, nil, res)
			}
		case r.Timeout(), r.Dropped():
			s.reproposeGroup(g)
			return false
		case r.Terminated():
			s.finishGroup(g, fmt.Errorf("raft: shard %d stopped", s.id), sm.Result{})
		default:
			s.finishGroup(g, fmt.Errorf("%w: proposal aborted or rejected", ErrRejected), sm.Result{})
		}
		return true
	case <-g.ctx.Done():
		if g.rs != nil {
			g.rs.Release()
			g.rs = nil
		}
		s.finishGroup(g, g.ctx.Err(), sm.Result{}) // it may still be stored
		return true
	case <-wake:
		return false
	}
}

// reproposeGroup proposes the oldest group again, as having no unsettled
// predecessor, after a short pause.
func (s *StreamShard) reproposeGroup(g *groupFlight) {
	if err := wait(g.ctx, 5*time.Millisecond); err != nil {
		g.err = err
		return
	}
	le.PutUint64(g.cmd[17:], g.seq) // base
	g.rs, g.err = s.start(g.ctx, g.cmd, s.h.pipelineAttempt())
}

// finishGroup answers every message of g in queue order: with err, or
// with its part of res.
func (s *StreamShard) finishGroup(g *groupFlight, err error, res sm.Result) {
	if g.atomic {
		s.finishAtomic(g.items[0], err, res)
		g.cancel()
		clear(g.items)
		clear(g.group)
		return
	}
	if err == nil && len(g.group) > 0 {
		err = splitBatchResult(res, g.group)
	}
	for _, it := range g.items {
		switch {
		case it.large && it.err != nil:
			s.abort(it.c.ID) // its chunks go
			s.finish(it, 0, 0, it.err)
		case err != nil:
			if it.large {
				s.abort(it.c.ID) // not committed: its chunks go
			}
			s.finish(it, 0, 0, err)
		default:
			seq, ts, rerr := it.resultOf()
			s.finish(it, seq, ts, rerr)
		}
	}
	g.cancel()
	clear(g.items)
	clear(g.group)
}

// recycleGroup keeps settled g for the next takeGroup; a group that grew
// unusually large is left to the garbage collector.
func (s *StreamShard) recycleGroup(g *groupFlight) {
	if cap(g.cmd) > 2*s.chunkSize || cap(g.items) > 4*groupMaxItems {
		return
	}
	*g = groupFlight{items: g.items[:0], group: g.group[:0], cmd: g.cmd[:0]}
	p := &s.pipe
	p.mu.Lock()
	if len(p.spare) < 2*s.h.cfg.MaxGroups {
		p.spare = append(p.spare, g)
	}
	p.mu.Unlock()
}

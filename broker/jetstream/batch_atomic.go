package jetstream

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Atomic batch publish (ADR-50, allow_atomic), R1 streams (a replicated
// stream stages the same way in batch_replicated.go).
//
// A message with a Nats-Batch-Id header on a stream that allows atomic
// publish is staged, not stored: its body goes into the stream's log as
// it arrives (log.AppendStaged: chunk records for a payload over 16 KiB,
// invisible without a commit record; at most 16 KiB of a smaller one in
// memory), and the publisher gets an empty reply once it is staged. The
// message with Nats-Batch-Commit "1" (staged as the last) or "eob" (not
// stored; the last staged message gets Nats-Batch-Commit: 1) commits the
// batch: log.CommitBatch decides every message by the stream's rules in
// order (rules_batch.go adds the batch-only ones), then writes and applies
// them in one step, and the PubAck {"stream","seq","batch","count"}
// follows once they are durable. One refusal refuses the whole batch,
// with the refused message's error.
//
// The limits and errors are nats-server's: a batch id over 64 characters
// 10179, no Nats-Batch-Sequence 10175, a gap or a batch that timed out
// 10176 (incomplete), over 1000 messages 10199, a commit value other than
// "1" or "eob" 10200, 50 open batches per stream or 1000 per server 10210.
// A batch with no message for 10 s (the injected clock) is abandoned: its
// staged chunks are reclaimed with their segments.
//
// A crash before the commit leaves only chunk records without a commit
// record (nothing visible); a crash inside the commit's write leaves at
// most a prefix of the batch without its Nats-Batch-Commit message, which
// repairBatchTail removes when the log opens (batch_repair.go).

// Limits of atomic batches, nats-server's defaults.
const (
	maxBatchIDLen          = 64
	maxAtomicBatchSize     = 1000
	maxAtomicPerStream     = 50
	maxAtomicPerServer     = 1000
	atomicBatchIdleTimeout = 10 * time.Second
)

// atomicBatches are a stream's open atomic batches.
type atomicBatches struct {
	mu   sync.Mutex // guards m, fast and every field of their batches
	m    map[string]*atomicBatch
	fast map[string]*fastBatch // the open fast batches (batch_fast.go)
}

// atomicBatch is one open batch: its staged messages, in batch sequence
// order (nil: still arriving).
type atomicBatch struct {
	id    string
	apps  []stagedMsg
	timer broker.Timer
	dead  bool // abandoned or committed: late messages find it so
	// repl is a replicated stream's staging (batch_replicated.go), nil on
	// R1; leader the stream's leader when the batch began.
	repl   *replBatch
	leader uint64
}

// stagedMsg is a staged batch message: a *log.Appender (R1) or a
// *replStaged (replicated).
type stagedMsg interface {
	Write(piece []byte) (int, error)
	Stage() error
	Abort()
	Header() []byte
	SetHeader(hdr []byte)
}

// batchPub is the batch state of a pub staging one batch message.
type batchPub struct {
	b      *atomicBatch
	slot   int // index in b.apps; -1: the eob message (not stored)
	commit bool
	app    stagedMsg
}

// startBatch runs the batch checks of a message with a Nats-Batch-Id
// (the stream allows atomic publish; the static rules passed) and stages
// it. Refusals set p.err; the body is then dropped.
func (p *pub) startBatch(hdr []byte, body int64) {
	st := p.st
	ls, local := st.store.(*localStore)
	rs, repl := st.store.(*replicatedStore)
	if !local && !repl {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishDisabled)
		return
	}
	idv, _ := codec.HeaderValue(hdr, jsapi.HdrBatchID)
	if len(idv) == 0 || len(idv) > maxBatchIDLen {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishInvalidBatchID)
		return
	}
	sv, _ := codec.HeaderValue(hdr, jsapi.HdrBatchSeq)
	seq, valid := jsapi.ParseUint(sv)
	if len(sv) == 0 || !valid {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishMissingSeq)
		return
	}
	var commit, eob, badCommit bool
	if c, ok := codec.HeaderValue(hdr, jsapi.HdrBatchCommit); ok {
		commit = true
		eob = string(c) == jsapi.BatchCommitEOB
		badCommit = !eob && string(c) != "1"
	}
	size := seq
	if eob {
		size--
	}
	id := string(idv)
	bs := &st.batches
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[id]
	if b == nil {
		if seq != 1 {
			if size > maxAtomicBatchSize {
				p.err = tooLargeBatch()
			} else {
				p.err = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishIncompleteBatch)
			}
			return
		}
		if len(bs.m)+1 > maxAtomicPerStream {
			p.err = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishTooManyInflight)
			return
		}
		if p.e.atomicOpen.Add(1) > maxAtomicPerServer {
			p.e.atomicOpen.Add(-1)
			p.err = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishTooManyInflight)
			return
		}
		b = &atomicBatch{id: id}
		if repl {
			b.repl = &replBatch{pool: rs.spools}
			b.leader, _ = st.repl.Leader()
		}
		if bs.m == nil {
			bs.m = make(map[string]*atomicBatch)
		}
		bs.m[id] = b
		b.timer = p.e.o.Clock.AfterFunc(atomicBatchIdleTimeout, func() { st.abandonBatch(b) })
	}
	fail := func(apiErr *jsapi.APIError) {
		st.dropBatchLocked(b)
		p.err = apiErr
	}
	switch {
	case badCommit:
		fail(jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishInvalidCommit))
		return
	case !b.timer.Stop():
		// Timed out (abandonBatch is on its way, or done).
		fail(jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishIncompleteBatch))
		return
	case seq != uint64(len(b.apps))+1 || (seq == 1 && eob):
		fail(jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishIncompleteBatch))
		return
	case b.repl != nil && b.leaderChanged(st):
		fail(jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishIncompleteBatch))
		return
	case size > maxAtomicBatchSize:
		fail(tooLargeBatch())
		return
	}
	b.timer = p.e.o.Clock.AfterFunc(atomicBatchIdleTimeout, func() { st.abandonBatch(b) })
	bp := &batchPub{b: b, slot: -1, commit: commit}
	if !eob && b.repl != nil {
		bp.app, bp.slot = b.repl.stage(p.subject, hdr, body), len(b.apps)
	} else if !eob {
		app, err := ls.l.AppendStaged(p.subject, hdr, body)
		if err != nil {
			fail(p.e.storeError(st.name, err))
			return
		}
		bp.app, bp.slot = app, len(b.apps)
	}
	// The slot is taken now so that the next sequence follows at once;
	// it is filled when the message is staged.
	b.apps = append(b.apps, nil)
	if eob {
		b.apps = b.apps[:len(b.apps)-1]
	}
	p.bat = bp
}

func tooLargeBatch() *jsapi.APIError {
	return jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishTooLargeBatch, strconv.Itoa(maxAtomicBatchSize))
}

// writeBatch hands a body piece to the staged message.
func (bp *batchPub) write(p *pub, piece []byte) {
	if bp.app == nil || p.err != nil {
		return
	}
	if _, err := bp.app.Write(piece); err != nil {
		p.err = p.e.storeError(p.st.name, err)
	}
}

// endBatch finishes a batch message: staged (an empty reply), or the
// batch committed (the PubAck once durable), or refused (the batch is
// dropped).
func (p *pub) endBatch() {
	bp, st := p.bat, p.st
	p.bat = nil
	bs := &st.batches
	bs.mu.Lock()
	b := bp.b
	if b.dead {
		bs.mu.Unlock()
		abortApp(bp.app)
		p.reply0(jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishIncompleteBatch))
		return
	}
	if p.err == nil && bp.app != nil {
		if err := bp.app.Stage(); err != nil {
			p.err = jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishIncompleteBatch)
		}
	}
	if p.err != nil {
		abortApp(bp.app)
		st.dropBatchLocked(b)
		bs.mu.Unlock()
		p.reply0(p.err)
		return
	}
	if bp.slot >= 0 {
		b.apps[bp.slot] = bp.app
	}
	if !bp.commit {
		bs.mu.Unlock()
		if len(p.reply) > 0 && !st.Config().NoAck {
			p.e.srv.Deliver(p.reply, nil, nil, nil) // staged
		}
		return
	}
	apps := b.apps
	b.apps = nil
	incomplete := len(apps) == 0 || !b.timer.Stop() || (b.repl != nil && b.leaderChanged(st))
	for _, a := range apps {
		incomplete = incomplete || a == nil
	}
	if incomplete {
		b.apps = apps
		st.dropBatchLocked(b)
		bs.mu.Unlock()
		p.reply0(jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishIncompleteBatch))
		return
	}
	st.forgetBatchLocked(b)
	bs.mu.Unlock()
	if bp.slot < 0 {
		// Committed by "eob": the last staged message carries the commit.
		last := apps[len(apps)-1]
		last.SetHeader(withBatchCommit(last.Header()))
	}
	if b.repl != nil {
		st.commitReplBatch(p, b, apps)
		return
	}
	st.commitBatch(p, b.id, apps)
}

// commitBatch commits the staged messages (*log.Appender) as one step of
// the stream's log.
func (st *stream) commitBatch(p *pub, id string, staged []stagedMsg) {
	apps := make([]*log.Appender, len(staged))
	for i, m := range staged {
		apps[i] = m.(*log.Appender)
	}
	var reply []byte
	st.mu.Lock()
	if len(p.reply) > 0 && !st.mu.cfg.NoAck {
		reply = append([]byte(nil), p.reply...)
	}
	st.mu.Unlock()
	ls := st.store.(*localStore)
	count := uint64(len(apps))
	e := p.e
	_, err := ls.l.CommitBatch(apps, func(seq uint64, _ int64, err error) {
		if err != nil {
			if len(reply) > 0 {
				e.sendPubAckError(reply, st, e.storeError(st.name, err))
			}
			return
		}
		st.batchCommitted(seq, count)
		if len(reply) > 0 {
			buf := e.srvBuf()
			buf.b = jsapi.AppendBatchPubAck(buf.b[:0], st.name, seq, id, count)
			e.srv.SendIn(ls.AckBatch(), &broker.Delivery{To: reply, Body: buf.b, Once: true})
			e.putBuf(buf)
		}
	})
	if err == nil {
		return
	}
	var ce *log.CheckError
	if errors.As(err, &ce) {
		_, _, apiErr := refusalAnswer(ce)
		p.reply0(apiErr)
		return
	}
	p.reply0(e.storeError(st.name, err))
}

// batchCommitted does for a committed batch (last sequence seq, count
// messages) what commitDone does for one message: interest retention
// without consumers removes it.
func (st *stream) batchCommitted(seq, count uint64) {
	if st.Config().Retention == jsapi.InterestPolicy && st.cons.Count() == 0 {
		for s := seq - count + 1; s <= seq; s++ {
			st.Remove(s)
		}
		st.cons.StreamChanged()
	}
}

// reply0 answers a refused batch message (nothing on a no_ack stream).
func (p *pub) reply0(apiErr *jsapi.APIError) {
	if len(p.reply) == 0 || p.st.Config().NoAck {
		return
	}
	p.e.sendPubAckError(p.reply, p.st, apiErr)
}

// abandonBatch drops b when its idle timer fires.
func (st *stream) abandonBatch(b *atomicBatch) {
	st.batches.mu.Lock()
	defer st.batches.mu.Unlock()
	if !b.dead {
		st.dropBatchLocked(b)
	}
}

// dropBatchLocked abandons b: its staged messages are aborted. bs.mu held.
func (st *stream) dropBatchLocked(b *atomicBatch) {
	if b.dead {
		return
	}
	for _, a := range b.apps {
		abortApp(a)
	}
	b.apps = nil
	if b.repl != nil {
		b.repl.release()
	}
	st.forgetBatchLocked(b)
}

// forgetBatchLocked closes b and unregisters it. bs.mu held.
func (st *stream) forgetBatchLocked(b *atomicBatch) {
	b.dead = true
	b.timer.Stop()
	if st.batches.m[b.id] == b {
		delete(st.batches.m, b.id)
	}
	st.e.atomicOpen.Add(-1)
}

// closeBatches abandons every open batch (the stream closes).
func (st *stream) closeBatches() {
	st.batches.mu.Lock()
	defer st.batches.mu.Unlock()
	for _, b := range st.batches.m {
		st.dropBatchLocked(b)
	}
	for _, b := range st.batches.fast {
		st.dropFastLocked(b)
	}
}

func abortApp(a stagedMsg) {
	if a != nil {
		a.Abort()
	}
}

// withBatchCommit is hdr with a Nats-Batch-Commit: 1 header added.
func withBatchCommit(hdr []byte) []byte {
	if len(hdr) < 4 {
		return hdr
	}
	out := make([]byte, 0, len(hdr)+len(jsapi.HdrBatchCommit)+5)
	out = append(out, hdr[:len(hdr)-2]...) // less the blank line
	out = codec.AppendHeader(out, jsapi.HdrBatchCommit, "1")
	return codec.AppendHeaderEnd(out)
}

// abortBatch ends a batch message whose publisher went away mid-payload:
// the message is aborted and its batch dropped (its sequence is lost).
func (p *pub) abortBatch() {
	bp := p.bat
	p.bat = nil
	abortApp(bp.app)
	p.st.batches.mu.Lock()
	p.st.dropBatchLocked(bp.b)
	p.st.batches.mu.Unlock()
}

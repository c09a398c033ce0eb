package jetstream

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Fast batch publish (ADR-50, allow_batched): the flow
// controlled batch protocol of nats-server 2.14 that orbit.go's
// jetstreamext.FastPublisher (`nats bench js pub fast`) speaks.
//
// A fast-batch message is an ordinary publish whose reply subject reads
// <prefix>.<batch id>.<flow>.<gap mode>.<batch seq>.<op>.$FI (op 0 start,
// 1 append, 2 commit, 3 commit by end-of-batch, 4 ping). Each message is
// stored as it comes, through the stream's rules, with no PubAck; instead
// the server tells the publisher on that reply subject:
//
//	{"type":"ack","seq":N,"msgs":M}   the batch's messages up to N are
//	                                  durable; ack again after M more (the
//	                                  first message gets one with seq 0)
//	{"type":"gap","last_seq","seq"}   a message is missing or repeated
//	{"type":"err","seq","error"}      a message was refused
//	{"stream","seq","batch","count"}  the commit's PubAck, once every
//	                                  message up to it is durable
//
// The flow window starts at min(500, the client's flow) (1 when the stream
// has other open fast batches) and moves towards 500 / open batches, as
// nats-server. gap "fail" ends the batch at a gap or a refusal (the PubAck
// confirms what was stored); "ok" goes on. A ping resends the last flow
// ack. Limits: 1000 open fast batches per stream, 50000 per server
// (10211); idle for 10 s, the batch is forgotten (a later message 10208).

const (
	maxFastPerStream = 1000
	maxFastPerServer = 50_000
	maxFastFlow      = 500
)

// fastRef is a parsed fast-batch reply subject.
type fastRef struct {
	id     string
	seq    uint64
	flow   uint16
	gapOk  bool
	ping   bool
	commit bool
	eob    bool
}

// isFastReply reports whether reply names a fast-batch message.
func isFastReply(reply []byte) bool {
	return len(reply) > len(jsapi.FastBatchSuffix) && string(reply[len(reply)-len(jsapi.FastBatchSuffix):]) == jsapi.FastBatchSuffix
}

// parseFastReply reads a fast-batch reply subject; ok false: the pattern
// is invalid.
func parseFastReply(reply string) (r fastRef, ok bool) {
	s := strings.TrimSuffix(reply, jsapi.FastBatchSuffix)
	tok := func() (string, bool) {
		i := strings.LastIndexByte(s, '.')
		if i < 0 {
			return "", false
		}
		t := s[i+1:]
		s = s[:i]
		return t, true
	}
	opTok, ok1 := tok()
	seqTok, ok2 := tok()
	gapTok, ok3 := tok()
	flowTok, ok4 := tok()
	idTok, ok5 := tok()
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return r, false
	}
	op, err := strconv.Atoi(opTok)
	if err != nil || op < jsapi.FastBatchOpStart || op > jsapi.FastBatchOpPing {
		return r, false
	}
	seq, err := strconv.ParseUint(seqTok, 10, 64)
	if err != nil || seq == 0 || seq == math.MaxUint64 {
		return r, false
	}
	r.seq, r.ping = seq, op == jsapi.FastBatchOpPing
	r.eob = op == jsapi.FastBatchOpCommitEOB
	r.commit = r.eob || op == jsapi.FastBatchOpCommit
	if (seq == 1 && r.eob) || (op == jsapi.FastBatchOpStart && seq != 1) || (op == jsapi.FastBatchOpAppend && seq <= 1) {
		return r, false
	}
	switch gapTok {
	case "ok":
		r.gapOk = true
	case "fail":
	default:
		return r, false
	}
	flow, err := strconv.ParseInt(flowTok, 10, 64)
	switch {
	case err != nil || flow <= 0:
		flow = 10
	case flow > math.MaxUint16:
		flow = math.MaxUint16
	}
	r.flow = uint16(flow)
	r.id = idTok
	return r, true
}

// fastBatch is one open fast batch (guarded by atomicBatches.mu).
type fastBatch struct {
	id      string
	timer   broker.Timer
	lseq    uint64 // highest batch sequence received
	sseq    uint64 // stream sequence of the last message made durable
	pseq    uint64 // highest batch sequence durable (<= lseq)
	fseq    uint64 // batch sequence of the last flow ack (<= pseq)
	pending uint32 // messages stored, not yet durable
	ack     uint16 // ack every ack messages
	maxAck  uint16 // the client's flow
	reply   []byte // where flow messages go: the last reply seen
	gapOk   bool
	commit  bool // the commit is in: the PubAck follows the last durable message
	dead    bool
}

// fastOut collects the messages to send once the lock is released.
type fastOut struct {
	e    *Engine
	msgs []fastMsg
}

type fastMsg struct{ to, body []byte }

func (o *fastOut) add(to, body []byte) {
	if len(to) > 0 {
		o.msgs = append(o.msgs, fastMsg{append([]byte(nil), to...), body})
	}
}

func (o *fastOut) send() {
	for _, m := range o.msgs {
		o.e.srv.Deliver(m.to, nil, nil, m.body)
	}
}

// fastPub is the fast-batch state of a pub being stored.
type fastPub struct {
	ref   fastRef
	reply []byte
}

// startFast runs the fast-batch protocol for a message whose reply ends
// in .$FI (the static rules passed). It either stores the message (p.app
// set, p.fast set: endFast commits it) or answers and drops the body
// (p.err, or p.fastSkip).
func (p *pub) startFast(hdr []byte, body int64) {
	st := p.st
	cfg := st.Config()
	if !cfg.AllowBatchPublish {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeBatchPublishDisabled)
		return
	}
	ref, ok := parseFastReply(string(p.reply))
	if !ok {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeBatchPublishInvalidPattern)
		return
	}
	if len(ref.id) > maxBatchIDLen {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeBatchPublishInvalidBatchID)
		return
	}
	if cfg.NoAck {
		p.reply = p.reply[:0]
	}
	out := fastOut{e: p.e}
	defer out.send()
	bs := &st.batches
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.fast[ref.id]
	if b == nil {
		if ref.seq != 1 || ref.ping {
			p.err = jsapi.NewAPIError(jsapi.ErrCodeBatchPublishUnknownBatchID)
			return
		}
		if len(bs.fast)+1 > maxFastPerStream {
			p.err = jsapi.NewAPIError(jsapi.ErrCodeBatchPublishTooManyInflight)
			return
		}
		if p.e.fastOpen.Add(1) > maxFastPerServer {
			p.e.fastOpen.Add(-1)
			p.err = jsapi.NewAPIError(jsapi.ErrCodeBatchPublishTooManyInflight)
			return
		}
		b = &fastBatch{id: ref.id, gapOk: ref.gapOk, maxAck: ref.flow}
		if bs.fast == nil {
			bs.fast = make(map[string]*fastBatch)
		}
		bs.fast[ref.id] = b
		b.ack = min(maxFastFlow, b.maxAck)
		if len(bs.fast) > 1 {
			b.ack = 1
		}
		b.timer = p.e.o.Clock.AfterFunc(atomicBatchIdleTimeout, func() { st.forgetFast(b) })
	}
	b.reply = append(b.reply[:0], p.reply...)
	cleanup := !st.touchFastLocked(b)
	p.fastSkip = true // unless stored below
	if ref.ping {
		flow := true
		if ref.seq > b.lseq || cleanup {
			out.add(p.reply, jsapi.AppendBatchFlowGap(nil, b.lseq+1, ref.seq+1))
			if b.gapOk && !cleanup {
				b.lseq = ref.seq
				if b.pending == 0 {
					b.pseq = b.lseq
				}
				flow = !st.fastFlowLocked(b, &out)
			} else if st.fastCommitLocked(b, &out) {
				st.dropFastLocked(b)
				flow = false
			}
		}
		if flow {
			out.add(p.reply, jsapi.AppendBatchFlowAck(nil, b.fseq, b.ack))
		}
		return
	}
	if b.commit {
		return // committing after a refusal or a gap: the PubAck is on its way
	}
	b.lseq++
	if b.lseq != ref.seq || cleanup {
		if ref.seq != b.lseq {
			out.add(p.reply, jsapi.AppendBatchFlowGap(nil, b.lseq, ref.seq))
		}
		if b.gapOk && !cleanup && ref.seq > b.lseq {
			b.lseq = ref.seq
		} else {
			b.lseq--
			if st.fastCommitLocked(b, &out) {
				st.dropFastLocked(b)
			}
			return
		}
	}
	if ref.commit {
		if ref.eob {
			b.lseq--
			if b.pending == 0 {
				b.pseq = b.lseq
			}
		}
		done := st.fastCommitLocked(b, &out)
		if ref.eob {
			if done {
				st.dropFastLocked(b)
			}
			return
		}
	}
	if ref.seq == 1 && !ref.commit {
		out.add(p.reply, jsapi.AppendBatchFlowAck(nil, 0, b.ack))
	}
	app, err := st.store.Begin(p.subject, hdr, body)
	if err != nil {
		p.fastSkip = false
		p.err = p.e.storeError(st.name, err)
		return
	}
	p.app, p.fastSkip = app, false
	p.fast = &fastPub{ref: ref, reply: append([]byte(nil), p.reply...)}
}

// touchFastLocked restarts b's idle timer; false: it had fired.
func (st *stream) touchFastLocked(b *fastBatch) bool {
	if b.commit {
		return true
	}
	if b.dead || !b.timer.Stop() {
		return false
	}
	b.timer = st.e.o.Clock.AfterFunc(atomicBatchIdleTimeout, func() { st.forgetFast(b) })
	return true
}

// fastCommitLocked marks b committed and sends its PubAck when every
// message is durable (then true: drop it).
func (st *stream) fastCommitLocked(b *fastBatch, out *fastOut) bool {
	if b.dead || (!b.commit && !b.timer.Stop()) {
		return true
	}
	b.commit = true
	if b.lseq == b.pseq {
		out.add(b.reply, jsapi.AppendBatchPubAck(nil, st.name, b.sseq, b.id, b.lseq))
		return true
	}
	return false
}

// fastFlowLocked sends a flow ack when enough messages became durable,
// moving the window towards its share; reports whether it sent one.
func (st *stream) fastFlowLocked(b *fastBatch, out *fastOut) bool {
	am := uint64(b.ack)
	if b.pseq < b.fseq+am {
		return false
	}
	b.fseq += (b.pseq - b.fseq) / am * am
	share := uint16(max(1, maxFastFlow/len(st.batches.fast)))
	share = min(share, b.maxAck)
	switch {
	case b.ack < share:
		b.ack = min(b.ack*2, share)
	case b.ack > share:
		b.ack = max(b.ack/2, share)
	}
	out.add(b.reply, jsapi.AppendBatchFlowAck(nil, b.fseq, b.ack))
	return true
}

// endFast commits a stored fast-batch message; its durability moves the
// batch's flow (fastDurable), a refusal is reported as nats-server does.
func (p *pub) endFast() {
	fp, st := p.fast, p.st
	p.fast = nil
	if p.err != nil || p.app == nil {
		if p.app != nil {
			p.app.Abort()
			p.app = nil
		}
		st.fastRefused(fp, p.err, 0)
		return
	}
	st.batches.mu.Lock()
	if b := st.batches.fast[fp.ref.id]; b != nil {
		b.pending++
	}
	st.batches.mu.Unlock()
	_, err := p.app.End(func(seq uint64, _ int64, err error) {
		if err != nil {
			// A replicated store decides at apply: a refusal comes here.
			st.fastFailed(fp, err)
			return
		}
		if st.Config().Retention == jsapi.InterestPolicy && st.cons.Count() == 0 {
			st.Remove(seq)
			st.cons.StreamChanged()
		}
		st.fastDurable(fp, seq)
	})
	p.app = nil
	if err != nil {
		st.fastFailed(fp, err)
	}
}

// fastFailed handles a stored message that failed or was refused by the
// rules (at once on R1, at apply on a replicated stream).
func (st *stream) fastFailed(fp *fastPub, err error) {
	st.batches.mu.Lock()
	if b := st.batches.fast[fp.ref.id]; b != nil && b.pending > 0 {
		b.pending--
	}
	st.batches.mu.Unlock()
	var ce *log.CheckError
	switch {
	case errors.As(err, &ce):
		dup, orig, apiErr := refusalAnswer(ce)
		if dup {
			st.fastRefused(fp, nil, orig)
			return
		}
		st.fastRefused(fp, apiErr, 0)
	case errors.Is(err, context.DeadlineExceeded):
		st.fastRefused(fp, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail), 0)
	default:
		st.fastRefused(fp, st.e.storeError(st.name, err), 0)
	}
}

// fastDurable registers message fp (stream sequence seq) durable.
func (st *stream) fastDurable(fp *fastPub, seq uint64) {
	out := fastOut{e: st.e}
	defer out.send()
	bs := &st.batches
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.fast[fp.ref.id]
	if b == nil {
		return
	}
	b.reply = append(b.reply[:0], fp.reply...)
	if b.pending > 0 {
		b.pending--
	}
	// Durability may be reported out of order (a store's callbacks are not
	// one goroutine): the batch's last sequence is the highest seen, and
	// the commit's PubAck waits until nothing is pending.
	b.sseq = max(b.sseq, seq)
	if b.pending == 0 {
		b.pseq = b.lseq
	} else {
		b.pseq = max(b.pseq, fp.ref.seq)
	}
	if b.commit && b.pending == 0 && b.lseq == b.pseq {
		out.add(b.reply, jsapi.AppendBatchPubAck(nil, st.name, b.sseq, b.id, b.lseq))
		st.dropFastLocked(b)
		return
	}
	st.fastFlowLocked(b, &out)
}

// fastRefused handles a refused message of a fast batch: a duplicate
// (dup: the original's sequence) is skipped; any other refusal is
// reported, and ends the batch under gap "fail".
func (st *stream) fastRefused(fp *fastPub, apiErr *jsapi.APIError, dup uint64) {
	out := fastOut{e: st.e}
	defer out.send()
	bs := &st.batches
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.fast[fp.ref.id]
	if b == nil {
		if apiErr != nil {
			out.add(fp.reply, jsapi.AppendPubAckError(nil, st.name, st.e.publicErr(apiErr)))
		}
		return
	}
	if apiErr == nil && b.pending == 0 {
		b.pseq = fp.ref.seq
		st.fastFlowLocked(b, &out)
	}
	if apiErr == nil && !fp.ref.commit {
		return
	}
	if !b.gapOk && b.lseq == 1 {
		// The first message: answered as a plain publish.
		if apiErr == nil {
			out.add(fp.reply, appendFastDup(st.name, dup, b.id, fp.ref.seq))
		} else {
			out.add(fp.reply, jsapi.AppendPubAckError(nil, st.name, st.e.publicErr(apiErr)))
		}
		st.dropFastLocked(b)
		return
	}
	if apiErr != nil {
		out.add(fp.reply, jsapi.AppendBatchFlowErr(nil, fp.ref.seq, st.e.publicErr(apiErr)))
		if b.gapOk && !fp.ref.commit {
			return
		}
		b.lseq--
		if b.pending == 0 {
			b.pseq = b.lseq
		}
	}
	if st.fastCommitLocked(b, &out) {
		st.dropFastLocked(b)
	}
}

func appendFastDup(stream string, seq uint64, id string, count uint64) []byte {
	b := jsapi.AppendBatchPubAck(nil, stream, seq, id, count)
	return append(b[:len(b)-1], `,"duplicate":true}`...)
}

// forgetFast drops b when its idle timer fires.
func (st *stream) forgetFast(b *fastBatch) {
	st.batches.mu.Lock()
	defer st.batches.mu.Unlock()
	st.dropFastLocked(b)
}

// dropFastLocked unregisters b. atomicBatches.mu held.
func (st *stream) dropFastLocked(b *fastBatch) {
	if b.dead {
		return
	}
	b.dead = true
	b.timer.Stop()
	if st.batches.fast[b.id] == b {
		delete(st.batches.fast, b.id)
	}
	st.e.fastOpen.Add(-1)
}

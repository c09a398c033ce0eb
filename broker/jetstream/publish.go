package jetstream

import (
	"context"
	"errors"
	"strconv"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// maxHeaderSize is the largest header block a stream stores (nats-server's
// 64 KiB; 10097 beyond).
const maxHeaderSize = 64 << 10

// Capture implements broker.Capturer: it returns a capture for a subject
// some stream listens on, nil otherwise. It runs on the publisher's event
// loop at the control line; hdrLen is -1 for PUB, size counts headers and
// body.
func (e *Engine) Capture(subject, reply []byte, hdrLen, size int) broker.Capture {
	st := e.streamFor(subject)
	if st == nil {
		return e.captureRemote(subject) // nonmember.go
	}
	p := e.pubs.Get().(*pub)
	p.e, p.st = e, st
	p.subject = string(subject)
	p.reply = append(p.reply[:0], reply...)
	p.hdr = p.hdr[:0]
	p.hdrLen, p.size = hdrLen, size
	return p
}

// pub is one message on its way into a stream, R1 or replicated alike.
// Every method runs on the publisher's event loop, in wire order: Headers
// (HPUB), Write per body piece, End or Abort. The rules that depend only on
// the config and the message run before the body is stored (a refused
// message's body is dropped as it arrives); every rule is decided again, in
// log order, by the stream's publishRules (rules.go) when its store commits
// it (Store: assigning the sequence on R1, applying the raft entry on a
// replica).
type pub struct {
	e       *Engine
	st      *stream
	subject string
	reply   []byte
	hdr     []byte
	hdrLen  int
	size    int
	started bool
	app     Appending
	err     *jsapi.APIError // the message is refused: reply this at End
	msgID   bool            // it has a Nats-Msg-Id: duplicates may wait for it
	rollup  bool            // it has a Nats-Rollup
	bat     *batchPub       // a staged atomic batch message (batch_atomic.go)
	fast    *fastPub        // a fast-batch message being stored (batch_fast.go)
	// fastSkip: a fast-batch message answered without storing (a ping,
	// an end-of-batch commit, a gap).
	fastSkip bool
}

// Headers receives the whole header block of an HPUB.
func (p *pub) Headers(hdr []byte) {
	p.hdr = append(p.hdr[:0], hdr...)
	p.start()
}

// Write receives the next body piece and hands it to the log appender.
func (p *pub) Write(piece []byte) {
	if !p.started {
		p.start()
	}
	if p.bat != nil {
		p.bat.write(p, piece)
		return
	}
	if p.app == nil {
		return
	}
	if err := p.app.Write(piece); err != nil {
		p.app.Abort()
		p.app = nil
		p.err = p.e.storeError(p.st.name, err)
	}
}

// End completes the message: a refusal is answered now, otherwise the
// sequence is assigned and the PubAck follows once the message is durable.
func (p *pub) End() {
	if !p.started {
		p.start()
	}
	if p.bat != nil {
		p.endBatch()
	} else if p.fast != nil {
		p.endFast()
	} else if p.fastSkip {
		// answered by startFast
	} else if p.err != nil {
		p.reject(p.err)
	} else {
		p.commit()
	}
	p.release()
}

// Abort abandons the message (publisher gone mid-payload): nothing is
// stored and nothing is answered.
func (p *pub) Abort() {
	if p.app != nil {
		p.app.Abort()
	}
	if p.bat != nil {
		p.abortBatch()
	}
	p.release()
}

func (p *pub) release() {
	p.app, p.err, p.started, p.st = nil, nil, false, nil
	p.msgID, p.rollup, p.bat = false, false, nil
	p.fast, p.fastSkip = nil, false
	p.subject = ""
	if cap(p.hdr) > 4096 {
		p.hdr = nil
	}
	p.e.pubs.Put(p)
}

// start runs the early rules and opens the log appender.
func (p *pub) start() {
	p.started = true
	var h pubHeaders
	hdr := p.hdr
	if len(hdr) == 0 {
		hdr = nil
	}
	st := p.st
	st.mu.Lock()
	p.err = st.precheckLocked(p.subject, hdr, p.size, &h)
	if tr := st.mu.xform; tr != nil && p.err == nil {
		if to, ok := tr.Match(p.subject); ok {
			p.subject = to // stored under the transformed subject
		}
	}
	storage := st.mu.cfg.Storage
	st.mu.Unlock()
	if p.err != nil {
		return
	}
	if p.e.wouldExceedAccount(storage, p.size) {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeAccountResourcesExceeded)
		return
	}
	p.msgID, p.rollup = len(h.msgID) > 0, len(h.rollup) > 0
	body := p.size
	if p.hdrLen > 0 {
		body -= p.hdrLen
	}
	if h.batch {
		p.startBatch(hdr, int64(body))
		return
	}
	if isFastReply(p.reply) {
		p.startFast(hdr, int64(body))
		return
	}
	app, err := st.store.Begin(p.subject, hdr, int64(body))
	if err != nil {
		p.err = p.e.storeError(p.st.name, err)
		return
	}
	p.app = app
}

// precheckLocked runs the publish rules that depend only on the config and
// the message (hdr; size: headers and body), for R1 and replicated streams
// alike, early: before the body is stored or proposed, and refuses a
// client's Nats-Stream-Source (10227). h receives the parsed headers.
// s.mu held.
func (s *stream) precheckLocked(subj string, hdr []byte, size int, h *pubHeaders) *jsapi.APIError {
	if s.mu.closed {
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, jsapi.StoreClosed)
	}
	rc := rulesOf(&s.mu.cfg)
	if ce := rc.decideStatic(s.name, subj, hdr, int64(size), h); ce != nil {
		_, _, apiErr := refusalAnswer(ce)
		return apiErr
	}
	if h.sourced {
		// Only a source's copies carry it (they are not publishes), as
		// nats-server refuses it from clients.
		return jsapi.NewAPIError(jsapi.ErrCodeMessageSourceHdrNotAllowed)
	}
	if len(hdr) > 0 {
		return clientSchedule(&s.mu.cfg, h, hdr)
	}
	return nil
}

// commit ends the message in its store under the stream lock: a local
// store decides it at once (the rules run in log order as it assigns the
// sequence) and reports durability to done; a replicated one decides it at
// apply and reports either to done. A duplicate of a local message not yet
// durable waits for it.
func (p *pub) commit() {
	st := p.st
	c := &commitDone{e: p.e, st: st, rollup: p.rollup}
	st.mu.Lock()
	if len(p.reply) > 0 && !st.mu.cfg.NoAck {
		c.reply = append([]byte(nil), p.reply...)
	}
	seq, err := p.app.End(c.done)
	p.app = nil
	var ce *log.CheckError
	switch {
	case err == nil:
		c.seq = seq // 0 from a replicated store; done takes st.mu before reading it
		if p.msgID && seq != 0 {
			st.mu.inflight[seq] = c
		}
		st.mu.Unlock()
	case errors.As(err, &ce):
		dup, orig, apiErr := refusalAnswer(ce)
		if !dup {
			st.mu.Unlock()
			p.reject(apiErr)
			return
		}
		if o := st.mu.inflight[orig]; o != nil {
			// Not durable yet: answered when it is (or fails).
			if len(p.reply) > 0 {
				o.waiters = append(o.waiters, append([]byte(nil), p.reply...))
			}
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
		p.e.sendPubAck(p.reply, st, orig, true)
	default:
		st.mu.Unlock()
		p.reject(p.e.storeError(st.name, err))
	}
}

// reject answers a refused publish with nats-server's PubAck error body.
func (p *pub) reject(apiErr *jsapi.APIError) {
	if p.app != nil {
		p.app.Abort()
		p.app = nil
	}
	if len(p.reply) == 0 {
		return
	}
	buf := p.e.srvBuf()
	b := jsapi.AppendPubAckError(buf.b[:0], p.st.name, apiErr)
	p.e.srv.Deliver(p.reply, nil, nil, b)
	buf.b = b
	p.e.putBuf(buf)
}

// commitDone finishes a message once its store reports it durable, or
// refused (a replicated store decides at apply), or failed: duplicates
// that waited for it, interest retention without consumers, and the
// PubAck. It runs on the store's goroutine (the log's notifier, or the
// replica's pipeline), never an event loop. A rollup's purge is the log's
// (an Action of the rules), applied with the message before done runs.
type commitDone struct {
	e       *Engine
	st      *stream
	rollup  bool
	reply   []byte   // the PubAck's (nil: none, or a no_ack stream)
	seq     uint64   // assigned sequence of a local store, set under st.mu before done can run
	waiters [][]byte // replies of duplicates waiting for it (st.mu)
}

func (c *commitDone) done(seq uint64, _ int64, err error) {
	st := c.st
	st.mu.Lock()
	if c.seq != 0 && st.mu.inflight[c.seq] == c {
		delete(st.mu.inflight, c.seq)
	}
	if c.seq != 0 {
		seq = c.seq
	}
	waiters := c.waiters
	c.waiters = nil
	retention, counter := st.mu.cfg.Retention, st.mu.cfg.AllowMsgCounter
	rp := st.mu.repub
	st.mu.Unlock()
	var ce *log.CheckError
	switch {
	case errors.As(err, &ce):
		// Refused at apply (a replicated store).
		if len(c.reply) == 0 {
			return
		}
		if dup, orig, apiErr := refusalAnswer(ce); dup {
			c.e.ackIn(st, c.reply, orig, true)
		} else {
			c.e.sendPubAckError(c.reply, st, apiErr)
		}
		return
	case errors.Is(err, context.DeadlineExceeded):
		if len(c.reply) > 0 {
			c.e.sendPubAckError(c.reply, st, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
		}
		return
	case err != nil:
		apiErr := c.e.storeError(st.name, err)
		for _, r := range append(waiters, c.reply) {
			if len(r) > 0 {
				c.e.sendPubAckError(r, st, apiErr)
			}
		}
		return
	}
	changed := c.rollup || st.repl != nil // a replica's apply: consumers recount
	if retention == jsapi.InterestPolicy && st.cons.Count() == 0 {
		// No consumer is interested: nothing will ever acknowledge it.
		st.Remove(seq)
		changed = true
	}
	if changed {
		st.cons.StreamChanged()
	}
	if rp != nil {
		c.e.republish(st, rp, seq) // republish.go
	}
	if counter && len(c.reply) > 0 {
		// The total the rules stored (counter.go).
		c.e.sendCounterAck(c.reply, st, seq, st.counterAckValue(seq))
	} else if len(c.reply) > 0 {
		c.e.ackIn(st, c.reply, seq, false)
	}
	for _, r := range waiters {
		c.e.ackIn(st, r, seq, true)
	}
}

// ackIn sends a PubAck from a store's done callback: deferred into the
// store's ack batch when it has one, else through the engine's coalescer.
func (e *Engine) ackIn(st *stream, reply []byte, seq uint64, dup bool) {
	if ob := st.store.AckBatch(); ob != nil {
		e.sendPubAckIn(ob, reply, st, seq, dup)
		return
	}
	e.queuePubAck(st, reply, seq, dup)
}

// sendPubAck sends {"stream","seq"[,"duplicate"]} to reply (nothing when
// reply is empty or the stream is no_ack).
func (e *Engine) sendPubAck(reply []byte, st *stream, seq uint64, dup bool) {
	e.sendPubAckIn(nil, reply, st, seq, dup)
}

// sendPubAckIn is sendPubAck deferred into ob (see broker.OutBatch), which
// the caller flushes; ob nil sends at once.
func (e *Engine) sendPubAckIn(ob *broker.OutBatch, reply []byte, st *stream, seq uint64, dup bool) {
	if len(reply) == 0 {
		return
	}
	buf := e.srvBuf()
	buf.b = jsapi.AppendPubAck(buf.b[:0], st.name, seq, "", dup)
	// A PubAck inbox is used once: do not let it evict cached subjects.
	e.srv.SendIn(ob, &broker.Delivery{To: reply, Body: buf.b, Once: true})
	e.putBuf(buf)
}

// sendCounterAck sends a counter's PubAck, with its total:
// {"stream","seq","val"}.
func (e *Engine) sendCounterAck(reply []byte, st *stream, seq uint64, val string) {
	buf := e.srvBuf()
	b := jsapi.AppendPubAck(buf.b[:0], st.name, seq, "", false)
	b = append(b[:len(b)-1], `,"val":`...)
	b = strconv.AppendQuote(b, val)
	buf.b = append(b, '}')
	e.srv.Deliver(reply, nil, nil, buf.b)
	e.putBuf(buf)
}

// sendPubAckError sends a PubAck error body to reply.
func (e *Engine) sendPubAckError(reply []byte, st *stream, apiErr *jsapi.APIError) {
	buf := e.srvBuf()
	buf.b = jsapi.AppendPubAckError(buf.b[:0], st.name, e.publicErr(apiErr))
	e.srv.Deliver(reply, nil, nil, buf.b)
	e.putBuf(buf)
}

// storeError maps a log error to nats-server's publish error; an
// unexpected one is logged and answered without server paths (errtext.go).
func (e *Engine) storeError(stream string, err error) *jsapi.APIError {
	switch {
	case errors.Is(err, log.ErrMaxMsgs):
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, jsapi.StoreMaxMsgs)
	case errors.Is(err, log.ErrMaxBytes):
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, jsapi.StoreMaxBytes)
	case errors.Is(err, log.ErrClosed):
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, jsapi.StoreClosed)
	case errors.Is(err, log.ErrNoSpace), errors.Is(err, log.ErrIO):
		// As nats-server, 10077 with the store's reason, less its paths.
		e.log.Error("jetstream: store message failed", "stream", stream, "err", err)
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, storeErrText(err))
	}
	return e.internalErr(jsapi.ErrCodeStreamStoreFailed, stream, "store message", err)
}

// storeErrText words a write failure of the log for a client: what failed,
// without the server's file paths.
func storeErrText(err error) string {
	if errors.Is(err, log.ErrNoSpace) {
		return jsapi.StoreNoSpace
	}
	return jsapi.StoreIOError
}

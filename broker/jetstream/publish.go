package jetstream

import (
	"errors"
	"strconv"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec"
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
	if st.repl != nil {
		return e.captureReplicated(st, subject, reply, hdrLen, size)
	}
	p := e.pubs.Get().(*pub)
	p.e, p.st = e, st
	p.subject = string(subject)
	p.reply = append(p.reply[:0], reply...)
	p.hdr = p.hdr[:0]
	p.hdrLen, p.size = hdrLen, size
	return p
}

// pub is one message on its way into a stream. Every method runs on the
// publisher's event loop, in wire order: Headers (HPUB), Write per body
// piece, End or Abort. Checks that can be decided from the headers run
// before the body is stored (a refused message's body is dropped as it
// arrives); the checks that depend on order (dedup, expected last
// sequence/subject sequence/msg id) run again at End under the stream lock
// together with the sequence assignment, so they are decided in sequence
// order.
type pub struct {
	e       *Engine
	st      *stream
	subject string
	reply   []byte
	hdr     []byte
	hdrLen  int
	size    int
	started bool
	app     *log.Appender
	err     *jsapi.APIError // the message is refused: reply this at End
	dup     bool            // a duplicate seen before the body: reply at End
	h       pubHeaders
}

// pubHeaders are the JetStream headers of a publish.
type pubHeaders struct {
	msgID          string
	expStream      string
	expLastSeq     uint64
	hasExpLastSeq  bool
	expSubjSeq     uint64
	hasExpSubjSeq  bool
	expSubjSeqSubj string
	expLastMsgID   string
	rollup         string
	batch          bool // Nats-Batch-Id: an atomic batch publish
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
	if p.app == nil {
		return
	}
	if _, err := p.app.Write(piece); err != nil {
		p.app.Abort()
		p.app = nil
		p.err = p.e.storeError(p.st.name, err)
	}
}

// End completes the message: refusals and duplicates are answered now,
// otherwise the sequence is assigned and the PubAck follows once the
// message is durable.
func (p *pub) End() {
	if !p.started {
		p.start()
	}
	switch {
	case p.err != nil:
		p.reject(p.err)
	case p.dup:
		p.commit() // re-checked under the lock: answers the duplicate
	default:
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
	p.release()
}

func (p *pub) release() {
	p.app, p.err, p.dup, p.started, p.st = nil, nil, false, false, nil
	p.h = pubHeaders{}
	p.subject = ""
	if cap(p.hdr) > 4096 {
		p.hdr = nil
	}
	p.e.pubs.Put(p)
}

// start parses the headers, runs the checks that do not depend on order and
// opens the log appender.
func (p *pub) start() {
	p.started = true
	if len(p.hdr) > maxHeaderSize {
		p.err = jsapi.NewAPIError(jsapi.ErrCodeStreamHeaderExceedsMaximum)
		return
	}
	if len(p.hdr) > 0 {
		if err := p.h.parse(p.hdr); err != nil {
			p.err = err
			return
		}
	}
	body := p.size
	if p.hdrLen > 0 {
		body -= p.hdrLen
	}
	st := p.st
	st.mu.Lock()
	p.err = p.precheckLocked()
	if p.err == nil && p.h.msgID != "" {
		st.mu.dedup.expire(p.e.o.Clock.Now().UnixNano() - int64(st.mu.cfg.Duplicates))
		p.dup = st.mu.dedup.get(p.h.msgID) != nil
	}
	st.mu.Unlock()
	if p.err != nil || p.dup {
		return
	}
	hdr := p.hdr
	if len(hdr) == 0 {
		hdr = nil
	}
	app, err := st.log.Append(p.subject, hdr, int64(body))
	if err != nil {
		p.err = p.e.storeError(p.st.name, err)
		return
	}
	p.app = app
}

// precheckLocked runs the checks that depend only on the config and the
// message itself.
func (p *pub) precheckLocked() *jsapi.APIError { return p.st.precheckLocked(&p.h, p.size) }

// precheckLocked runs the publish checks that depend only on the config
// and the message (h, size: headers and body), for R1 and replicated
// streams alike. s.mu held.
func (s *stream) precheckLocked(h *pubHeaders, size int) *jsapi.APIError {
	cfg := &s.mu.cfg
	switch {
	case s.mu.closed:
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, jsapi.StoreClosed)
	case cfg.Sealed:
		return jsapi.NewAPIError(jsapi.ErrCodeStreamSealed)
	case h.batch:
		return jsapi.NewAPIError(jsapi.ErrCodeAtomicPublishDisabled)
	case h.expStream != "" && h.expStream != cfg.Name:
		return jsapi.NewAPIError(jsapi.ErrCodeStreamNotMatch)
	case cfg.MaxMsgSize > 0 && size > int(cfg.MaxMsgSize):
		return jsapi.NewAPIError(jsapi.ErrCodeStreamMessageExceedsMaximum)
	case h.rollup != "" && !cfg.AllowRollup:
		return jsapi.NewAPIError(jsapi.ErrCodeStreamRollupFailed, "rollup not permitted")
	case h.rollup != "" && h.rollup != jsapi.RollupSubject && h.rollup != jsapi.RollupAll:
		return jsapi.NewAPIError(jsapi.ErrCodeStreamRollupFailed, "rollup value invalid: "+strconv.Quote(h.rollup))
	}
	return nil
}

// commit runs the order-dependent checks and assigns the sequence, under
// the stream lock, then lets the log report durability to done.
func (p *pub) commit() {
	st := p.st
	now := p.e.o.Clock.Now().UnixNano()
	st.mu.Lock()
	if p.h.msgID != "" {
		st.mu.dedup.expire(now - int64(st.mu.cfg.Duplicates))
		if d := st.mu.dedup.get(p.h.msgID); d != nil {
			if p.app != nil {
				p.app.Abort()
				p.app = nil
			}
			if d.pending {
				if len(p.reply) > 0 {
					d.waiters = append(d.waiters, append([]byte(nil), p.reply...))
				}
				st.mu.Unlock()
				return
			}
			seq := d.seq
			st.mu.Unlock()
			p.e.sendPubAck(p.reply, st, seq, true)
			return
		}
	}
	if p.app == nil {
		// Dedup entry expired between start and End: the body was dropped.
		st.mu.Unlock()
		p.reject(jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, "duplicate window expired while the message was sent"))
		return
	}
	if apiErr := st.expectedLocked(&p.h, p.subject); apiErr != nil {
		st.mu.Unlock()
		p.app.Abort()
		p.app = nil
		p.reject(apiErr)
		return
	}
	if apiErr := st.discardNewPerLocked(p.subject); apiErr != nil {
		st.mu.Unlock()
		p.app.Abort()
		p.app = nil
		p.reject(apiErr)
		return
	}
	c := &commitDone{e: p.e, st: st, subject: p.subject, msgID: p.h.msgID, rollup: p.h.rollup}
	if len(p.reply) > 0 && !st.mu.cfg.NoAck {
		c.reply = append([]byte(nil), p.reply...)
	}
	seq, ts, err := p.app.CommitAsync(c.done)
	p.app = nil
	if err != nil {
		st.mu.Unlock()
		p.reject(p.e.storeError(st.name, err))
		return
	}
	c.seq = seq // done takes st.mu before reading it
	st.mu.lastSeq = seq
	st.mu.lastMsgID = p.h.msgID
	st.mu.pendingSubj[p.subject] = seq
	if p.h.msgID != "" {
		c.dedup = st.mu.dedup.add(p.h.msgID, seq, ts, true)
	}
	st.mu.Unlock()
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

// expectedLocked checks Nats-Expected-Last-Sequence, -Last-Subject-Sequence
// and -Last-Msg-Id against the messages assigned so far (in flight ones
// included).
func (s *stream) expectedLocked(h *pubHeaders, subject string) *jsapi.APIError {
	if h.hasExpLastSeq && h.expLastSeq != s.mu.lastSeq {
		return jsapi.NewAPIError(jsapi.ErrCodeStreamWrongLastSequence, strconv.FormatUint(s.mu.lastSeq, 10))
	}
	if h.hasExpSubjSeq {
		subj := subject
		if h.expSubjSeqSubj != "" {
			subj = h.expSubjSeqSubj
		}
		last := s.lastForSubjectLocked(subj)
		if last != h.expSubjSeq {
			return jsapi.NewAPIError(jsapi.ErrCodeStreamWrongLastSequence, strconv.FormatUint(last, 10))
		}
	}
	if h.expLastMsgID != "" && h.expLastMsgID != s.mu.lastMsgID {
		return jsapi.NewAPIError(jsapi.ErrCodeStreamWrongLastMsgID, s.mu.lastMsgID)
	}
	return nil
}

// lastForSubjectLocked is the newest sequence on subjects matching filter,
// in flight or stored (0 if none).
func (s *stream) lastForSubjectLocked(filter string) uint64 {
	var last uint64
	if seq, err := s.log.LastSeqForSubject(filter); err == nil {
		last = seq
	}
	if !codec.HasWildcard(filter) {
		if seq, ok := s.mu.pendingSubj[filter]; ok && seq > last {
			last = seq
		}
		return last
	}
	for subj, seq := range s.mu.pendingSubj {
		if seq > last && codec.SubjectMatches(filter, subj) {
			last = seq
		}
	}
	return last
}

// discardNewPerLocked refuses a message on a subject already at
// max_msgs_per_subject when discard_new_per_subject is set.
func (s *stream) discardNewPerLocked(subject string) *jsapi.APIError {
	cfg := &s.mu.cfg
	if !cfg.DiscardNewPer || cfg.MaxMsgsPer <= 0 {
		return nil
	}
	n := s.log.SubjectsState(subject)[subject].Msgs
	if _, ok := s.mu.pendingSubj[subject]; ok {
		n++ // at least one more in flight
	}
	if int64(n) >= cfg.MaxMsgsPer {
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, jsapi.StoreMaxMsgsPerSubject)
	}
	return nil
}

// commitDone finishes a message once the log reports it durable (or
// failed): dedup waiters, rollup, interest retention without consumers, and
// the PubAck. It runs on the log's goroutine, never an event loop.
type commitDone struct {
	e       *Engine
	st      *stream
	subject string
	msgID   string
	rollup  string
	reply   []byte
	dedup   *dedupEntry
	seq     uint64 // assigned sequence, set under st.mu before done can run
}

func (c *commitDone) done(_ uint64, _ int64, err error) {
	st := c.st
	st.mu.Lock()
	if cur, ok := st.mu.pendingSubj[c.subject]; ok && cur == c.seq {
		delete(st.mu.pendingSubj, c.subject)
	}
	var waiters [][]byte
	var dseq uint64
	if c.dedup != nil {
		c.dedup.pending = false
		waiters, c.dedup.waiters = c.dedup.waiters, nil
		dseq = c.dedup.seq
		if err != nil {
			st.mu.dedup.remove(c.msgID, c.dedup)
		}
	}
	retention := st.mu.cfg.Retention
	seq := c.seq
	st.mu.Unlock()
	if err != nil {
		st.mu.Lock()
		st.resyncLastLocked()
		st.mu.Unlock()
		apiErr := c.e.storeError(st.name, err)
		for _, r := range append(waiters, c.reply) {
			if len(r) > 0 {
				c.e.sendPubAckError(r, st, apiErr)
			}
		}
		return
	}
	changed := false
	switch c.rollup {
	case jsapi.RollupSubject:
		if _, perr := st.log.Purge(log.PurgeRequest{Subject: c.subject, Seq: seq}); perr == nil {
			changed = true
		}
	case jsapi.RollupAll:
		if _, perr := st.log.Purge(log.PurgeRequest{Seq: seq}); perr == nil {
			changed = true
		}
	}
	if retention == jsapi.InterestPolicy && st.cons.Count() == 0 {
		// No consumer is interested: nothing will ever acknowledge it.
		st.Remove(seq)
		changed = true
	}
	if changed {
		st.cons.StreamChanged()
	}
	if len(c.reply) > 0 {
		c.e.sendPubAckIn(&st.acks, c.reply, st, seq, false)
	}
	for _, r := range waiters {
		c.e.sendPubAckIn(&st.acks, r, st, dseq, true)
	}
}

// resyncLastLocked follows the log after a failed commit: a write failure
// rolls back every message not yet durable and their sequences are given
// again, so the last assigned sequence (and its Nats-Msg-Id) may be an
// earlier one now. s.mu held.
func (s *stream) resyncLastLocked() {
	last := s.log.LastAssigned()
	if last == s.mu.lastSeq {
		return
	}
	s.mu.lastSeq, s.mu.lastMsgID = last, ""
	var sm log.StoredMsg
	if last > 0 && s.log.LoadMsg(last, &sm) == nil {
		s.mu.lastMsgID = headerString(sm.Hdr, jsapi.HdrMsgID)
	}
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
	case errors.Is(err, log.ErrMaxMsgSize):
		return jsapi.NewAPIError(jsapi.ErrCodeStreamMessageExceedsMaximum)
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

// parse reads the JetStream headers of hdr. A malformed number in an
// expected-sequence header is a bad request, as in nats-server; a Nats-TTL
// header is 10166 (per-message TTL disabled).
func (h *pubHeaders) parse(hdr []byte) *jsapi.APIError {
	str := func(key string) string {
		v, ok := codec.HeaderValue(hdr, key)
		if !ok {
			return ""
		}
		return string(v)
	}
	num := func(key string) (uint64, bool, *jsapi.APIError) {
		v, ok := codec.HeaderValue(hdr, key)
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0, false, jsapi.NewAPIError(jsapi.ErrCodeBadRequest)
		}
		return n, true, nil
	}
	if _, ok := codec.HeaderValue(hdr, jsapi.HdrTTL); ok {
		// No stream allows per-message TTL (allow_msg_ttl is refused), so
		// a Nats-TTL is refused as nats-server refuses it on such a stream
		// rather than stored and silently never expired.
		return jsapi.NewAPIError(jsapi.ErrCodeMessageTTLDisabled)
	}
	var err *jsapi.APIError
	h.msgID = str(jsapi.HdrMsgID)
	h.expStream = str(jsapi.HdrExpectedStream)
	h.expLastMsgID = str(jsapi.HdrExpectedLastMsgID)
	h.rollup = str(jsapi.HdrRollup)
	_, h.batch = codec.HeaderValue(hdr, "Nats-Batch-Id")
	h.expSubjSeqSubj = str(jsapi.HdrExpectedLastSubjSeqSubj)
	if h.expLastSeq, h.hasExpLastSeq, err = num(jsapi.HdrExpectedLastSeq); err != nil {
		return err
	}
	if h.expSubjSeq, h.hasExpSubjSeq, err = num(jsapi.HdrExpectedLastSubjSeq); err != nil {
		return err
	}
	if h.expSubjSeqSubj != "" && !h.hasExpSubjSeq {
		return jsapi.NewAPIError(jsapi.ErrCodeStreamExpectedLastSeqPerSubjectInvalid)
	}
	return nil
}

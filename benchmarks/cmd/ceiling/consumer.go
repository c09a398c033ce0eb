package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// consumer is a pull consumer (deliver == nil) or a push consumer. It keeps
// no ack state: acks are accepted and ignored, nothing is redelivered.
// Every field is guarded by jetStream.mu, except that name, deliver, hb
// and fc do not change after create.
type consumer struct {
	st      *stream
	name    string
	cfg     json.RawMessage // as the client sent it, with the name filled in
	created time.Time
	filters []string // no filter: every subject of the stream
	deliver []byte   // push: the deliver subject
	hb      time.Duration
	fc      bool

	cursor  uint64 // the stream sequence searched up to (delivered or skipped)
	dseq    uint64 // messages delivered
	pending uint64 // matching messages after cursor
	waiting []*pullReq
	stop    chan struct{} // closed when the consumer is deleted
}

// pullReq is one waiting pull request ($JS.API.CONSUMER.MSG.NEXT).
type pullReq struct {
	reply     []byte
	left      int // messages still asked for
	maxBytes  int // 0: no byte limit
	bytesLeft int
	noWait    bool
	expires   time.Time // zero: never
	hb        time.Duration
	last      time.Time // the latest message or heartbeat sent to it
}

// delivery is one message on its way to a pull request's inbox.
type delivery struct {
	to      []byte
	m       *smsg
	dseq    uint64
	pending uint64
	status  []byte // instead of a message: this header block (408, 409, 404)
}

func (cons *consumer) matches(subj []byte) bool {
	if len(cons.filters) == 0 {
		return true
	}
	for _, f := range cons.filters {
		if f == string(subj) || subjectMatches(f, subj) {
			return true
		}
	}
	return false
}

// literal is the consumer's one filter when it is a literal subject (the
// subject index then serves it), else "".
func (cons *consumer) literal() string {
	if len(cons.filters) != 1 || strings.ContainsAny(cons.filters[0], "*>") {
		return ""
	}
	return cons.filters[0]
}

// recount sets pending from the stream's messages after the cursor.
func (cons *consumer) recount(st *stream) {
	cons.pending = 0
	if f := cons.literal(); f != "" {
		for _, seq := range st.bySubj[f] {
			if seq > cons.cursor && st.at(seq) != nil {
				cons.pending++
			}
		}
		return
	}
	for seq := max(cons.cursor+1, st.first); seq <= st.last; seq++ {
		if m := st.at(seq); m != nil && cons.matches(m.subj) {
			cons.pending++
		}
	}
}

// nextLocked returns the next matching message after the cursor, or nil
// (the cursor then moves to the end: nothing before it matches).
func (cons *consumer) nextLocked() *smsg {
	st := cons.st
	if f := cons.literal(); f != "" {
		seqs := st.bySubj[f]
		i, _ := slices.BinarySearch(seqs, cons.cursor+1)
		for ; i < len(seqs); i++ {
			if m := st.at(seqs[i]); m != nil {
				return m
			}
		}
		cons.cursor = st.last
		return nil
	}
	for seq := max(cons.cursor+1, st.first); seq <= st.last; seq++ {
		if m := st.at(seq); m != nil && cons.matches(m.subj) {
			return m
		}
	}
	cons.cursor = st.last
	return nil
}

// take advances the consumer past m, which nextLocked returned.
func (cons *consumer) take(m *smsg) (dseq, pending uint64) {
	cons.cursor = m.seq
	cons.dseq++
	if cons.pending > 0 {
		cons.pending--
	}
	return cons.dseq, cons.pending
}

func (cons *consumer) heartbeat() []byte {
	b := append([]byte(nil), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: "...)
	b = strconv.AppendUint(b, cons.dseq, 10)
	b = append(b, "\r\nNats-Last-Stream: "...)
	b = strconv.AppendUint(b, cons.cursor, 10)
	return append(b, "\r\n\r\n"...)
}

// appendAck appends the reply subject nats.go parses a delivery's metadata
// from: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.
func appendAck(b []byte, cons *consumer, m *smsg, dseq, pending uint64) []byte {
	b = append(b, "$JS.ACK."...)
	b = append(append(b, cons.st.name...), '.')
	b = append(append(b, cons.name...), ".1."...)
	b = append(strconv.AppendUint(b, m.seq, 10), '.')
	b = append(strconv.AppendUint(b, dseq, 10), '.')
	b = append(strconv.AppendInt(b, m.ts, 10), '.')
	return strconv.AppendUint(b, pending, 10)
}

// sendDelivery writes a delivered message to the subscribers of to.
func (js *jetStream) sendDelivery(o *outbox, cons *consumer, to []byte, m *smsg, dseq, pending uint64, l *msgLine, ack []byte, ms []*sub) ([]byte, []*sub) {
	ms = js.s.match(ms[:0], to)
	if len(ms) == 0 {
		return ack, ms
	}
	ack = appendAck(ack[:0], cons, m, dseq, pending)
	hl := -1
	if m.hdr != nil {
		hl = len(m.hdr)
	}
	l.setBytes(m.subj, ack, hl, len(m.hdr)+len(m.data))
	for _, x := range ms {
		o.send(x, l, m.hdr, m.data)
	}
	return ack, ms
}

// pull queues a pull request on cons and serves it from what is stored.
func (js *jetStream) pull(c *conn, stream, name string, reply, body []byte) {
	var rq struct {
		Batch     int           `json:"batch"`
		Expires   time.Duration `json:"expires"`
		MaxBytes  int           `json:"max_bytes"`
		NoWait    bool          `json:"no_wait"`
		Heartbeat time.Duration `json:"idle_heartbeat"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &rq); err != nil {
			js.s.publishTo(&c.out, reply, "", []byte("NATS/1.0 400 Bad Request\r\n\r\n"), nil)
			return
		}
	}
	now := time.Now()
	r := &pullReq{reply: append([]byte(nil), reply...), left: max(rq.Batch, 1), maxBytes: rq.MaxBytes, bytesLeft: rq.MaxBytes,
		noWait: rq.NoWait, hb: rq.Heartbeat, last: now}
	if rq.Expires > 0 {
		r.expires = now.Add(rq.Expires)
	}
	js.mu.Lock()
	st := js.streams[stream]
	var cons *consumer
	if st != nil {
		cons = st.consumers[name]
	}
	if cons == nil || cons.deliver != nil {
		js.mu.Unlock()
		js.s.publishTo(&c.out, reply, "", []byte(noRespHdr), nil)
		return
	}
	cons.waiting = append(cons.waiting, r)
	js.mu.Unlock()
	js.servePull(&c.out, cons)
}

// servePulls serves the waiting pull requests of st's consumers.
func (js *jetStream) servePulls(o *outbox, st *stream) {
	js.mu.Lock()
	var ready []*consumer
	for _, cons := range st.consumers {
		if len(cons.waiting) > 0 && cons.pending > 0 {
			ready = append(ready, cons)
		}
	}
	js.mu.Unlock()
	for _, cons := range ready {
		js.servePull(o, cons)
	}
}

// servePull hands stored messages to cons's waiting pull requests, oldest
// request first, and ends the requests that are satisfied.
func (js *jetStream) servePull(o *outbox, cons *consumer) {
	var dl []delivery
	now := time.Now()
	js.mu.Lock()
serve:
	for len(cons.waiting) > 0 {
		rq := cons.waiting[0]
		m := cons.nextLocked()
		switch {
		case m == nil && rq.noWait:
			dl = append(dl, delivery{to: rq.reply, status: pendingStatus("404 No Messages", rq)})
		case m == nil:
			break serve // it waits for messages, and the ones behind it too
		case rq.maxBytes > 0 && len(m.hdr)+len(m.data) > rq.bytesLeft:
			dl = append(dl, delivery{to: rq.reply, status: pendingStatus("409 Message Size Exceeds MaxBytes", rq)})
		default:
			dseq, pending := cons.take(m)
			dl = append(dl, delivery{to: rq.reply, m: m, dseq: dseq, pending: pending})
			rq.left--
			rq.bytesLeft -= len(m.hdr) + len(m.data)
			rq.last = now
			if rq.left > 0 {
				continue
			}
		}
		cons.waiting = slices.Delete(cons.waiting, 0, 1)
	}
	js.mu.Unlock()
	var l msgLine
	var ack []byte
	var ms []*sub
	for _, d := range dl {
		if d.status != nil {
			js.s.publishTo(o, d.to, "", d.status, nil)
			continue
		}
		ack, ms = js.sendDelivery(o, cons, d.to, d.m, d.dseq, d.pending, &l, ack, ms)
	}
}

// fcWindow is how many bytes a push consumer with flow control sends
// between flow-control requests; it waits for the previous request's
// reply before sending the next, so a client holds at most two windows
// (nats.go drops past 64 MiB pending on a subscription).
const fcWindow = 16 << 20

// noInterestGrace is how long a push consumer keeps going without a
// subscriber on its deliver subject before it deletes itself (nats-server:
// an ephemeral's inactive threshold, 5 s by default).
const noInterestGrace = 5 * time.Second

// pushLoop delivers a push consumer's messages to its deliver subject, in
// order, with idle heartbeats and flow control when the consumer asks for
// them (nats.go's ordered consumer, which reads Object Store chunks).
func (js *jetStream) pushLoop(cons *consumer) {
	var o outbox
	var l msgLine
	var ack []byte
	var ms []*sub
	var fcWait chan struct{} // the outstanding flow-control request's reply
	sent := 0                // bytes since the last flow-control request
	lastInterest := time.Now()
	hb := cons.hb
	if hb <= 0 {
		hb = time.Second // only to look at interest again
	}
	idle := func(ch <-chan struct{}) bool { // false: stop
		o.flush()
		t := time.NewTimer(hb)
		defer t.Stop()
		select {
		case <-ch:
		case <-cons.stop:
			return false
		case <-js.done:
			return false
		case <-t.C:
			if cons.hb > 0 {
				js.mu.Lock()
				h := cons.heartbeat()
				js.mu.Unlock()
				js.s.publishTo(&o, cons.deliver, "", h, nil)
				o.flush()
			}
		}
		return true
	}
	for {
		ms = js.s.match(ms[:0], cons.deliver)
		if len(ms) == 0 {
			if time.Since(lastInterest) > noInterestGrace {
				js.deleteConsumer(cons)
				return
			}
			if !idle(nil) {
				return
			}
			continue
		}
		lastInterest = time.Now()
		if fcWait != nil && sent >= fcWindow {
			if !idle(fcWait) {
				return
			}
			select {
			case <-fcWait:
				fcWait = nil
			default:
				continue
			}
		}
		js.mu.Lock()
		m := cons.nextLocked()
		if m == nil {
			st := cons.st
			if st.changed == nil {
				st.changed = make(chan struct{})
			}
			ch := st.changed
			js.mu.Unlock()
			if !idle(ch) {
				return
			}
			continue
		}
		dseq, pending := cons.take(m)
		js.mu.Unlock()
		ack, ms = js.sendDelivery(&o, cons, cons.deliver, m, dseq, pending, &l, ack, ms)
		sent += len(m.hdr) + len(m.data)
		// A window sent: ask the client to confirm it has taken it. With a
		// request still unanswered, the check above waits for that one.
		if cons.fc && fcWait == nil && sent >= fcWindow {
			fcWait = js.sendFlowControl(&o, cons)
			sent = 0
		}
	}
}

// sendFlowControl sends a flow-control request on cons's deliver subject
// and returns the channel closed when the client replies to it.
func (js *jetStream) sendFlowControl(o *outbox, cons *consumer) chan struct{} {
	ch := make(chan struct{})
	js.mu.Lock()
	js.nextFC++
	reply := "$JS.FC." + cons.st.name + "." + cons.name + "." + strconv.FormatUint(js.nextFC, 10)
	js.fcs[reply] = ch
	js.mu.Unlock()
	js.s.publishTo(o, cons.deliver, reply, []byte("NATS/1.0 100 FlowControl Request\r\n\r\n"), nil)
	o.flush()
	return ch
}

// flowControlReply takes a client's reply to a flow-control request.
func (js *jetStream) flowControlReply(subj []byte) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if ch, ok := js.fcs[string(subj)]; ok {
		delete(js.fcs, string(subj))
		close(ch)
	}
}

// deleteConsumer removes cons from its stream and stops its push loop.
func (js *jetStream) deleteConsumer(cons *consumer) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.deleteConsumerLocked(cons)
}

func (js *jetStream) deleteConsumerLocked(cons *consumer) {
	if cons.st.consumers[cons.name] == cons {
		delete(cons.st.consumers, cons.name)
	}
	select {
	case <-cons.stop:
	default:
		close(cons.stop)
	}
}

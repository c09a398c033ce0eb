package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// jetStream keeps streams in memory and answers the JetStream API calls the
// suite's workloads make (api.go); anything else gets an error reply.
type jetStream struct {
	s    *server
	done chan struct{} // closed by stop: ends tick and every push loop

	// list is the streams, copied on write, for the lock-free check on
	// every publish of whether a stream captures its subject.
	list atomic.Pointer[[]*stream]

	mu      sync.Mutex // guards everything below and inside every stream and consumer
	streams map[string]*stream
	fcs     map[string]chan struct{} // outstanding flow-control reply subject → closed on the reply
	nextFC  uint64
}

// stream is a JetStream stream in memory.
type stream struct {
	name     string
	cfg      json.RawMessage // as the client sent it, echoed in every info
	subjects []string
	created  time.Time
	pubAck   []byte // `{"stream":"NAME","seq":`

	msgs         []*smsg // msgs[i] has sequence first+i; nil: removed
	first, last  uint64  // first: the sequence of msgs[0]; last: the latest stored
	count, bytes uint64
	// bySubj lists each subject's stored sequences, ascending (removed
	// ones are dropped by removeLocked), so a lookup by subject (the last
	// message of an object's meta subject, an ordered consumer on one
	// object's chunks) does not scan the whole stream.
	bySubj    map[string][]uint64
	consumers map[string]*consumer
	batches   map[string]*fastBatch // fast-batch publishes in flight, by batch id
	// changed, when not nil, is closed (and cleared) by the next store:
	// idle push consumers wait on it.
	changed chan struct{}
}

// smsg is a stored message: subject, header block (nil: none) and data.
type smsg struct {
	subj      []byte
	hdr, data []byte
	seq       uint64
	ts        int64
}

func newJetStream(s *server) *jetStream {
	js := &jetStream{s: s, done: make(chan struct{}), streams: map[string]*stream{}, fcs: map[string]chan struct{}{}}
	js.list.Store(&[]*stream{})
	return js
}

func (js *jetStream) stop() {
	js.mu.Lock()
	defer js.mu.Unlock()
	select {
	case <-js.done:
	default:
		close(js.done)
	}
}

// relist refreshes the lock-free stream list. js.mu held.
func (js *jetStream) relist() {
	l := make([]*stream, 0, len(js.streams))
	for _, st := range js.streams {
		l = append(l, st)
	}
	js.list.Store(&l)
}

// capturing returns the stream whose subjects match subj, or nil.
func (js *jetStream) capturing(subj []byte) *stream {
	for _, st := range *js.list.Load() {
		for _, p := range st.subjects {
			if p == string(subj) || subjectMatches(p, subj) {
				return st
			}
		}
	}
	return nil
}

func (js *jetStream) captures(subj []byte) bool { return js.capturing(subj) != nil }

// publish stores a message published on a stream's subject and acks it
// (or runs it through a fast batch); false when no stream captures subj.
// payload is kept when owned, copied otherwise.
func (js *jetStream) publish(c *conn, subj, reply []byte, hdrLen int, payload []byte, owned bool) bool {
	st := js.capturing(subj)
	if st == nil {
		return false
	}
	if isFastBatch(reply) {
		js.fastPublish(c, st, subj, reply, hdrLen, payload, owned)
		return true
	}
	m := newMsg(subj, hdrLen, payload, owned)
	js.mu.Lock()
	seq := js.storeLocked(st, m)
	js.mu.Unlock()
	if len(reply) > 0 {
		c.scratch = append(strconv.AppendUint(append(c.scratch[:0], st.pubAck...), seq, 10), '}')
		js.s.publishTo(&c.out, reply, "", nil, c.scratch)
	}
	js.servePulls(&c.out, st)
	return true
}

// newMsg makes a stored message; subject and (unless owned) payload are
// copied into one allocation.
func newMsg(subj []byte, hdrLen int, payload []byte, owned bool) *smsg {
	var raw []byte
	if owned {
		raw = append(make([]byte, 0, len(subj)), subj...)
	} else {
		raw = make([]byte, len(subj)+len(payload))
		copy(raw[len(subj):], payload)
		copy(raw, subj)
		payload = raw[len(subj):]
	}
	m := &smsg{subj: raw[:len(subj):len(subj)], data: payload}
	if hdrLen >= 0 {
		m.hdr, m.data = payload[:hdrLen:hdrLen], payload[hdrLen:]
	}
	return m
}

// storeLocked appends m to st, applies a rollup header, counts it as
// pending for the consumers it matches and wakes idle push consumers.
func (js *jetStream) storeLocked(st *stream, m *smsg) uint64 {
	st.last++
	m.seq, m.ts = st.last, time.Now().UnixNano()
	if len(st.msgs) == 0 {
		st.first = m.seq
	}
	st.msgs = append(st.msgs, m)
	if st.bySubj == nil {
		st.bySubj = map[string][]uint64{}
	}
	st.bySubj[string(m.subj)] = append(st.bySubj[string(m.subj)], m.seq)
	st.count++
	st.bytes += uint64(len(m.hdr) + len(m.data))
	if m.hdr != nil {
		switch headerValue(m.hdr, "Nats-Rollup") {
		case "sub":
			st.rollupSubjectLocked(m)
		case "all":
			st.removeLocked(func(o *smsg) bool { return o.seq < m.seq })
		}
	}
	for _, cons := range st.consumers {
		if cons.matches(m.subj) {
			cons.pending++
		}
	}
	if st.changed != nil {
		close(st.changed)
		st.changed = nil
	}
	return m.seq
}

// rollupSubjectLocked drops the messages on m's subject stored before m
// (a `Nats-Rollup: sub`), through the subject index.
func (st *stream) rollupSubjectLocked(m *smsg) {
	seqs := st.bySubj[string(m.subj)]
	if len(seqs) < 2 {
		return
	}
	for _, seq := range seqs[:len(seqs)-1] {
		if o := st.at(seq); o != nil {
			st.msgs[seq-st.first] = nil
			st.count--
			st.bytes -= uint64(len(o.hdr) + len(o.data))
		}
	}
	st.bySubj[string(m.subj)] = append(seqs[:0], m.seq)
	st.compactLocked()
	for _, cons := range st.consumers {
		if cons.matches(m.subj) {
			cons.recount(st)
		}
	}
}

// removeLocked drops the messages for which drop says so and returns how
// many it dropped; consumers' pending counts are recomputed.
func (st *stream) removeLocked(drop func(*smsg) bool) uint64 {
	var n uint64
	for i, m := range st.msgs {
		if m != nil && drop(m) {
			st.msgs[i] = nil
			st.count--
			st.bytes -= uint64(len(m.hdr) + len(m.data))
			n++
		}
	}
	st.compactLocked()
	if n > 0 {
		st.reindexLocked()
		for _, cons := range st.consumers {
			cons.recount(st)
		}
	}
	return n
}

// reindexLocked rebuilds the subject index from the stored messages, after
// a removal by predicate (a purge: one pass, whatever it removed).
func (st *stream) reindexLocked() {
	clear(st.bySubj)
	for _, m := range st.msgs {
		if m != nil {
			if st.bySubj == nil {
				st.bySubj = map[string][]uint64{}
			}
			st.bySubj[string(m.subj)] = append(st.bySubj[string(m.subj)], m.seq)
		}
	}
}

// compactLocked drops the removed messages at the front.
func (st *stream) compactLocked() {
	for len(st.msgs) > 0 && st.msgs[0] == nil {
		st.msgs[0] = nil
		st.msgs = st.msgs[1:]
		st.first++
	}
	if len(st.msgs) == 0 {
		st.msgs, st.first = nil, st.last+1
	}
}

// at returns the message with sequence seq, or nil.
func (st *stream) at(seq uint64) *smsg {
	if seq < st.first || seq-st.first >= uint64(len(st.msgs)) {
		return nil
	}
	return st.msgs[seq-st.first]
}

// lastFor returns the latest message on subject subj, or nil.
func (st *stream) lastFor(subj string) *smsg {
	seqs := st.bySubj[subj]
	for i := len(seqs) - 1; i >= 0; i-- {
		if m := st.at(seqs[i]); m != nil {
			return m
		}
	}
	return nil
}

// headerValue returns the value of header key in a NATS/1.0 header block.
func headerValue(hdr []byte, key string) string {
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.Index(hdr, []byte(crlf)); i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			hdr = nil
		}
		if i := bytes.IndexByte(line, ':'); i > 0 && string(bytes.TrimSpace(line[:i])) == key {
			return string(bytes.TrimSpace(line[i+1:]))
		}
	}
	return ""
}

// tick ends expired pull requests (408) and sends idle heartbeats to
// waiting ones, ten times a second, until stop.
func (js *jetStream) tick() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var o outbox
	type status struct {
		reply []byte
		hdr   []byte
	}
	var out []status
	for {
		select {
		case <-js.done:
			return
		case <-t.C:
		}
		now := time.Now()
		out = out[:0]
		js.mu.Lock()
		for _, st := range js.streams {
			for _, cons := range st.consumers {
				keep := cons.waiting[:0]
				for _, rq := range cons.waiting {
					switch {
					case !rq.expires.IsZero() && now.After(rq.expires):
						out = append(out, status{rq.reply, pendingStatus("408 Request Timeout", rq)})
						continue
					case rq.hb > 0 && now.Sub(rq.last) >= rq.hb:
						rq.last = now
						out = append(out, status{rq.reply, cons.heartbeat()})
					}
					keep = append(keep, rq)
				}
				clear(cons.waiting[len(keep):])
				cons.waiting = keep
			}
		}
		js.mu.Unlock()
		for _, s := range out {
			js.s.publishTo(&o, s.reply, "", s.hdr, nil)
		}
		o.flush()
	}
}

// pendingStatus is a pull request's end: status line plus what it still
// asked for.
func pendingStatus(status string, rq *pullReq) []byte {
	b := append([]byte("NATS/1.0 "), status...)
	b = append(b, "\r\nNats-Pending-Messages: "...)
	b = strconv.AppendInt(b, int64(rq.left), 10)
	b = append(b, "\r\nNats-Pending-Bytes: "...)
	b = strconv.AppendInt(b, int64(rq.bytesLeft), 10)
	return append(b, "\r\n\r\n"...)
}

package main

import (
	"bytes"
	"strconv"
)

// Fast-batch publish (ADR-50), as orbit.go's FastPublisher speaks it: every
// message's reply subject is <inbox>.<flow>.<gap mode>.<batch seq>.<op>.$FI.
// The ceiling stores each message as it comes, sends a flow ack
// {"type":"ack","seq":N,"msgs":flow} on the first message and every flow
// messages after, answers a ping with the latest flow ack, and answers the
// commit with the batch's PubAck. No gap detection: messages arrive in
// order over one connection.

const (
	fastSuffix    = ".$FI"
	fastOpStart   = 0
	fastOpAppend  = 1
	fastOpCommit  = 2
	fastOpEOB     = 3
	fastOpPing    = 4
	fastMaxFlow   = 500 // nats-server's limit on a batch's flow
	fastReplyToks = 5   // tokens after the batch id: flow, gap, seq, op, $FI
)

// fastBatch is one fast batch in flight. Guarded by jetStream.mu.
type fastBatch struct {
	flow  uint64 // messages per flow ack
	acked uint64 // the batch sequence of the latest flow ack
	seq   uint64 // the latest batch sequence stored
}

func isFastBatch(reply []byte) bool { return bytes.HasSuffix(reply, []byte(fastSuffix)) }

// parseFast reads a fast-batch reply subject: the batch id (the inbox
// before the flow token, pointing into reply), the client's flow, the batch
// sequence and the operation.
func parseFast(reply []byte) (id []byte, flow, seq uint64, op int, ok bool) {
	var dots [fastReplyToks]int // the last five dots, last first
	n, i := 0, len(reply)-1
	for ; i >= 0 && n < len(dots); i-- {
		if reply[i] == '.' {
			dots[n] = i
			n++
		}
	}
	if n < len(dots) || dots[4] == 0 {
		return nil, 0, 0, 0, false
	}
	f, ok1 := atoi(reply[dots[4]+1 : dots[3]])
	s, ok2 := atoi(reply[dots[2]+1 : dots[1]])
	o, ok3 := atoi(reply[dots[1]+1 : dots[0]])
	if !ok1 || !ok2 || !ok3 {
		return nil, 0, 0, 0, false
	}
	return reply[:dots[4]], uint64(f), uint64(s), o, true
}

func (js *jetStream) fastPublish(c *conn, st *stream, subj, reply []byte, hdrLen int, payload []byte, owned bool) {
	id, flow, bseq, op, ok := parseFast(reply)
	if !ok || op < fastOpStart || op > fastOpPing {
		c.scratch = append(c.scratch[:0], `{"type":"err","seq":0,"error":{"code":400,"err_code":10003,"description":"bad request: fast batch reply subject"}}`...)
		js.s.publishTo(&c.out, reply, "", nil, c.scratch)
		return
	}
	var m *smsg
	if op != fastOpEOB && op != fastOpPing {
		m = newMsg(subj, hdrLen, payload, owned)
	}
	var ack []byte
	js.mu.Lock()
	if st.batches == nil {
		st.batches = map[string]*fastBatch{}
	}
	b := st.batches[string(id)]
	if b == nil {
		b = &fastBatch{flow: min(max(flow, 1), fastMaxFlow)}
		st.batches[string(id)] = b
	}
	var sseq uint64
	if m != nil {
		sseq = js.storeLocked(st, m)
		b.seq = bseq
	} else {
		sseq = st.last
	}
	switch {
	case op == fastOpCommit || op == fastOpEOB:
		count := bseq
		if op == fastOpEOB {
			count = bseq - 1
		}
		delete(st.batches, string(id))
		ack = strconv.AppendUint(append(c.scratch[:0], st.pubAck...), sseq, 10)
		ack = append(append(append(ack, `,"batch":"`...), id[bytes.LastIndexByte(id, '.')+1:]...), `","count":`...)
		ack = append(strconv.AppendUint(ack, count, 10), '}')
	case op == fastOpStart || op == fastOpPing || bseq >= b.acked+b.flow:
		if op != fastOpPing {
			b.acked = bseq
		}
		ack = append(c.scratch[:0], `{"type":"ack","seq":`...)
		ack = append(strconv.AppendUint(ack, b.acked, 10), `,"msgs":`...)
		ack = append(strconv.AppendUint(ack, b.flow, 10), '}')
	}
	js.mu.Unlock()
	if ack != nil {
		c.scratch = ack
		js.s.publishTo(&c.out, reply, "", nil, ack)
	}
	if m != nil {
		js.servePulls(&c.out, st)
	}
}

package jetstream

import (
	"encoding/json"
	"math/big"
	"strconv"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Counters (ADR-49).
//
// On a stream with allow_msg_counter every message is an increment: a
// Nats-Incr header (a decimal integer, any size, signed) and no payload.
// The publish rules (rules.go) decide it in log order like every other
// rule: the subject's newest message holds the running total as its body,
// {"val":"<n>"}; the new message's body is that total plus the increment,
// set through log.View.SetPayload, so it is stored (and replicated, and
// recovered) as if the publisher had sent it. On a replica the total is
// read once every written message is applied (log.ErrUnsettled), so a
// limit those messages trigger has removed what it removes on every
// replica. The PubAck carries the total as "val", read back from the
// stored message. The refusals, as nats-server's:
//
//	Nats-Incr not an integer, or with Nats-Rollup or an expected-* header  10171
//	Nats-Incr on a stream without allow_msg_counter                        10168
//	Nats-Incr with a payload                                               10170
//	a counter stream's message without Nats-Incr                           10169
//	the subject's stored total does not parse                              10172
//
// A counter stream sourcing other counter streams adds them up
// (counter_source.go).

// counterValue is a counter message's body.
type counterValue struct {
	Value string `json:"val"`
}

// parseIncr reads a Nats-Incr value (ok false: not an integer).
func parseIncr(v []byte) (*big.Int, bool) {
	var n big.Int
	_, ok := n.SetString(string(v), 10)
	return &n, ok
}

// decideCounter applies the static counter rules to h (message payload
// size payload).
func (rc *ruleConfig) decideCounter(h *pubHeaders, payload int64) *log.CheckError {
	switch {
	case h.hasIncr && h.incr == nil:
		return refusal(jsapi.ErrCodeMessageIncrInvalid, "")
	case h.hasIncr && h.sourced:
		return nil // a source's copy: stored as it came, or added up (counter_source.go)
	case h.hasIncr && !rc.allowCounter:
		return refusal(jsapi.ErrCodeMessageIncrDisabled, "")
	case h.hasIncr && payload > 0:
		return refusal(jsapi.ErrCodeMessageIncrPayload, "")
	case h.hasIncr && (len(h.rollup) > 0 || len(h.expStream) > 0 || len(h.expLastMsgID) > 0 ||
		len(h.expSubjSeqSubj) > 0 || h.hasExpLastSeq || h.hasExpSubjSeq):
		return refusal(jsapi.ErrCodeMessageIncrInvalid, "")
	case !h.hasIncr && rc.allowCounter:
		return refusal(jsapi.ErrCodeMessageIncrMissing, "")
	}
	return nil
}

// counterTotal decides a counter increment on m: the new total and the
// subject's Nats-Counter-Sources ("" for none), or a refusal (or
// log.ErrUnsettled). A source's copy (sourced) adds the difference from
// the last total seen of its origin, which it returns as delta
// (counter_source.go).
func (r *publishRules) counterTotal(v log.View, m log.CheckMsg, incr *big.Int, sourced bool) (total, delta, sources string, err error) {
	if v.CanSettle() && v.Applied() < v.LastSeq() {
		return "", "", "", log.ErrUnsettled
	}
	r.prune(v)
	var sum big.Int
	if ps, ok := r.bySubj[m.Subject]; ok {
		// The subject's newest message is accepted and not yet applied
		// (R1 only: a replica settles first).
		if cv, ok := r.counters[m.Subject]; ok && cv.seq == ps.last {
			sum.SetString(cv.val, 10)
			sources = cv.sources
		}
	} else if seq := v.LastSeqForSubject(m.Subject); seq > 0 {
		if v.LoadMsg(seq, &r.sm) != nil {
			return "", "", "", refusal(jsapi.ErrCodeMessageCounterBroken, "")
		}
		body, err := r.sm.ReadPayload(r.body[:0])
		r.body = body
		var cv counterValue
		if err != nil || json.Unmarshal(body, &cv) != nil {
			return "", "", "", refusal(jsapi.ErrCodeMessageCounterBroken, "")
		}
		if _, ok := sum.SetString(cv.Value, 10); !ok && cv.Value != "" {
			return "", "", "", refusal(jsapi.ErrCodeMessageCounterBroken, "")
		}
		if cs, ok := codec.HeaderValue(r.sm.Hdr, hdrCounterSources); ok && len(cs) > 0 {
			if json.Unmarshal(cs, &counterSources{}) != nil {
				return "", "", "", refusal(jsapi.ErrCodeMessageCounterBroken, "")
			}
			sources = string(cs)
		}
	}
	if sourced {
		if incr, sources, err = sourcedCounter(m, incr, sources); err != nil {
			return "", "", "", err
		}
		delta = incr.String()
	}
	sum.Add(&sum, incr)
	return sum.String(), delta, sources, nil
}

// counterBody is the stored body of a counter at total.
func counterBody(dst []byte, total string) []byte {
	dst = append(dst, `{"val":`...)
	dst = strconv.AppendQuote(dst, total)
	return append(dst, '}')
}

// pendingCounter is the total of a subject's newest accepted message.
type pendingCounter struct {
	seq     uint64
	val     string
	sources string // its Nats-Counter-Sources ("" for none)
}

// counterAckValue reads the total stored in message seq of st ("" when
// it cannot be read: removed in the meantime).
func (st *stream) counterAckValue(seq uint64) string {
	var sm log.StoredMsg
	if st.store.Reader().LoadMsg(seq, &sm) != nil {
		return ""
	}
	body, err := sm.ReadPayload(nil)
	var cv counterValue
	if err != nil || json.Unmarshal(body, &cv) != nil {
		return ""
	}
	return cv.Value
}

package jetstream

import (
	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// The publish rules of atomic batch messages (ADR-50), as nats-server
// applies them to a batch at its commit. A batch reaches the log as
// consecutive messages (log.CommitBatch decides them one after another,
// under one hold of the writer lock), so the batch's own state is a
// function of the log order too: it starts again at every message whose
// Nats-Batch-Sequence is 1. Within a batch:
//
//	Nats-Expected-Last-Msg-Id                10177 (unsupported in a batch)
//	Nats-Msg-Id seen earlier in the batch,   10201 (the batch is refused,
//	  or stored within the duplicate window         not acknowledged as a duplicate)
//	Nats-Expected-Last-Sequence after the    10164
//	  first message
//	Nats-Expected-Last-Subject-Sequence on   10164
//	  a subject the batch already wrote
//	Nats-Rollup sub on a subject the batch   10111 "batch rollup sub invalid"
//	  already wrote; all after the first     10111 "batch rollup all invalid"

// batchRules is the state of the batch being decided; guarded, as
// publishRules, by the log's writer lock.
type batchRules struct {
	n     int                 // messages of the batch decided so far
	ids   map[string]struct{} // their Nats-Msg-Id values
	subjs map[string]struct{} // their subjects
}

// reset forgets the batch.
func (b *batchRules) reset() {
	b.n = 0
	clear(b.ids)
	clear(b.subjs)
}

// isBatchMsg reports whether hdr belongs to an atomic batch, and whether
// it is the batch's first message.
func isBatchMsg(hdr []byte) (batch, first bool) {
	if _, ok := codec.HeaderValue(hdr, jsapi.HdrBatchID); !ok {
		return false, false
	}
	v, _ := codec.HeaderValue(hdr, jsapi.HdrBatchSeq)
	return true, string(v) == "1"
}

// before decides the batch-only rules of m (h parsed); nil: go on with
// the stream's rules.
func (b *batchRules) before(m log.CheckMsg, h *pubHeaders) *log.CheckError {
	if _, first := isBatchMsg(m.Hdr); first {
		b.reset()
	}
	if len(h.expLastMsgID) > 0 {
		return refusal(jsapi.ErrCodeAtomicPublishUnsupportedHeader, jsapi.HdrExpectedLastMsgID)
	}
	if len(h.msgID) > 0 {
		if _, ok := b.ids[string(h.msgID)]; ok {
			return refusal(jsapi.ErrCodeAtomicPublishContainsDuplicate, "")
		}
	}
	if h.hasExpLastSeq && b.n > 0 {
		return refusal(jsapi.ErrCodeStreamWrongLastSequenceConstant, "")
	}
	if h.hasExpSubjSeq {
		filter := m.Subject
		if len(h.expSubjSeqSubj) > 0 {
			filter = string(h.expSubjSeqSubj)
		}
		if _, ok := b.subjs[filter]; ok {
			return refusal(jsapi.ErrCodeStreamWrongLastSequenceConstant, "")
		}
	}
	switch string(h.rollup) {
	case jsapi.RollupSubject:
		if _, ok := b.subjs[m.Subject]; ok {
			return refusal(jsapi.ErrCodeStreamRollupFailed, "batch rollup sub invalid")
		}
	case jsapi.RollupAll:
		if b.n > 0 {
			return refusal(jsapi.ErrCodeStreamRollupFailed, "batch rollup all invalid")
		}
	}
	return nil
}

// accept records m, accepted, in the batch.
func (b *batchRules) accept(m log.CheckMsg, h *pubHeaders) {
	if b.ids == nil {
		b.ids = make(map[string]struct{})
		b.subjs = make(map[string]struct{})
	}
	b.n++
	if len(h.msgID) > 0 {
		b.ids[string(h.msgID)] = struct{}{}
	}
	b.subjs[m.Subject] = struct{}{}
}

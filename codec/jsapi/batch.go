package jsapi

// Batch publish (ADR-50): the headers of an atomic batch, the reply
// subject form of a fast batch, and their PubAck and flow messages.
const (
	HdrBatchID     = "Nats-Batch-Id"
	HdrBatchSeq    = "Nats-Batch-Sequence"
	HdrBatchCommit = "Nats-Batch-Commit"

	// BatchCommitEOB is the commit value of an "end of batch" message:
	// it commits the batch and is not stored itself.
	BatchCommitEOB = "eob"

	// FastBatchSuffix ends the reply subject of a fast-batch message:
	// <prefix>.<batch id>.<flow>.<gap mode>.<batch seq>.<op>.$FI
	FastBatchSuffix = ".$FI"
)

// Fast-batch operations (the <op> token of the reply subject).
const (
	FastBatchOpStart = iota
	FastBatchOpAppend
	FastBatchOpCommit
	FastBatchOpCommitEOB
	FastBatchOpPing
)

// AppendBatchPubAck appends the PubAck of a committed batch:
// {"stream","seq","batch","count"} (seq: the batch's last message).
func AppendBatchPubAck(dst []byte, stream string, seq uint64, batch string, count uint64) []byte {
	dst = append(dst, `{"stream":`...)
	dst = appendJSONString(dst, stream)
	dst = append(dst, `,"seq":`...)
	dst = appendUint(dst, seq)
	dst = append(dst, `,"batch":`...)
	dst = appendJSONString(dst, batch)
	dst = append(dst, `,"count":`...)
	dst = appendUint(dst, count)
	return append(dst, '}')
}

// AppendBatchFlowAck appends a fast batch's flow-control ack:
// {"type":"ack","seq":<batch seq persisted>,"msgs":<ack every n>}.
func AppendBatchFlowAck(dst []byte, seq uint64, msgs uint16) []byte {
	dst = append(dst, `{"type":"ack","seq":`...)
	dst = appendUint(dst, seq)
	dst = append(dst, `,"msgs":`...)
	dst = appendUint(dst, uint64(msgs))
	return append(dst, '}')
}

// AppendBatchFlowGap appends a fast batch's gap report:
// {"type":"gap","last_seq":<expected>,"seq":<received>}.
func AppendBatchFlowGap(dst []byte, expected, got uint64) []byte {
	dst = append(dst, `{"type":"gap","last_seq":`...)
	dst = appendUint(dst, expected)
	dst = append(dst, `,"seq":`...)
	dst = appendUint(dst, got)
	return append(dst, '}')
}

// AppendBatchFlowErr appends a fast batch's error report:
// {"type":"err","seq":<batch seq>,"error":{...}}.
func AppendBatchFlowErr(dst []byte, seq uint64, e *APIError) []byte {
	dst = append(dst, `{"type":"err","seq":`...)
	dst = appendUint(dst, seq)
	dst = append(dst, `,"error":`...)
	dst = e.AppendJSON(dst)
	return append(dst, '}')
}

package jsapi

import (
	"bytes"
	"strconv"
	"time"
)

// Header names used by JetStream (ADR-4, ADR-13, ADR-31, nats-server).
const (
	HdrMsgID                   = "Nats-Msg-Id"
	HdrExpectedStream          = "Nats-Expected-Stream"
	HdrExpectedLastSeq         = "Nats-Expected-Last-Sequence"
	HdrExpectedLastSubjSeq     = "Nats-Expected-Last-Subject-Sequence"
	HdrExpectedLastSubjSeqSubj = "Nats-Expected-Last-Subject-Sequence-Subject"
	HdrExpectedLastMsgID       = "Nats-Expected-Last-Msg-Id"
	HdrRollup                  = "Nats-Rollup" // value "sub" or "all"
	HdrIncr                    = "Nats-Incr"   // a counter increment (ADR-49)
	HdrTTL                     = "Nats-TTL"
	HdrMarkerReason            = "Nats-Marker-Reason"
	HdrRequiredAPILevel        = "Nats-Required-Api-Level"

	HdrPendingMessages  = "Nats-Pending-Messages"
	HdrPendingBytes     = "Nats-Pending-Bytes"
	HdrPinID            = "Nats-Pin-Id"
	HdrLastConsumer     = "Nats-Last-Consumer"
	HdrLastStream       = "Nats-Last-Stream"
	HdrConsumerStalled  = "Nats-Consumer-Stalled"
	HdrStream           = "Nats-Stream"
	HdrStreamSource     = "Nats-Stream-Source"
	HdrSubject          = "Nats-Subject"
	HdrSequence         = "Nats-Sequence"
	HdrTimeStamp        = "Nats-Time-Stamp"
	HdrNumPending       = "Nats-Num-Pending"
	HdrLastSequence     = "Nats-Last-Sequence"
	HdrUpToSequence     = "Nats-UpTo-Sequence"
	HdrMsgSize          = "Nats-Msg-Size"
	RollupSubject       = "sub"
	RollupAll           = "all"
	statusLinePrefix    = "NATS/1.0"
	headerBlockTerminal = "\r\n\r\n"
)

// Every Append... function in this file appends one complete header block
// ("NATS/1.0 ...\r\n...\r\n\r\n") to dst and returns the extended slice; it
// allocates only to grow dst. The status texts are nats-server's, which is
// what nats.go matches on (case-insensitively, by substring, for 409s).
// Descriptions, keys and values must be single lines (no CR or LF).

// AppendStatus appends "NATS/1.0 <code> <description>\r\n\r\n", or
// "NATS/1.0 <code>\r\n\r\n" when description is empty.
func AppendStatus(dst []byte, code int, description string) []byte {
	dst = appendStatusLine(dst, code, description)
	return append(dst, '\r', '\n')
}

// AppendStatusPending appends a status with the Nats-Pending-Messages and
// Nats-Pending-Bytes headers that end a pull request (ADR-13): what was left
// of the request's batch and max_bytes.
func AppendStatusPending(dst []byte, code int, description string, pendingMsgs, pendingBytes int) []byte {
	dst = appendStatusLine(dst, code, description)
	dst = appendIntField(dst, HdrPendingMessages, int64(pendingMsgs))
	dst = appendIntField(dst, HdrPendingBytes, int64(pendingBytes))
	return append(dst, '\r', '\n')
}

// AppendNoMessages appends "404 No Messages": a no_wait pull request found
// nothing (nats.go: ErrNoMessages, or an empty batch).
func AppendNoMessages(dst []byte) []byte { return AppendStatus(dst, 404, "No Messages") }

// AppendRequestTimeout appends "408 Request Timeout" with the pending
// counts: a pull request expired before it was filled.
func AppendRequestTimeout(dst []byte, pendingMsgs, pendingBytes int) []byte {
	return AppendStatusPending(dst, 408, "Request Timeout", pendingMsgs, pendingBytes)
}

// AppendRequestsPending appends "408 Requests Pending": a no_wait request
// could not be served because earlier requests will take what is pending.
func AppendRequestsPending(dst []byte) []byte { return AppendStatus(dst, 408, "Requests Pending") }

// AppendMaxBytesExceeded appends "409 Message Size Exceeds MaxBytes" with
// the pending counts: the next message is larger than what is left of the
// request's max_bytes (nats.go: ErrMaxBytesExceeded).
func AppendMaxBytesExceeded(dst []byte, pendingMsgs, pendingBytes int) []byte {
	return AppendStatusPending(dst, 409, "Message Size Exceeds MaxBytes", pendingMsgs, pendingBytes)
}

// AppendBatchCompleted appends "409 Batch Completed" with the pending
// counts: the batch was delivered but max_bytes was not used up.
func AppendBatchCompleted(dst []byte, pendingMsgs, pendingBytes int) []byte {
	return AppendStatusPending(dst, 409, "Batch Completed", pendingMsgs, pendingBytes)
}

// AppendServerShutdown appends "409 Server Shutdown" with the pending counts.
func AppendServerShutdown(dst []byte, pendingMsgs, pendingBytes int) []byte {
	return AppendStatusPending(dst, 409, "Server Shutdown", pendingMsgs, pendingBytes)
}

// AppendExceededMaxWaiting appends "409 Exceeded MaxWaiting".
func AppendExceededMaxWaiting(dst []byte) []byte {
	return AppendStatus(dst, 409, "Exceeded MaxWaiting")
}

// AppendExceededMaxRequestBatch appends "409 Exceeded MaxRequestBatch of <limit>".
func AppendExceededMaxRequestBatch(dst []byte, limit int) []byte {
	dst = appendStatusLine(dst, 409, "Exceeded MaxRequestBatch of ")
	return appendIntLineEnd(dst, int64(limit))
}

// AppendExceededMaxRequestMaxBytes appends "409 Exceeded MaxRequestMaxBytes of <limit>".
func AppendExceededMaxRequestMaxBytes(dst []byte, limit int) []byte {
	dst = appendStatusLine(dst, 409, "Exceeded MaxRequestMaxBytes of ")
	return appendIntLineEnd(dst, int64(limit))
}

// AppendExceededMaxRequestExpires appends "409 Exceeded MaxRequestExpires
// of <limit>", the limit written as Go's Duration.String (as nats-server).
func AppendExceededMaxRequestExpires(dst []byte, limit time.Duration) []byte {
	return AppendStatus(dst, 409, "Exceeded MaxRequestExpires of "+limit.String())
}

// AppendConsumerDeleted appends "409 Consumer Deleted" (nats.go: ErrConsumerDeleted).
func AppendConsumerDeleted(dst []byte) []byte { return AppendStatus(dst, 409, "Consumer Deleted") }

// AppendConsumerIsPushBased appends "409 Consumer is push based": a pull
// request to a push consumer.
func AppendConsumerIsPushBased(dst []byte) []byte {
	return AppendStatus(dst, 409, "Consumer is push based")
}

// AppendPinIDMismatch appends "423 Nats-Pin-Id mismatch": a pull request of
// a pinned_client consumer (ADR-42) names a pin id other than the current
// one (nats.go: ErrPinIDMismatch; the client drops its id and pulls again).
func AppendPinIDMismatch(dst []byte) []byte { return AppendStatus(dst, 423, "Nats-Pin-Id mismatch") }

// AppendWrongPinID appends "423 Nats-Wrong-Pin-Id" with the pending counts:
// a waiting pull request with an old pin id is ended when another client
// is pinned.
func AppendWrongPinID(dst []byte, pendingMsgs, pendingBytes int) []byte {
	return AppendStatusPending(dst, 423, "Nats-Wrong-Pin-Id", pendingMsgs, pendingBytes)
}

// AppendLeadershipChange appends "409 Leadership Change".
func AppendLeadershipChange(dst []byte) []byte { return AppendStatus(dst, 409, "Leadership Change") }

// AppendBadRequest appends "400 Bad Request - <reason>", or "400 Bad
// Request" when reason is empty: an unparsable pull request.
func AppendBadRequest(dst []byte, reason string) []byte {
	if reason == "" {
		return AppendStatus(dst, 400, "Bad Request")
	}
	dst = appendStatusLine(dst, 400, "Bad Request - ")
	dst = append(dst[:len(dst)-2], reason...)
	return append(dst, headerBlockTerminal...)
}

// AppendNoResponders appends "NATS/1.0 503\r\n\r\n", the reply to a
// request nobody subscribes to.
func AppendNoResponders(dst []byte) []byte { return AppendStatus(dst, 503, "") }

// AppendIdleHeartbeat appends "100 Idle Heartbeat" with Nats-Last-Consumer
// and Nats-Last-Stream (the last delivered consumer and stream sequences),
// and Nats-Consumer-Stalled with the pending flow-control reply subject when
// stalledFC is not empty (ADR-9).
func AppendIdleHeartbeat(dst []byte, lastConsumerSeq, lastStreamSeq uint64, stalledFC string) []byte {
	dst = appendStatusLine(dst, 100, "Idle Heartbeat")
	dst = appendUintField(dst, HdrLastConsumer, lastConsumerSeq)
	dst = appendUintField(dst, HdrLastStream, lastStreamSeq)
	if stalledFC != "" {
		dst = appendStringField(dst, HdrConsumerStalled, stalledFC)
	}
	return append(dst, '\r', '\n')
}

// AppendFlowControlRequest appends "100 FlowControl Request"; it is sent
// with a flow-control reply subject (AppendFlowControlReply).
func AppendFlowControlRequest(dst []byte) []byte {
	return AppendStatus(dst, 100, "FlowControl Request")
}

// AppendMessageNotFound appends "404 Message Not Found", the direct-get
// reply when no message matches.
func AppendMessageNotFound(dst []byte) []byte { return AppendStatus(dst, 404, "Message Not Found") }

// AppendDirectGetHeader appends the header block of a direct-get reply
// (ADR-31): the stored message's own header block (may be empty) extended
// with Nats-Stream, Nats-Subject, Nats-Sequence and Nats-Time-Stamp (ts in
// RFC 3339 UTC with nanoseconds). stored is only read.
func AppendDirectGetHeader(dst, stored []byte, stream, subject string, seq uint64, ts time.Time) []byte {
	dst = appendOpenHeader(dst, stored)
	dst = appendStringField(dst, HdrStream, stream)
	dst = appendStringField(dst, HdrSubject, subject)
	dst = appendUintField(dst, HdrSequence, seq)
	dst = append(dst, HdrTimeStamp...)
	dst = append(dst, ':', ' ')
	dst = ts.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, headerBlockTerminal...)
}

// AppendDirectGetBatchHeader is AppendDirectGetHeader for a message of a
// batch or multi-last direct get: it adds Nats-Num-Pending (messages left
// after this one) and Nats-Last-Sequence (the previous message's sequence).
func AppendDirectGetBatchHeader(dst, stored []byte, stream, subject string, seq uint64, ts time.Time, numPending, lastSeq uint64) []byte {
	dst = AppendDirectGetHeader(dst, stored, stream, subject, seq, ts)
	dst = dst[:len(dst)-2]
	dst = appendUintField(dst, HdrNumPending, numPending)
	dst = appendUintField(dst, HdrLastSequence, lastSeq)
	return append(dst, '\r', '\n')
}

// AppendDirectGetEOB appends "204 EOB" with Nats-Num-Pending and
// Nats-Last-Sequence: the end of a batch direct get.
func AppendDirectGetEOB(dst []byte, numPending, lastSeq uint64) []byte {
	dst = appendStatusLine(dst, 204, "EOB")
	dst = appendUintField(dst, HdrNumPending, numPending)
	dst = appendUintField(dst, HdrLastSequence, lastSeq)
	return append(dst, '\r', '\n')
}

// AppendHeaderField adds "key: value" to the complete header block hdr
// (which may be empty: then a "NATS/1.0" block is started) and appends the
// result to dst. hdr is only read; dst and hdr must not overlap.
func AppendHeaderField(dst, hdr []byte, key, value string) []byte {
	dst = appendOpenHeader(dst, hdr)
	dst = appendStringField(dst, key, value)
	return append(dst, '\r', '\n')
}

// appendOpenHeader appends hdr without its final blank line, or
// "NATS/1.0\r\n" when hdr is empty or malformed, ready for more fields.
func appendOpenHeader(dst, hdr []byte) []byte {
	if len(hdr) >= len(statusLinePrefix)+4 && bytes.HasPrefix(hdr, []byte(statusLinePrefix)) &&
		bytes.HasSuffix(hdr, []byte(headerBlockTerminal)) {
		return append(dst, hdr[:len(hdr)-2]...)
	}
	return append(dst, "NATS/1.0\r\n"...)
}

func appendStatusLine(dst []byte, code int, description string) []byte {
	dst = append(dst, statusLinePrefix...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(code), 10)
	if description != "" {
		dst = append(dst, ' ')
		dst = append(dst, description...)
	}
	return append(dst, '\r', '\n')
}

// appendIntLineEnd finishes a status line whose text ends in a number.
func appendIntLineEnd(dst []byte, v int64) []byte {
	dst = dst[:len(dst)-2]
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, headerBlockTerminal...)
}

func appendIntField(dst []byte, key string, v int64) []byte {
	dst = append(dst, key...)
	dst = append(dst, ':', ' ')
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '\r', '\n')
}

func appendUintField(dst []byte, key string, v uint64) []byte {
	dst = append(dst, key...)
	dst = append(dst, ':', ' ')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '\r', '\n')
}

func appendStringField(dst []byte, key, v string) []byte {
	dst = append(dst, key...)
	dst = append(dst, ':', ' ')
	dst = append(dst, v...)
	return append(dst, '\r', '\n')
}

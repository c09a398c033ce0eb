// Package jsapi holds the wire types of the JetStream API: the JSON
// requests and responses on $JS.API.>, the error catalogue, the API subject
// and ack-reply formats, and the status header blocks a JetStream server
// sends to consumers. It is pure code (standard library only): the broker
// decides, jsapi only encodes and decodes, so that nats.go (both the legacy
// JetStreamContext and the jetstream package) and the nats CLI talk to
// barge unchanged.
//
// # What is here
//
//   - JSON types with nats-server 2.15's field names and omitempty
//     behaviour: StreamConfig, StreamInfo, StreamState, ConsumerConfig,
//     ConsumerInfo, AccountInfo, the request bodies (StreamNamesRequest,
//     StreamPurgeRequest, MsgGetRequest, MsgDeleteRequest,
//     CreateConsumerRequest, NextRequest, ...) and the responses, each with
//     its "type" (Type... constants). Enums are ints in Go and strings on
//     the wire ("workqueue", "by_start_time", "explicit", "instant", ...).
//     Durations are integer nanoseconds (time.Duration's JSON form) and
//     times are RFC 3339 with nanoseconds: pass UTC times, as nats-server
//     does, to get a trailing "Z". Zero times are written, not omitted
//     ("0001-01-01T00:00:00Z"), where nats-server writes them.
//   - APIError and the ErrCode catalogue (errcodes.go): nats-server's
//     err_code, status and description for the errors a single server
//     needs. NewAPIError fills the description's {placeholders};
//     AppendErrorResponse writes {"type":...,"error":{...}}.
//   - Hand-written, allocation-free encoders for the per-message paths:
//     AppendPubAck / AppendPubAckError (the reply to every stored publish),
//     AppendAckReply / ParseAckReply (the $JS.ACK.<stream>.<consumer>.
//     <delivered>.<sseq>.<cseq>.<ts>.<pending> reply subject, v1 and v2
//     forms), ParseAckBody (+ACK, -NAK [delay], +WPI, +NXT [request],
//     +TERM [reason]), ParseAPISubject ($JS[.<domain>].API.<op>.<args> to
//     an Op and its arguments) and the status header blocks (status.go:
//     404 No Messages, 408 Request Timeout, 409 Message Size Exceeds
//     MaxBytes, 409 Consumer Deleted, 100 Idle Heartbeat, 100 FlowControl
//     Request, the direct-get headers ...).
//
// # Ownership
//
// Append... functions append to dst and return the extended slice; they
// never keep dst or their arguments. Parse... functions that return byte
// slices return sub-slices of their input: valid as long as the input is,
// copy them to keep them.
//
// # References
//
//   - nats-server v2.15.2 sources: server/jetstream_api.go (subjects,
//     request/response types), stream.go, consumer.go (status messages, ack
//     parsing, pull request parsing), store.go (enums, StreamState),
//     jetstream_errors_generated.go (error codes).
//   - nats.go v1.55.0: jsm.go, js.go, jetstream/*.go, internal/parser
//     (GetMetadataFields: the ack reply forms clients accept).
//   - nats-architecture-and-design ADRs: ADR-1 (JetStream API), ADR-4
//     (headers), ADR-8 (KV), ADR-9 (idle heartbeats, flow control), ADR-13
//     (pull requests and their status codes), ADR-17 (ordered consumer),
//     ADR-20 (object store), ADR-31 (direct get), ADR-37 (simplified
//     consumption), ADR-42 (priority groups), ADR-44 (API levels).
package jsapi

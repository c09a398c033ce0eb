package jsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// AckPrefix starts every ack reply subject.
const AckPrefix = "$JS.ACK."

// FlowControlPrefix starts the reply subject of a flow-control request.
const FlowControlPrefix = "$JS.FC."

// ErrBadAckReply is returned by ParseAckReply for a subject that is not an
// ack reply.
var ErrBadAckReply = errors.New("jsapi: invalid ack reply subject")

// AckReply is the metadata a consumer encodes in the reply subject of each
// delivered message. Byte slices alias the parsed subject.
type AckReply struct {
	// Domain and AccountHash are set only by the v2 (11+ token) form;
	// a domain of "_" (no domain) parses as empty.
	Domain      []byte
	AccountHash []byte
	Stream      []byte
	Consumer    []byte
	// Delivered is how many times this message has been delivered (1 the first time).
	Delivered uint64
	// StreamSeq and ConsumerSeq are the message's stream and delivery sequences.
	StreamSeq   uint64
	ConsumerSeq uint64
	// Timestamp is the message's store time in Unix nanoseconds.
	Timestamp int64
	// Pending is how many messages were left for the consumer after this one.
	Pending uint64
}

// AppendAckReply appends the 9-token (v1) ack reply subject that
// nats-server sends by default:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
//
// ts is the store time in Unix nanoseconds. stream and consumer must be
// valid names (single tokens). It does not allocate beyond growing dst.
func AppendAckReply(dst []byte, stream, consumer string, delivered, sseq, cseq uint64, ts int64, pending uint64) []byte {
	dst = append(dst, AckPrefix...)
	dst = append(dst, stream...)
	dst = append(dst, '.')
	dst = append(dst, consumer...)
	return appendAckNums(dst, delivered, sseq, cseq, ts, pending)
}

// AppendAckReplyV2 appends the 11-token (v2) form nats-server sends with
// its JsAckFormatV2 feature flag:
//
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
//
// An empty domain is written as "_". It does not allocate beyond growing dst.
func AppendAckReplyV2(dst []byte, domain, accountHash, stream, consumer string, delivered, sseq, cseq uint64, ts int64, pending uint64) []byte {
	if domain == "" {
		domain = "_"
	}
	dst = append(dst, AckPrefix...)
	dst = append(dst, domain...)
	dst = append(dst, '.')
	dst = append(dst, accountHash...)
	dst = append(dst, '.')
	dst = append(dst, stream...)
	dst = append(dst, '.')
	dst = append(dst, consumer...)
	return appendAckNums(dst, delivered, sseq, cseq, ts, pending)
}

func appendAckNums(dst []byte, delivered, sseq, cseq uint64, ts int64, pending uint64) []byte {
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, delivered, 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, sseq, 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, cseq, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, '.')
	return strconv.AppendUint(dst, pending, 10)
}

// ParseAckReply parses an ack reply subject in either form, as nats.go and
// nats-server do: 9 tokens is v1; 11 or more is v2 (tokens past the 11th
// are ignored); any other count is ErrBadAckReply. Unlike nats.go it also
// rejects non-numeric counters and empty names. It does not allocate; the
// result aliases subject.
func ParseAckReply(subject []byte) (AckReply, error) {
	var r AckReply
	if !bytes.HasPrefix(subject, []byte(AckPrefix)) {
		return r, ErrBadAckReply
	}
	var toks [11][]byte
	n := 2
	rest := subject[len(AckPrefix):]
	for n < len(toks) && rest != nil {
		toks[n], rest = cutToken(rest)
		n++
	}
	switch {
	case n == 9 && rest == nil:
		r.Stream, r.Consumer = toks[2], toks[3]
		return r, r.parseNums(toks[4:9])
	case n == 11:
		r.Domain, r.AccountHash = toks[2], toks[3]
		if string(r.Domain) == "_" {
			r.Domain = r.Domain[:0]
		}
		r.Stream, r.Consumer = toks[4], toks[5]
		return r, r.parseNums(toks[6:11])
	}
	return AckReply{}, ErrBadAckReply
}

// parseNums fills the five counters from their tokens.
func (r *AckReply) parseNums(t [][]byte) error {
	if len(r.Stream) == 0 || len(r.Consumer) == 0 {
		*r = AckReply{}
		return ErrBadAckReply
	}
	var ok [5]bool
	r.Delivered, ok[0] = ParseUint(t[0])
	r.StreamSeq, ok[1] = ParseUint(t[1])
	r.ConsumerSeq, ok[2] = ParseUint(t[2])
	var ts uint64
	ts, ok[3] = ParseUint(t[3])
	r.Timestamp = int64(ts)
	r.Pending, ok[4] = ParseUint(t[4])
	if ok != [5]bool{true, true, true, true, true} || ts > 1<<63-1 {
		*r = AckReply{}
		return ErrBadAckReply
	}
	return nil
}

// ParseUint parses a non-empty decimal uint64 (digits only, at most 20)
// without allocating.
func ParseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// AppendFlowControlReply appends the reply subject of a push consumer's
// flow-control request, "$JS.FC.<stream>.<consumer>.<4 chars>", as
// nats-server builds it: the last token is rnd in base 62, four digits,
// least significant first. rnd comes from the caller's random source.
func AppendFlowControlReply(dst []byte, stream, consumer string, rnd uint64) []byte {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	dst = append(dst, FlowControlPrefix...)
	dst = append(dst, stream...)
	dst = append(dst, '.')
	dst = append(dst, consumer...)
	dst = append(dst, '.')
	for range 4 {
		dst = append(dst, digits[rnd%62])
		rnd /= 62
	}
	return dst
}

// AckKind is the kind of an ack message body.
type AckKind uint8

const (
	// AckUnknown is a body nats-server ignores.
	AckUnknown AckKind = iota
	// AckAck acknowledges: an empty body, "+ACK" or the legacy "+OK".
	AckAck
	// AckNak asks for redelivery, optionally after AckBody.Delay: "-NAK".
	AckNak
	// AckProgress resets the ack-wait timer: "+WPI".
	AckProgress
	// AckNext acknowledges and asks for more (AckBody.Next is a pull request): "+NXT".
	AckNext
	// AckTerm stops redelivery, with an optional AckBody.Reason: "+TERM".
	AckTerm
)

// String returns the wire form of k ("+ACK", "-NAK", ...).
func (k AckKind) String() string {
	switch k {
	case AckAck:
		return "+ACK"
	case AckNak:
		return "-NAK"
	case AckProgress:
		return "+WPI"
	case AckNext:
		return "+NXT"
	case AckTerm:
		return "+TERM"
	}
	return "unknown"
}

// AckBody is a parsed ack message body. Byte slices alias the body.
type AckBody struct {
	Kind AckKind
	// Delay is the redelivery delay of a -NAK; 0 means the consumer's own.
	Delay time.Duration
	// Reason is the trimmed text after "+TERM", nil when absent.
	Reason []byte
	// Next is what follows "+NXT": a pull request for ParseNextRequest.
	Next []byte
}

// ParseAckBody classifies an ack body as nats-server does. "-NAK" may be
// followed by a JSON object {"delay": <ns>} (what nats.go sends) or by a Go
// duration such as "5s"; a delay that does not parse is a plain NAK, as the
// server treats it. "+WPI" must be exact; other bodies are AckUnknown, which
// nats-server ignores. The +ACK, -NAK and {"delay":N} forms do not allocate.
func ParseAckBody(body []byte) AckBody {
	switch {
	case len(body) == 0, string(body) == "+ACK", string(body) == "+OK":
		return AckBody{Kind: AckAck}
	case bytes.HasPrefix(body, []byte("+NXT")):
		return AckBody{Kind: AckNext, Next: body[4:]}
	case bytes.HasPrefix(body, []byte("-NAK")):
		return AckBody{Kind: AckNak, Delay: parseNakDelay(bytes.TrimSpace(body[4:]))}
	case string(body) == "+WPI":
		return AckBody{Kind: AckProgress}
	case bytes.HasPrefix(body, []byte("+TERM")):
		b := AckBody{Kind: AckTerm}
		if r := bytes.TrimSpace(body[5:]); len(r) > 0 {
			b.Reason = r
		}
		return b
	}
	return AckBody{Kind: AckUnknown}
}

// parseNakDelay reads the optional delay after "-NAK"; 0 when absent or bad.
func parseNakDelay(arg []byte) time.Duration {
	if len(arg) == 0 {
		return 0
	}
	if arg[0] != '{' {
		d, err := time.ParseDuration(string(arg))
		if err != nil {
			return 0
		}
		return d
	}
	if d, ok := quickDelay(arg); ok {
		return d
	}
	var opts NakOptions
	if err := json.Unmarshal(arg, &opts); err != nil {
		return 0
	}
	return opts.Delay
}

// quickDelay parses exactly {"delay":<int>} with optional spaces, the form
// nats.go sends, without allocating.
func quickDelay(b []byte) (time.Duration, bool) {
	b = bytes.TrimSpace(b[1:])
	if !bytes.HasPrefix(b, []byte(`"delay"`)) {
		return 0, false
	}
	b = bytes.TrimSpace(b[len(`"delay"`):])
	if len(b) == 0 || b[0] != ':' {
		return 0, false
	}
	b = bytes.TrimSpace(b[1:])
	end := bytes.IndexByte(b, '}')
	if end < 0 || len(bytes.TrimSpace(b[end+1:])) != 0 {
		return 0, false
	}
	n, ok := parseInt(bytes.TrimSpace(b[:end]))
	if !ok {
		return 0, false
	}
	return time.Duration(n), true
}

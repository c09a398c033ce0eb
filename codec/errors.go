package codec

// ProtoError is a protocol error that a server reports to a client as
// "-ERR '<Msg>'". Fatal says whether the connection must be closed after the
// error is sent; a non-fatal error is reported and the connection carries on.
//
// The package's sentinels are *ProtoError values; compare them with == or
// errors.Is. Their texts are nats-server's, so that official clients react to
// them the way they already do.
type ProtoError struct {
	Msg   string
	Fatal bool
}

// Error returns Msg unchanged (no prefix, no quotes).
func (e *ProtoError) Error() string { return e.Msg }

// Errors returned by Parser.Parse. Every one of them is fatal: after it the
// Parser is stuck and the connection is expected to close.
//
// nats-server sends "-ERR" for ErrMaxControlLine, ErrUnknownOp,
// ErrPayloadTerminator and ErrMaxPayload; for the argument errors (the
// "process... Parse Error" family) it only logs the text and closes the
// connection. A server may do either; AppendErr(dst, err.Msg) gives the line.
var (
	// ErrMaxControlLine: the arguments of a control line are longer than
	// ParserOptions.MaxControlLine.
	ErrMaxControlLine = &ProtoError{Msg: "Maximum Control Line Exceeded", Fatal: true}
	// ErrUnknownOp: the bytes at the start of a line name no client operation,
	// or an operation name is not followed by what it needs.
	ErrUnknownOp = &ProtoError{Msg: "Unknown Protocol Operation", Fatal: true}
	// ErrPayloadTerminator: the bytes right after a PUB/HPUB payload are not
	// CRLF, which means the announced size did not match what was sent.
	// nats-server reports this as an unknown operation, with the same text.
	ErrPayloadTerminator = &ProtoError{Msg: "Unknown Protocol Operation", Fatal: true}
	// ErrMaxPayload: the total size announced by PUB/HPUB is over
	// ParserOptions.MaxPayload.
	ErrMaxPayload = &ProtoError{Msg: "Maximum Payload Violation", Fatal: true}
	// ErrMaxHeaderSize: the header length announced by HPUB is over
	// ParserOptions.MaxHeaderSize. nats-server has no such limit (headers
	// are bounded only by max_payload); this text is barge's own.
	ErrMaxHeaderSize = &ProtoError{Msg: "Maximum Header Size Violation", Fatal: true}

	// ErrPubArgs: PUB has not 2 or 3 arguments.
	ErrPubArgs = &ProtoError{Msg: "processPub Parse Error", Fatal: true}
	// ErrPubSize: the size of a PUB is not a non-negative decimal number.
	ErrPubSize = &ProtoError{Msg: "processPub Bad or Missing Size", Fatal: true}
	// ErrHPubArgs: HPUB has not 3 or 4 arguments.
	ErrHPubArgs = &ProtoError{Msg: "processHeaderPub Parse Error", Fatal: true}
	// ErrHPubHeaderSize: the header size of an HPUB is not a non-negative
	// decimal number.
	ErrHPubHeaderSize = &ProtoError{Msg: "processHeaderPub Bad or Missing Header Size", Fatal: true}
	// ErrHPubTotalSize: the total size of an HPUB is not a non-negative
	// decimal number.
	ErrHPubTotalSize = &ProtoError{Msg: "processHeaderPub Bad or Missing Total Size", Fatal: true}
	// ErrHPubHeaderOverTotal: an HPUB announces more header bytes than total
	// bytes. The wording, typo included, is nats-server's.
	ErrHPubHeaderOverTotal = &ProtoError{Msg: "processHeaderPub Header Size larger then TotalSize", Fatal: true}
	// ErrSubArgs: SUB has not 2 or 3 arguments.
	ErrSubArgs = &ProtoError{Msg: "processSub Parse Error", Fatal: true}
	// ErrUnsubArgs: UNSUB has not 1 or 2 arguments, or its max is not a
	// non-negative decimal number.
	ErrUnsubArgs = &ProtoError{Msg: "processUnsub Parse Error", Fatal: true}
)

// Errors a server reports for operations that parsed correctly but that it
// refuses. The parser never returns them; they are here so that every
// "-ERR" text lives in one place.
var (
	// ErrInvalidSubject: SUB with a subject that is not a valid
	// subscription subject. Not fatal.
	ErrInvalidSubject = &ProtoError{Msg: "Invalid Subject", Fatal: false}
	// ErrInvalidPublishSubject: PUB to a subject with wildcards or empty
	// tokens. Not fatal.
	ErrInvalidPublishSubject = &ProtoError{Msg: "Invalid Publish Subject", Fatal: false}
	// ErrAuthViolation: missing or wrong credentials. Fatal.
	ErrAuthViolation = &ProtoError{Msg: "Authorization Violation", Fatal: true}
	// ErrAuthTimeout: no CONNECT arrived in time. Fatal.
	ErrAuthTimeout = &ProtoError{Msg: "Authentication Timeout", Fatal: true}
	// ErrStaleConnection: the client stopped answering PINGs. Fatal.
	ErrStaleConnection = &ProtoError{Msg: "Stale Connection", Fatal: true}
	// ErrSlowConsumer: the client does not read fast enough. Fatal.
	ErrSlowConsumer = &ProtoError{Msg: "Slow Consumer", Fatal: true}
)

// AppendErr appends "-ERR '<msg>'\r\n" to dst and returns the extended
// slice. msg is written as is: it must not contain CR or LF.
// It allocates only when dst lacks capacity.
func AppendErr(dst []byte, msg string) []byte {
	dst = append(dst, "-ERR '"...)
	dst = append(dst, msg...)
	return append(dst, "'\r\n"...)
}

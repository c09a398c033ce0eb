package codec

// Handler receives the client operations a Parser recognises, in wire order.
//
// Every byte slice passed to a Handler method aliases the parser's input or
// its scratch space: it is valid only for the duration of the call, and a
// handler that keeps it must copy it. A non-nil error returned by a Handler
// method stops parsing; Parse returns that error unchanged and the Parser
// must not be fed again (the connection is expected to close).
//
// For one message the calls are: PubStart, then (HPUB only) exactly one
// PubHeaders, then zero or more PubPayload, then PubEnd. If the input stops
// or fails between PubStart and PubEnd, PubEnd is never called
// (Parser.InMessage reports that state).
type Handler interface {
	// Connect is called with the JSON object of a CONNECT line (whatever
	// follows the name, leading spaces and the line end removed; possibly
	// empty). ParseConnect decodes it.
	Connect(options []byte) error
	// Ping and Pong are called for PING and PONG.
	Ping() error
	Pong() error
	// Sub is called for SUB <subject> [queue] <sid>. queue is nil when absent.
	// The subject is not validated by the parser.
	Sub(subject, queue, sid []byte) error
	// Unsub is called for UNSUB <sid> [max]; max is 0 when absent.
	Unsub(sid []byte, max int64) error
	// PubStart is called once the control line of a PUB or HPUB is complete,
	// before any payload byte. reply is nil when absent. hdrLen is -1 for PUB
	// and the header length for HPUB; size is the total length of headers
	// plus body as announced on the line (already checked against
	// ParserOptions.MaxPayload, and hdrLen <= size). The subject is not
	// validated.
	PubStart(subject, reply []byte, hdrLen, size int) error
	// PubHeaders is called for an HPUB once the whole header block (hdrLen
	// bytes, beginning "NATS/1.0" if the client is well-behaved; the parser
	// does not check) has arrived; the parser buffers it, up to
	// ParserOptions.MaxHeaderSize. It is called even when hdrLen is 0, with
	// an empty slice.
	PubHeaders(hdr []byte) error
	// PubPayload is called zero or more times with the next piece of the
	// body (the bytes after the headers) as it arrives from the network.
	// A piece is never empty; the pieces of one message add up to
	// size - max(hdrLen, 0).
	PubPayload(piece []byte) error
	// PubEnd is called after the last body byte and the trailing CRLF.
	PubEnd() error
}

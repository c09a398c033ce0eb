// Package codec is barge's wire code for the NATS client protocol: an
// incremental parser of what clients send, encoders for what a server
// sends, CONNECT and INFO bodies, header blocks (ADR-4) and subject checks.
// It holds no server or client state and imports nothing else of barge, so
// it can be tested and fuzzed alone.
//
// # Parser
//
// A Parser turns bytes, fed through Parse in pieces of any size, into calls
// on a Handler, in wire order. It is a byte-wise state machine in the
// spirit of nats-server's parser.go:
//
//	             +--------- 'P' -------> stP --'U'/'I'/'O'--+
//	             |                                          v
//	stStart --'C'/'H'/'S'/'U'----------------------------> stKeyword (rest of the name,
//	   ^                                                    |          case-insensitive)
//	   |                                                    v
//	   |                                                stAfterName
//	   |                     PING, PONG: anything up to LF  |  others: space/tab
//	   |                                                    v
//	   |                                          stSpaces -> stArgs --LF--> dispatch
//	   |                                                                       |
//	   |<------ CONNECT, PING, PONG, SUB, UNSUB: Handler call -----------------+
//	   |                                                                       |
//	   |                               PUB: PubStart     HPUB: PubStart        |
//	   |                                    |                  v               |
//	   |                                    |     stHeader (hdrLen bytes) -> PubHeaders
//	   |                                    v                  v
//	   |                      stBody: PubPayload per piece, as it arrives
//	   |                                    v
//	   +---- PubEnd <-- LF <-- stEndLF <-- CR <-- stEndCR
//
// Operations: CONNECT, PING, PONG, SUB, UNSUB, PUB and HPUB. Operation names
// are case-insensitive; arguments are separated by runs of spaces or tabs.
// A control line ends at LF, and one CR right before it is dropped, so a
// bare LF is accepted, as nats-server accepts it. As in nats-server, PING
// and PONG ignore whatever precedes the LF, and CONNECT needs no space
// before its JSON. The bytes after a payload must be exactly CRLF.
//
// Memory: a control line that is whole in one input slice is used in place.
// One split across Parse calls is copied into a scratch buffer allocated
// once by NewParser with room for MaxControlLine bytes (plus the CR); a
// line with more argument bytes than that fails with ErrMaxControlLine,
// whatever the split. An HPUB header block is handed over in place when it
// arrived whole, and otherwise gathered in a buffer that grows up to the
// largest header seen (at most MaxHeaderSize) and is reused. The body is
// never gathered: each PubPayload piece is the part of the current input
// slice that belongs to the body. In steady state Parse does not allocate.
//
// # Ownership
//
// Every slice passed to a Handler aliases the input of the current Parse
// call or the Parser's own buffers. It is valid only until the Handler
// method returns; a Handler that keeps bytes must copy them. Parse does not
// retain its input after it returns. Encoders append to a caller's buffer
// and return it, as append does; they allocate only to grow it.
//
// # Errors
//
// Parse reports protocol violations as *ProtoError sentinels carrying
// nats-server's wording ("Maximum Control Line Exceeded", "Unknown Protocol
// Operation", "Maximum Payload Violation", "processPub Parse Error", ...);
// all are fatal. A Handler's error is returned unchanged. After either, the
// Parser is stuck until Reset: the connection is expected to send
// AppendErr(dst, err.Msg) where appropriate and close.
//
// # Payload sizes
//
// Sizes are decimal and at most MaxPayload (default 1 GiB); unlike
// nats-server, barge streams such payloads through bounded memory, so the
// limit is a policy, not a buffer size.
package codec

package codec

import "bytes"

// # Route protocol
//
// Servers of one cluster talk over routes with a protocol of barge's own,
// modeled on nats-server's (INFO/CONNECT/PING/PONG, RS+/RS- for interest,
// RMSG/HRMSG for messages, each naming the account its subject belongs to
// first, as nats-server's do) with one addition: a chunked message form for
// large payloads, so a message can be forwarded while it arrives and
// abandoned half way without closing the route.
//
//	INFO <json>                          RouteInfo of the sender (first line of the
//	                                     accepting side; again when membership changes)
//	CONNECT <json>                       RouteInfo of the dialing side, once, after INFO
//	PING, PONG, +OK, -ERR '<msg>'
//	RS+ <acc> <subject> [<queue> <weight>]   the sender gained interest
//	RS- <acc> <subject> [<queue>]            the sender lost interest
//	RMSG <acc> <subject> <rq> <size>         payload, then CRLF
//	HRMSG <acc> <subject> <rq> <hdr> <size>  header block and body (<size> bytes), then CRLF
//	LMSG <acc> <subject> <rq> <size>         chunked: frames follow
//	HLMSG <acc> <subject> <rq> <hdr> <size>  chunked with headers: frames follow
//
// <acc> is the account name ("$G" for the global account).
//
// <rq> is the reply subject and the queue groups the message is meant for:
// empty (no reply, plain subscribers only), "<reply>", "+ <reply> <q>..."
// or "| <q>...". The receiver delivers the message to its local plain
// subscribers and to one local member of each queue group named.
//
// A frame of a chunked message is "<n>\r\n" followed by n payload bytes
// (no CRLF after them). "0\r\n" ends the message; the frames' bytes must
// then add up to <size>. "-\r\n" abandons it: the receiver drops what it
// had begun to deliver (see broker: receivers that got none of it never
// see it).

// maxRouteArgs bounds the arguments of one route control line: account,
// subject, the reply marker, reply, header size, size, and the queue
// names. A message is forwarded to at most MaxRouteQueues groups per RMSG.
const maxRouteArgs = 6 + MaxRouteQueues

// MaxRouteQueues is the most queue group names one RMSG may carry; a sender
// with more groups for one route leaves the rest out.
const MaxRouteQueues = 32

// Route frame lines of a chunked message.
const (
	FrameEnd   = "0\r\n"
	FrameAbort = "-\r\n"
)

// maxFrameLine bounds a frame line ("<n>\r\n").
const maxFrameLine = 24

// RouteMsg describes a routed message at MsgStart. Its slices alias the
// parser's input or buffers and are valid only during the call.
type RouteMsg struct {
	Account []byte
	Subject []byte
	Reply   []byte   // nil when absent
	Queues  [][]byte // queue groups the message is meant for; empty for plain subscribers only
	HdrLen  int      // header block length, -1 for RMSG/LMSG
	Size    int      // header block plus body
	Chunked bool     // LMSG/HLMSG: the payload comes in frames and may be aborted
}

// RouteHandler receives what a RouteParser recognises, in wire order. Slices
// are valid only for the duration of the call. A non-nil error stops parsing
// and is returned by Parse unchanged.
//
// For one message the calls are MsgStart, then (HRMSG/HLMSG) one MsgHeaders
// with the whole header block, then zero or more MsgPayload with body
// pieces as they arrive, then MsgEnd, or, for a chunked message, MsgAbort
// at any point after MsgStart.
type RouteHandler interface {
	// Info and Connect get the JSON of an INFO or CONNECT line
	// (ParseRouteInfo decodes it).
	Info(js []byte) error
	Connect(js []byte) error
	Ping() error
	Pong() error
	// Err gets the text of a -ERR line, quotes removed.
	Err(msg []byte) error
	// Sub is RS+; queue is nil and weight 0 for a plain subscription.
	Sub(account, subject, queue []byte, weight int64) error
	// Unsub is RS-; queue is nil for a plain subscription.
	Unsub(account, subject, queue []byte) error
	MsgStart(m *RouteMsg) error
	MsgHeaders(hdr []byte) error
	MsgPayload(piece []byte) error
	MsgEnd() error
	MsgAbort() error
}

// Route protocol errors; all fatal (the route is closed).
var (
	ErrRouteOp    = &ProtoError{Msg: "Unknown Protocol Operation", Fatal: true}
	ErrRouteArgs  = &ProtoError{Msg: "Route Protocol Parse Error", Fatal: true}
	ErrRouteFrame = &ProtoError{Msg: "Route Frame Error", Fatal: true}
)

type rstate uint8

const (
	rsLine      rstate = iota // collecting a control line
	rsPayload                 // RMSG/HRMSG payload bytes
	rsEndCR                   // CR after an RMSG payload
	rsEndLF                   // LF after an RMSG payload
	rsFrameLine               // collecting a frame line
	rsFrameData               // frame payload bytes
	rsFailed
)

// RouteParser is an incremental parser of the route protocol: bytes go in
// through Parse in pieces of any size and come out as RouteHandler calls.
// Like Parser it holds no server state, copies only a control line or a
// header block split across calls, and never gathers a body. It is not safe
// for concurrent use.
type RouteParser struct {
	h          RouteHandler
	maxControl int
	maxPayload int64
	maxHeader  int

	state rstate
	// scratch holds a control line split across Parse calls (capacity
	// maxControl+1); split says it is in use.
	scratch []byte
	split   bool
	// fline holds a frame line being collected.
	fline  [maxFrameLine]byte
	flineN int

	msg    RouteMsg
	qstore [maxRouteArgs][]byte
	// left is what remains of an RMSG payload (rsPayload) or of the current
	// frame (rsFrameData); got counts a chunked message's bytes so far.
	left int
	got  int
	// hdrLeft header bytes are still to be collected; hdrBuf gathers a
	// header block that spans pieces.
	hdrLeft int
	hdrBuf  []byte
	inMsg   bool

	err error
}

// NewRouteParser returns a RouteParser reporting to h with o's limits (zero
// fields take the defaults, as for NewParser).
func NewRouteParser(h RouteHandler, o ParserOptions) *RouteParser {
	if o.MaxControlLine <= 0 {
		o.MaxControlLine = DefaultMaxControlLine
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.MaxHeaderSize <= 0 {
		o.MaxHeaderSize = DefaultMaxHeaderSize
	}
	return &RouteParser{
		h:          h,
		maxControl: o.MaxControlLine,
		maxPayload: o.MaxPayload,
		maxHeader:  o.MaxHeaderSize,
		scratch:    make([]byte, 0, o.MaxControlLine+1),
	}
}

// InMessage reports whether a message has begun (MsgStart) and not ended
// (MsgEnd or MsgAbort). A route that closes in that state lost the rest.
func (p *RouteParser) InMessage() bool { return p.inMsg }

// Parse consumes all of b. It returns nil, a *ProtoError (fatal), or the
// first error a handler returned; after an error the parser is stuck and
// returns it again. b is not retained.
func (p *RouteParser) Parse(b []byte) error {
	if p.state == rsFailed {
		return p.err
	}
	i := 0
	for i < len(b) {
		var err error
		switch p.state {
		case rsLine:
			i, err = p.line(b, i)
		case rsPayload, rsFrameData:
			n := min(len(b)-i, p.left)
			p.left -= n
			if p.left == 0 {
				if p.state == rsPayload {
					p.state = rsEndCR
				} else {
					p.state = rsFrameLine
				}
			}
			err = p.emit(b[i : i+n])
			i += n
		case rsEndCR:
			if b[i] != '\r' {
				err = ErrRouteFrame
				break
			}
			i++
			p.state = rsEndLF
		case rsEndLF:
			if b[i] != '\n' {
				err = ErrRouteFrame
				break
			}
			i++
			p.state = rsLine
			p.inMsg = false
			err = p.h.MsgEnd()
		case rsFrameLine:
			i, err = p.frameLine(b, i)
		}
		if err != nil {
			p.state, p.err = rsFailed, err
			return err
		}
	}
	return nil
}

// line collects a control line from b[i:] and dispatches it once whole.
func (p *RouteParser) line(b []byte, i int) (int, error) {
	rest := b[i:]
	j := bytes.IndexByte(rest, '\n')
	if j < 0 {
		if len(p.scratch)+len(rest) > p.maxControl+1 {
			return len(b), ErrMaxControlLine
		}
		p.scratch = append(p.scratch, rest...)
		p.split = true
		return len(b), nil
	}
	line := rest[:j]
	if p.split {
		if len(p.scratch)+len(line) > p.maxControl+1 {
			return i + j + 1, ErrMaxControlLine
		}
		p.scratch = append(p.scratch, line...)
		line = p.scratch
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	var err error
	if len(line) > p.maxControl {
		err = ErrMaxControlLine
	} else {
		err = p.dispatch(line)
	}
	p.scratch = p.scratch[:0]
	p.split = false
	return i + j + 1, err
}

// frameLine collects "<n>\r\n", "0\r\n" or "-\r\n" and acts on it.
func (p *RouteParser) frameLine(b []byte, i int) (int, error) {
	for i < len(b) {
		c := b[i]
		i++
		if c != '\n' {
			if p.flineN == len(p.fline) {
				return i, ErrRouteFrame
			}
			p.fline[p.flineN] = c
			p.flineN++
			continue
		}
		f := p.fline[:p.flineN]
		p.flineN = 0
		if n := len(f); n > 0 && f[n-1] == '\r' {
			f = f[:n-1]
		}
		if len(f) == 1 && f[0] == '-' {
			p.state, p.inMsg = rsLine, false
			p.hdrBuf = p.hdrBuf[:0]
			return i, p.h.MsgAbort()
		}
		n := parseSize(f)
		switch {
		case n < 0:
			return i, ErrRouteFrame
		case n == 0:
			if p.got != p.msg.Size {
				return i, ErrRouteFrame
			}
			p.state, p.inMsg = rsLine, false
			return i, p.h.MsgEnd()
		case int64(p.got)+n > int64(p.msg.Size):
			return i, ErrRouteFrame
		}
		p.got += int(n)
		p.left = int(n)
		p.state = rsFrameData
		return i, nil
	}
	return i, nil
}

// emit hands payload bytes over: the header block first (whole, buffered
// when split), then body pieces.
func (p *RouteParser) emit(b []byte) error {
	for p.hdrLeft > 0 && len(b) > 0 {
		if len(p.hdrBuf) == 0 && len(b) >= p.hdrLeft {
			hdr := b[:p.hdrLeft]
			b = b[p.hdrLeft:]
			p.hdrLeft = 0
			if err := p.h.MsgHeaders(hdr); err != nil {
				return err
			}
			break
		}
		n := min(len(b), p.hdrLeft)
		if cap(p.hdrBuf) < p.msg.HdrLen {
			nb := make([]byte, len(p.hdrBuf), p.msg.HdrLen)
			copy(nb, p.hdrBuf)
			p.hdrBuf = nb
		}
		p.hdrBuf = append(p.hdrBuf, b[:n]...)
		b = b[n:]
		p.hdrLeft -= n
		if p.hdrLeft == 0 {
			err := p.h.MsgHeaders(p.hdrBuf)
			p.hdrBuf = p.hdrBuf[:0]
			if err != nil {
				return err
			}
		}
	}
	if len(b) == 0 {
		return nil
	}
	return p.h.MsgPayload(b)
}

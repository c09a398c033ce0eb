package codec

import "bytes"

// Defaults applied by NewParser to zero ParserOptions fields.
const (
	DefaultMaxControlLine = 4096
	DefaultMaxPayload     = int64(1) << 30
	DefaultMaxHeaderSize  = 256 << 10
)

// ParserOptions bounds what a Parser accepts. A zero field takes its default.
type ParserOptions struct {
	// MaxControlLine is the most argument bytes a control line may carry
	// (the bytes after the operation name and its spaces, before CRLF).
	// Default DefaultMaxControlLine.
	MaxControlLine int
	// MaxPayload is the largest total size (headers plus body) a PUB or
	// HPUB may announce. Default DefaultMaxPayload.
	MaxPayload int64
	// MaxHeaderSize is the largest header block an HPUB may announce.
	// Default DefaultMaxHeaderSize.
	MaxHeaderSize int
}

// state is where the Parser stands between two input bytes.
type state uint8

const (
	stStart     state = iota // at the first byte of a line
	stP                      // read "P": PUB, PING or PONG follows
	stKeyword                // matching the rest of the operation name kw
	stAfterName              // the whole operation name was read
	stSpaces                 // skipping the spaces before the arguments
	stArgs                   // collecting the arguments up to LF
	stHeader                 // collecting an HPUB header block
	stBody                   // handing body bytes to PubPayload
	stEndCR                  // expecting the CR after a payload
	stEndLF                  // expecting the LF after a payload
	stFailed                 // an error was returned; p.err holds it
)

// op names the operation whose line is being parsed.
type op uint8

const (
	opNone op = iota
	opConnect
	opPing
	opPong
	opSub
	opUnsub
	opPub
	opHPub
)

// keywords holds each operation's name in lower case, indexed by op.
var keywords = [...]string{
	opConnect: "connect",
	opPing:    "ping",
	opPong:    "pong",
	opSub:     "sub",
	opUnsub:   "unsub",
	opPub:     "pub",
	opHPub:    "hpub",
}

// Parser is an incremental parser of the NATS client protocol: bytes go in
// through Parse in pieces of any size, and operations come out, in wire
// order, as calls on a Handler. See the package documentation for the state
// machine and the ownership rules.
//
// A Parser is not safe for concurrent use; one connection owns one Parser.
type Parser struct {
	h          Handler
	maxControl int
	maxPayload int64
	maxHeader  int

	state state
	op    op
	kwPos int // bytes of keywords[op] matched so far (stKeyword)

	// scratch holds the arguments of a control line split across Parse
	// calls. Allocated once with capacity maxControl+1 (room for the CR);
	// split says whether it is in use for the current line.
	scratch []byte
	split   bool

	// HPUB header block: hdrBuf collects it when it spans Parse calls; it
	// grows on demand up to maxHeader and is reused.
	hdrBuf  []byte
	hdrLeft int // header bytes still expected (stHeader)
	hdrLen  int // header length of the current HPUB
	body    int // body bytes still expected (stBody)
	inMsg   bool

	err error // the error that stopped the Parser (stFailed)
}

// NewParser returns a Parser that reports to h, with o's limits (zero
// fields take the defaults). It allocates the control-line scratch buffer
// once, here.
func NewParser(h Handler, o ParserOptions) *Parser {
	if o.MaxControlLine <= 0 {
		o.MaxControlLine = DefaultMaxControlLine
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.MaxHeaderSize <= 0 {
		o.MaxHeaderSize = DefaultMaxHeaderSize
	}
	return &Parser{
		h:          h,
		maxControl: o.MaxControlLine,
		maxPayload: o.MaxPayload,
		maxHeader:  o.MaxHeaderSize,
		scratch:    make([]byte, 0, o.MaxControlLine+1),
	}
}

// Reset returns p to the start of a line, forgets a failure and any partial
// operation, and keeps its buffers. It does not call the Handler: a caller
// that resets in the middle of a message (InMessage) must itself drop what
// PubStart began.
func (p *Parser) Reset() {
	p.state = stStart
	p.op = opNone
	p.kwPos = 0
	p.scratch = p.scratch[:0]
	p.split = false
	p.hdrBuf = p.hdrBuf[:0]
	p.hdrLeft, p.hdrLen, p.body = 0, 0, 0
	p.inMsg = false
	p.err = nil
}

// InMessage reports whether a PUB or HPUB has begun (PubStart was called)
// and has not ended (PubEnd was not yet called). A connection that closes
// while InMessage is true lost the rest of that message.
func (p *Parser) InMessage() bool { return p.inMsg }

// Parse consumes all of b, calling the Handler for every operation or
// payload piece it completes. b is not retained after Parse returns: bytes
// that must outlive the call (a split control line, a split header block)
// are copied into the Parser's own buffers; payload pieces are handed to
// PubPayload as subslices of b and never copied.
//
// Parse returns nil when b was consumed without error. Otherwise it returns
// a *ProtoError from this package (all fatal) or, unchanged, the first
// non-nil error a Handler method returned; either way the Parser is stuck
// and every later Parse returns the same error until Reset.
func (p *Parser) Parse(b []byte) error {
	if p.state == stFailed {
		return p.err
	}
	i := 0
	for i < len(b) {
		var err error
		switch p.state {
		case stStart:
			err = p.startOp(b[i])
			i++
		case stP:
			err = p.afterP(b[i])
			i++
		case stKeyword:
			if b[i]|0x20 != keywords[p.op][p.kwPos] {
				err = ErrUnknownOp
				break
			}
			i++
			p.kwPos++
			if p.kwPos == len(keywords[p.op]) {
				p.state = stAfterName
			}
		case stAfterName:
			i, err = p.afterName(b, i)
		case stSpaces:
			for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
				i++
			}
			if i < len(b) {
				p.state = stArgs
			}
		case stArgs:
			i, err = p.args(b, i)
		case stHeader:
			i, err = p.header(b, i)
		case stBody:
			n := len(b) - i
			if n > p.body {
				n = p.body
			}
			p.body -= n
			if p.body == 0 {
				p.state = stEndCR
			}
			err = p.h.PubPayload(b[i : i+n])
			i += n
		case stEndCR:
			if b[i] != '\r' {
				err = ErrPayloadTerminator
				break
			}
			i++
			p.state = stEndLF
		case stEndLF:
			if b[i] != '\n' {
				err = ErrPayloadTerminator
				break
			}
			i++
			p.state = stStart
			p.inMsg = false
			err = p.h.PubEnd()
		}
		if err != nil {
			p.state, p.err = stFailed, err
			return err
		}
	}
	return nil
}

// startOp reads the first byte of a line.
func (p *Parser) startOp(c byte) error {
	switch c | 0x20 {
	case 'p':
		p.state = stP
		return nil
	case 'c':
		p.op = opConnect
	case 'h':
		p.op = opHPub
	case 's':
		p.op = opSub
	case 'u':
		p.op = opUnsub
	default:
		return ErrUnknownOp
	}
	p.state, p.kwPos = stKeyword, 1
	return nil
}

// afterP reads the byte after a leading "P".
func (p *Parser) afterP(c byte) error {
	switch c | 0x20 {
	case 'u':
		p.op = opPub
	case 'i':
		p.op = opPing
	case 'o':
		p.op = opPong
	default:
		return ErrUnknownOp
	}
	p.state, p.kwPos = stKeyword, 2
	return nil
}

// afterName reads what follows a complete operation name. Like nats-server:
// PING and PONG take anything up to LF; CONNECT takes optional spaces; the
// others need at least one space or tab.
func (p *Parser) afterName(b []byte, i int) (int, error) {
	switch p.op {
	case opPing, opPong:
		p.state = stArgs
		return i, nil
	case opConnect:
		p.state = stSpaces
		return i, nil
	}
	if b[i] != ' ' && b[i] != '\t' {
		return i, ErrUnknownOp
	}
	p.state = stSpaces
	return i + 1, nil
}

// args collects the argument bytes of a control line starting at b[i] and,
// once the LF is found, dispatches the line. It returns the index of the
// first byte not consumed.
//
// The limit is checked the same way whatever the split: arguments longer
// than maxControl (not counting a final CR) fail, and so does any partial
// line that already holds more than maxControl+1 bytes.
func (p *Parser) args(b []byte, i int) (int, error) {
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
	if len(line) > p.maxControl {
		return i + j + 1, ErrMaxControlLine
	}
	err := p.dispatch(line)
	p.scratch = p.scratch[:0]
	p.split = false
	return i + j + 1, err
}

// header collects an HPUB header block starting at b[i] and calls
// PubHeaders once it is whole: straight from b when it arrived in one
// piece, from hdrBuf otherwise.
func (p *Parser) header(b []byte, i int) (int, error) {
	rest := b[i:]
	if len(p.hdrBuf) == 0 && len(rest) >= p.hdrLeft {
		n := p.hdrLeft
		return i + n, p.headersDone(rest[:n])
	}
	n := len(rest)
	if n > p.hdrLeft {
		n = p.hdrLeft
	}
	if cap(p.hdrBuf) < p.hdrLen {
		nb := make([]byte, len(p.hdrBuf), p.hdrLen)
		copy(nb, p.hdrBuf)
		p.hdrBuf = nb
	}
	p.hdrBuf = append(p.hdrBuf, rest[:n]...)
	p.hdrLeft -= n
	if p.hdrLeft > 0 {
		return i + n, nil
	}
	err := p.headersDone(p.hdrBuf)
	p.hdrBuf = p.hdrBuf[:0]
	return i + n, err
}

// headersDone hands the whole header block over and moves on to the body.
func (p *Parser) headersDone(hdr []byte) error {
	p.hdrLeft = 0
	p.enterBody()
	return p.h.PubHeaders(hdr)
}

// enterBody moves to the body, or straight to its CRLF when it is empty.
func (p *Parser) enterBody() {
	if p.body > 0 {
		p.state = stBody
	} else {
		p.state = stEndCR
	}
}

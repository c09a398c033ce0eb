package codec

// maxArgs is one more than the most arguments any client operation takes
// (HPUB: subject, reply, header size, total size), so that splitArgs can
// tell "too many" from "just enough".
const maxArgs = 5

// dispatch handles a complete control line whose arguments (CR and LF
// removed) are line, calling the Handler and setting the next state.
func (p *Parser) dispatch(line []byte) error {
	p.state = stStart
	switch p.op {
	case opPing:
		return p.h.Ping()
	case opPong:
		return p.h.Pong()
	case opConnect:
		return p.h.Connect(line)
	}
	var store [maxArgs][]byte
	args := splitArgs(line, store[:0])
	switch p.op {
	case opSub:
		switch len(args) {
		case 2:
			return p.h.Sub(args[0], nil, args[1])
		case 3:
			return p.h.Sub(args[0], args[1], args[2])
		}
		return ErrSubArgs
	case opUnsub:
		var max int64
		switch len(args) {
		case 1:
		case 2:
			if max = parseSize(args[1]); max < 0 {
				return ErrUnsubArgs
			}
		default:
			return ErrUnsubArgs
		}
		return p.h.Unsub(args[0], max)
	case opPub:
		return p.pub(args)
	case opHPub:
		return p.hpub(args)
	}
	return ErrUnknownOp
}

// pub checks the arguments of PUB <subject> [reply] <size> and starts the
// message.
func (p *Parser) pub(args [][]byte) error {
	var subject, reply, szb []byte
	switch len(args) {
	case 2:
		subject, szb = args[0], args[1]
	case 3:
		subject, reply, szb = args[0], args[1], args[2]
	default:
		return ErrPubArgs
	}
	size := parseSize(szb)
	if size < 0 {
		return ErrPubSize
	}
	if size > p.maxPayload {
		return ErrMaxPayload
	}
	p.hdrLen, p.body = -1, int(size)
	p.inMsg = true
	p.enterBody()
	return p.h.PubStart(subject, reply, -1, int(size))
}

// hpub checks the arguments of HPUB <subject> [reply] <hdrLen> <size> and
// starts the message. A zero-length header block is delivered at once.
func (p *Parser) hpub(args [][]byte) error {
	var subject, reply, hdb, szb []byte
	switch len(args) {
	case 3:
		subject, hdb, szb = args[0], args[1], args[2]
	case 4:
		subject, reply, hdb, szb = args[0], args[1], args[2], args[3]
	default:
		return ErrHPubArgs
	}
	hdr := parseSize(hdb)
	if hdr < 0 {
		return ErrHPubHeaderSize
	}
	size := parseSize(szb)
	if size < 0 {
		return ErrHPubTotalSize
	}
	if hdr > size {
		return ErrHPubHeaderOverTotal
	}
	if size > p.maxPayload {
		return ErrMaxPayload
	}
	if hdr > int64(p.maxHeader) {
		return ErrMaxHeaderSize
	}
	p.hdrLen, p.hdrLeft, p.body = int(hdr), int(hdr), int(size-hdr)
	p.inMsg = true
	p.state = stHeader
	if err := p.h.PubStart(subject, reply, int(hdr), int(size)); err != nil {
		return err
	}
	if hdr == 0 {
		return p.headersDone(p.scratch[:0])
	}
	return nil
}

// splitArgs appends to args the space- or tab-separated fields of line, at
// most maxArgs of them (a caller seeing maxArgs knows there were too many).
func splitArgs(line []byte, args [][]byte) [][]byte {
	start := -1
	for i, c := range line {
		if c == ' ' || c == '\t' {
			if start >= 0 {
				if args = append(args, line[start:i]); len(args) == cap(args) {
					return args
				}
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		args = append(args, line[start:])
	}
	return args
}

// parseSize returns the value of a non-empty run of ASCII digits, or -1 when
// b is empty, holds anything else, or overflows an int64.
func parseSize(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 {
		// 18 digits always fit in an int64; longer is never a sane size.
		return -1
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

package codec

import "bytes"

// dispatch handles one complete route control line (CR and LF removed).
func (p *RouteParser) dispatch(line []byte) error {
	op, rest := line, []byte(nil)
	if k := bytes.IndexAny(line, " \t"); k >= 0 {
		op, rest = line[:k], bytes.TrimLeft(line[k+1:], " \t")
	}
	switch {
	case len(op) == 0:
		return ErrRouteOp
	case bytes.EqualFold(op, []byte("PING")):
		return p.h.Ping()
	case bytes.EqualFold(op, []byte("PONG")):
		return p.h.Pong()
	case bytes.EqualFold(op, []byte("+OK")):
		return nil
	case bytes.EqualFold(op, []byte("INFO")):
		return p.h.Info(rest)
	case bytes.EqualFold(op, []byte("CONNECT")):
		return p.h.Connect(rest)
	case bytes.EqualFold(op, []byte("-ERR")):
		return p.h.Err(bytes.Trim(bytes.TrimSpace(rest), "'"))
	}
	var store [maxRouteArgs + 1][]byte
	args := splitArgs(rest, store[:0])
	if len(args) > maxRouteArgs {
		return ErrRouteArgs
	}
	switch {
	case bytes.EqualFold(op, []byte("RS+")):
		return p.sub(args)
	case bytes.EqualFold(op, []byte("RS-")):
		switch len(args) {
		case 2:
			return p.h.Unsub(args[0], args[1], nil)
		case 3:
			return p.h.Unsub(args[0], args[1], args[2])
		}
		return ErrRouteArgs
	case bytes.EqualFold(op, []byte("RMSG")):
		return p.msgStart(args, false, false)
	case bytes.EqualFold(op, []byte("HRMSG")):
		return p.msgStart(args, true, false)
	case bytes.EqualFold(op, []byte("LMSG")):
		return p.msgStart(args, false, true)
	case bytes.EqualFold(op, []byte("HLMSG")):
		return p.msgStart(args, true, true)
	}
	return ErrRouteOp
}

// sub handles RS+ <account> <subject> [<queue> <weight>].
func (p *RouteParser) sub(args [][]byte) error {
	switch len(args) {
	case 2:
		return p.h.Sub(args[0], args[1], nil, 0)
	case 4:
		w := parseSize(args[3])
		if w < 0 {
			return ErrRouteArgs
		}
		return p.h.Sub(args[0], args[1], args[2], w)
	}
	return ErrRouteArgs
}

// msgStart checks the arguments of RMSG, HRMSG, LMSG or HLMSG, reports the
// start of the message and sets the state for its payload.
func (p *RouteParser) msgStart(args [][]byte, hasHdr, chunked bool) error {
	nums := 1
	if hasHdr {
		nums = 2
	}
	if len(args) < 2+nums {
		return ErrRouteArgs
	}
	m := &p.msg
	*m = RouteMsg{Account: args[0], Subject: args[1], HdrLen: -1, Chunked: chunked}
	mid := args[2 : len(args)-nums]
	switch {
	case len(mid) == 0:
	case len(mid[0]) == 1 && mid[0][0] == '+':
		if len(mid) < 2 {
			return ErrRouteArgs
		}
		m.Reply = mid[1]
		m.Queues = append(p.qstore[:0], mid[2:]...)
	case len(mid[0]) == 1 && mid[0][0] == '|':
		if len(mid) < 2 {
			return ErrRouteArgs
		}
		m.Queues = append(p.qstore[:0], mid[1:]...)
	case len(mid) == 1:
		m.Reply = mid[0]
	default:
		return ErrRouteArgs
	}
	size := parseSize(args[len(args)-1])
	if size < 0 {
		return ErrRouteArgs
	}
	if size > p.maxPayload {
		return ErrMaxPayload
	}
	if hasHdr {
		hdr := parseSize(args[len(args)-2])
		if hdr < 0 || hdr > size {
			return ErrRouteArgs
		}
		if hdr > int64(p.maxHeader) {
			return ErrMaxHeaderSize
		}
		m.HdrLen = int(hdr)
	}
	m.Size = int(size)
	p.inMsg = true
	p.got = 0
	p.hdrLeft = max(m.HdrLen, 0)
	p.hdrBuf = p.hdrBuf[:0]
	if chunked {
		p.state = rsFrameLine
	} else {
		p.left = m.Size
		p.state = rsPayload
		if m.Size == 0 {
			p.state = rsEndCR
		}
	}
	if err := p.h.MsgStart(m); err != nil {
		return err
	}
	if m.HdrLen == 0 {
		return p.h.MsgHeaders(p.scratch[:0])
	}
	return nil
}

package broker

import (
	"github.com/bargemq/barge/codec"
)

// routeTarget is one peer a message is forwarded to: one routed message,
// naming the queue groups the peer was picked for.
type routeTarget struct {
	peer *peer
	out  *routeOut
	// queues are the queue groups this peer delivers the message to (one
	// member each); its backing array is reused across messages.
	queues []string
	// stream is the open chunked message while streaming; nil once it
	// failed or ended.
	stream Stream
	// acc and subject, when acc is not nil, are the account and subject
	// the message is routed in instead of the publisher's: a stream
	// import's (imports_large.go).
	acc     *Account
	subject []byte
}

// addRoute forwards the current message to pe, for its plain subscribers
// (queue "") or for one member of queue. A peer that has not dialed us yet
// has no outbound connection and is skipped.
func (c *client) addRoute(pe *peer, queue string) { c.addRouteIn(pe, queue, nil, nil) }

// addRouteIn is addRoute in account acc under subj (nil acc: the
// publisher's account and subject).
func (c *client) addRouteIn(pe *peer, queue string, acc *Account, subj []byte) {
	out := pe.out.Load()
	if out == nil {
		return
	}
	p := &c.pub
	var rt *routeTarget
	for i := range p.routes {
		if p.routes[i].peer == pe && p.routes[i].acc == acc {
			rt = &p.routes[i]
			break
		}
	}
	if rt == nil {
		if len(p.routes) < cap(p.routes) {
			p.routes = p.routes[:len(p.routes)+1]
		} else {
			p.routes = append(p.routes, routeTarget{})
		}
		rt = &p.routes[len(p.routes)-1]
		rt.peer, rt.out, rt.queues = pe, out, rt.queues[:0]
		rt.acc, rt.subject = acc, subj
	}
	if queue != "" && len(rt.queues) < codec.MaxRouteQueues {
		rt.queues = append(rt.queues, queue)
	}
}

// pickRemote forwards the current message to one peer with members of a
// queue group that has no eligible local member, chosen uniformly among
// the peers that can be reached.
func (c *client) pickRemote(group []*Subscription) { c.pickRemoteIn(group, nil, nil) }

// pickRemoteIn is pickRemote in account acc under subj (see addRouteIn).
func (c *client) pickRemoteIn(group []*Subscription, acc *Account, subj []byte) {
	n := 0
	for _, sub := range group {
		if sub.peer != nil && sub.peer.out.Load() != nil {
			n++
		}
	}
	if n == 0 {
		return
	}
	k := c.rng.IntN(n)
	for _, sub := range group {
		if sub.peer != nil && sub.peer.out.Load() != nil {
			if k == 0 {
				c.addRouteIn(sub.peer, sub.Queue, acc, subj)
				return
			}
			k--
		}
	}
}

// redirect routes the current message to the first peer with interest in
// one of via's subjects, asking it to capture the message (Redirect).
func (c *client) redirect(via [][]byte) {
	for _, v := range via {
		r := c.account().sl.Match(v)
		for _, sub := range r.Psubs {
			if sub.peer != nil && sub.peer.out.Load() != nil {
				c.addRoute(sub.peer, captureToken)
				return
			}
		}
	}
}

// captureAsked reports whether the routed message being delivered asks
// this server to capture it (its sender redirected it here).
func (c *client) captureAsked() bool {
	for _, name := range c.pub.rqueues {
		if string(name) == captureToken {
			return true
		}
	}
	return false
}

// wantsQueue reports whether the routed message being delivered names
// queue group q.
func (c *client) wantsQueue(q string) bool {
	for _, name := range c.pub.rqueues {
		if string(name) == q {
			return true
		}
	}
	return false
}

// routeLine encodes rt's routed-message control line into c.line.
func (c *client) routeLine(rt *routeTarget, chunked bool) []byte {
	p := &c.pub
	acc, subj := c.account().name, p.subject
	if rt.acc != nil {
		acc, subj = rt.acc.name, rt.subject
	}
	c.line = codec.AppendRouteMsg(c.line[:0], acc, subj, p.reply, rt.queues, p.hdrLen, p.size, chunked)
	return c.line
}

// routeHeadroom is the room the longest routed-message line needs in front
// of a gathered payload.
func (c *client) routeHeadroom() int {
	p := &c.pub
	n := 0
	for i := range p.routes {
		m := 0
		for _, q := range p.routes[i].queues {
			m += len(q) + 1
		}
		n = max(n, m)
	}
	if len(p.routes) == 0 {
		return 0
	}
	// "HLMSG " account ' ' subject " + " reply ' ' queues hdrLen ' ' size CRLF.
	return len(c.account().name) + len(p.subject) + len(p.reply) + n + 64
}

// openRouteStreams begins the chunked form of the message on every peer.
func (c *client) openRouteStreams() {
	p := &c.pub
	for i := range p.routes {
		rt := &p.routes[i]
		s, err := rt.out.t.BeginStream()
		if err != nil {
			continue
		}
		rt.stream = s
		c.routeWrite(rt, c.routeLine(rt, true))
	}
}

// routeWrite writes b to rt's stream, dropping the stream on error (the
// route is closing; the peer sees the connection end).
func (c *client) routeWrite(rt *routeTarget, b []byte) {
	if rt.stream == nil {
		return
	}
	if err := rt.stream.Write(b); err != nil {
		rt.stream.End()
		rt.stream = nil
	}
}

// routeFrame forwards one piece of a streamed message to every peer as a
// frame.
func (c *client) routeFrame(piece []byte) {
	p := &c.pub
	if len(piece) == 0 {
		return
	}
	for i := range p.routes {
		rt := &p.routes[i]
		if rt.stream == nil {
			continue
		}
		c.line = codec.AppendFrame(c.line[:0], len(piece))
		c.routeWrite(rt, c.line)
		c.routeWrite(rt, piece)
	}
}

// endRouteStreams closes every peer's chunked message with the end frame,
// or the abort frame when the publisher went away, and returns the number
// of peers that got the whole message. The route stays open either way.
func (c *client) endRouteStreams(abort bool) int {
	p := &c.pub
	last := codec.FrameEnd
	if abort {
		last = codec.FrameAbort
	}
	n := 0
	for i := range p.routes {
		rt := &p.routes[i]
		if rt.stream == nil {
			continue
		}
		c.line = append(c.line[:0], last...)
		c.routeWrite(rt, c.line)
		if rt.stream == nil {
			continue
		}
		rt.stream.End()
		rt.stream = nil
		if !abort {
			c.countRoute(rt)
			n++
		}
	}
	return n
}

// deliverRoutes writes a gathered message (b holds it after p.off, CRLF
// included) to every peer, its control line written into the headroom, and
// returns the number of peers it was written to.
func (c *client) deliverRoutes(b []byte) int {
	p := &c.pub
	n := 0
	for i := range p.routes {
		rt := &p.routes[i]
		line := c.routeLine(rt, false)
		at := p.off - len(line)
		copy(b[at:], line)
		if rt.out.t.Write(b[at:]) == nil {
			c.countRoute(rt)
			n++
		}
	}
	return n
}

// countRoute adds one forwarded message to the peer's counters.
func (c *client) countRoute(rt *routeTarget) {
	rt.peer.outMsgs.Add(1)
	rt.peer.outBytes.Add(int64(c.pub.size))
}

// resetRoutes forgets the peers (keeping the queue slices' arrays).
func (c *client) resetRoutes() {
	p := &c.pub
	for i := range p.routes {
		rt := &p.routes[i]
		clear(rt.queues)
		rt.peer, rt.out, rt.stream, rt.queues = nil, nil, nil, rt.queues[:0]
	}
	p.routes = p.routes[:0]
}

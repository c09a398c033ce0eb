package broker

import (
	"slices"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/subject"
	"github.com/valyala/bytebufferpool"
)

// publish is the state of the PUB/HPUB a client is sending, from PubStart to
// PubEnd. It lives on the publisher's event loop only.
//
// Receivers are resolved once, at PubStart. A message of at most
// Options.StreamThreshold bytes is gathered into a pooled buffer laid out as
//
//	[headroom][headers][body][CRLF]
//
// and each receiver's MSG/HMSG line is written into the headroom right
// before the bytes it receives, so one Transport.Write per receiver sends
// line, payload and CRLF without copying the payload per receiver. A larger
// message opens a Stream on every receiver at PubStart and forwards each
// piece as it arrives.
type publish struct {
	active bool
	// drop: the message is being discarded (pedantic subject check).
	drop bool
	// streaming: receivers get the message through Streams.
	streaming bool
	// names holds subject then reply, copied from the control line.
	names          []byte
	subject, reply []byte
	hdrLen, size   int
	targets        []target
	// buf gathers a small message; off is where its payload starts.
	buf *bytebufferpool.ByteBuffer
	off int
	// capture takes the message into a stream; nil when none does.
	capture Capture
	// internal: some target is an internal subscription, which needs the
	// message whole.
	internal bool
	// routes are the cluster peers the message is forwarded to, one
	// routed message each (route_publish.go); reused across messages.
	routes []routeTarget
	// rqueues, for a message a route brought (route client only), names
	// the queue groups it is meant for; valid during PubStart only.
	rqueues [][]byte
	// as, for a server delivery a route brought (route_send.go), is the
	// subject its MSG lines carry instead of subject; nil otherwise.
	as []byte
}

// target is one receiver of the message being published.
type target struct {
	sub *Subscription
	// headers: the receiver gets HMSG; otherwise headers are stripped.
	headers bool
	// stream is the receiver's open Stream while streaming; nil once it
	// failed or ended.
	stream Stream
	// as, when not nil, is the subject the receiver's MSG line carries: a
	// stream import's mapped subject (imports_large.go).
	as []byte
}

// crlf ends every delivered payload.
const crlf = "\r\n"

// PubStart resolves the receivers of a PUB/HPUB and, for a large message,
// opens a Stream on each and writes its control line.
func (c *client) PubStart(subj, reply []byte, hdrLen, size int) error {
	p := &c.pub
	p.active, p.drop, p.streaming = true, false, false
	p.names = append(append(p.names[:0], subj...), reply...)
	p.subject = p.names[:len(subj):len(subj)]
	p.reply = nil
	if len(reply) > 0 {
		p.reply = p.names[len(subj):]
	}
	p.hdrLen, p.size = hdrLen, size
	if c.opts.Pedantic && !subject.ValidPublish(subj) {
		c.sendErr(codec.ErrInvalidPublishSubject.Msg)
		p.drop = true
		return nil
	}
	if c.awaitingAuth.Load() {
		if err := c.beforeConnect(); err != nil {
			return err
		}
	}
	if !c.pubAllowed(p.subject) {
		c.pubViolation(p.subject)
		p.drop = true
		return nil
	}
	c.resolveTargets()
	if cp := c.account().getCapturer(); cp != nil && (!c.route || c.captureAsked()) {
		p.capture = cp.Capture(p.subject, p.reply, hdrLen, size)
		if rd, ok := p.capture.(Redirect); ok {
			p.capture = nil
			if !c.route {
				c.redirect(rd.Via())
			}
		}
	}
	if len(p.targets) == 0 && len(p.routes) == 0 {
		return nil
	}
	th := c.srv.opts.StreamThreshold
	if (th < 0 || size > th) && !(p.internal && size <= MaxInternalMsg) {
		c.openStreams()
		return nil
	}
	c.startGather()
	return nil
}

// resolveTargets fills p.targets from the sublist: every plain subscription
// and one member of each queue group, leaving out this client's own
// subscriptions when it asked for echo false and closed clients. Peers
// with interest go to p.routes, once each; a queue group goes to a peer
// only when no local member is eligible. A route client (a message from a
// peer) resolves local client subscriptions only, and only the queue
// groups the message names.
func (c *client) resolveTargets() {
	p := &c.pub
	r := c.account().sl.MatchSubject(p.subject)
	for _, sub := range r.Psubs {
		if sub.peer != nil {
			if !c.route {
				c.addRoute(sub.peer, "")
			}
			continue
		}
		if c.eligible(sub) && admit(sub) {
			c.addTarget(sub)
		}
	}
	for _, group := range r.Qsubs {
		if c.route && !c.wantsQueue(group[0].Queue) {
			continue
		}
		if sub := c.pickMember(group); sub != nil {
			c.addTarget(sub)
		} else if !c.route {
			c.pickRemote(group)
		}
	}
}

func (c *client) addTarget(sub *Subscription) {
	p := &c.pub
	if sub.imp != nil && p.size > MaxInternalMsg && !c.route {
		c.addImported(sub.imp)
		return
	}
	if sub.handler != nil {
		p.internal = true
		p.targets = append(p.targets, target{sub: sub, headers: true})
		return
	}
	p.targets = append(p.targets, target{sub: sub, headers: sub.client.headers.Load()})
	if p.reply != nil {
		sub.client.noteReply(p.reply)
	}
}

func (c *client) eligible(sub *Subscription) bool { return c.eligibleFor(sub, c.pub.subject) }

// eligibleFor is eligible for a delivery under subj (the message's
// subject, or an import's mapping of it).
func (c *client) eligibleFor(sub *Subscription, subj []byte) bool {
	if sub.peer != nil {
		return false
	}
	if sub.handler != nil {
		return !c.route || sub.routed
	}
	return sub.client != nil && !sub.client.closed.Load() && (c.opts.Echo || sub.client != c) &&
		(!sub.permFilter.Load() || sub.client.deliverable(sub, subj))
}

// pickMember chooses one eligible member of a queue group uniformly at
// random (with the connection's generator) and admits it. Should that member
// be past its auto-unsubscribe limit, the next eligible members in order are
// tried.
func (c *client) pickMember(group []*Subscription) *Subscription {
	return c.pickMemberFor(group, c.pub.subject)
}

// pickMemberFor is pickMember for a delivery under subj.
func (c *client) pickMemberFor(group []*Subscription, subj []byte) *Subscription {
	n := 0
	for _, sub := range group {
		if c.eligibleFor(sub, subj) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	k := c.rng.IntN(n)
	start := 0
	for i, sub := range group {
		if c.eligibleFor(sub, subj) {
			if k == 0 {
				start = i
				break
			}
			k--
		}
	}
	for i := range group {
		sub := group[(start+i)%len(group)]
		if c.eligibleFor(sub, subj) && admit(sub) {
			return sub
		}
	}
	return nil
}

// admit counts a delivery to sub and reports whether it may receive it
// under its UNSUB max; the delivery that reaches max (or any past it)
// removes the subscription.
func admit(sub *Subscription) bool {
	n := sub.delivered.Add(1)
	max := sub.max.Load()
	if max <= 0 || sub.client == nil {
		return true
	}
	if n >= max {
		sub.client.unsubscribe(sub)
	}
	return n <= max
}

// lineFor encodes the MSG/HMSG line for t into c.line.
func (c *client) lineFor(t *target) []byte {
	p := &c.pub
	subject := p.subject
	if p.as != nil {
		subject = p.as
	}
	if t.as != nil {
		subject = t.as
	}
	if p.hdrLen < 0 {
		c.line = codec.AppendMsg(c.line[:0], subject, t.sub.sid, p.reply, p.size)
	} else if t.headers {
		c.line = codec.AppendHMsg(c.line[:0], subject, t.sub.sid, p.reply, p.hdrLen, p.size)
	} else {
		c.line = codec.AppendMsg(c.line[:0], subject, t.sub.sid, p.reply, p.size-p.hdrLen)
	}
	return c.line
}

// openStreams begins a Stream on every receiver and writes its line.
func (c *client) openStreams() {
	p := &c.pub
	p.streaming = true
	c.openRouteStreams()
	for i := range p.targets {
		t := &p.targets[i]
		if t.sub.handler != nil {
			continue // internal receivers take messages whole only
		}
		s, err := t.sub.client.t.BeginStream()
		if err != nil {
			continue
		}
		t.stream = s
		c.streamWrite(t, c.lineFor(t))
	}
}

// streamWrite forwards b to t's stream, abandoning the stream on error.
func (c *client) streamWrite(t *target, b []byte) {
	if t.stream == nil {
		return
	}
	if err := t.stream.Write(b); err != nil {
		t.stream.Abort()
		t.stream = nil
	}
}

// startGather takes a pooled buffer with room for the longest line.
func (c *client) startGather() {
	p := &c.pub
	maxSid := 0
	for _, t := range p.targets {
		if t.sub.handler != nil {
			continue
		}
		maxSid = max(maxSid, len(t.sub.sid))
	}
	// "HMSG " subject ' ' sid ' ' reply ' ' hdrLen ' ' total CRLF, with
	// room for two 20-digit numbers.
	p.off = max(len(p.subject), len(p.as)) + len(p.reply) + maxSid + 64
	if n := c.routeHeadroom(); n > p.off {
		p.off = n
	}
	p.buf = c.srv.bufs.Get()
	p.buf.B = slices.Grow(p.buf.B[:0], p.off+p.size+len(crlf))[:p.off]
}

// PubHeaders forwards or gathers the header block of an HPUB.
func (c *client) PubHeaders(hdr []byte) error {
	p := &c.pub
	if p.capture != nil {
		p.capture.Headers(hdr)
	}
	if p.streaming {
		c.routeFrame(hdr)
		for i := range p.targets {
			if t := &p.targets[i]; t.headers {
				c.streamWrite(t, hdr)
			}
		}
	} else if p.buf != nil {
		p.buf.B = append(p.buf.B, hdr...)
	}
	return nil
}

// PubPayload forwards or gathers the next piece of the body.
func (c *client) PubPayload(piece []byte) error {
	p := &c.pub
	if p.capture != nil {
		p.capture.Write(piece)
	}
	if p.streaming {
		c.routeFrame(piece)
		for i := range p.targets {
			c.streamWrite(&p.targets[i], piece)
		}
	} else if p.buf != nil {
		p.buf.B = append(p.buf.B, piece...)
	}
	return nil
}

// PubEnd completes the message: streams get their CRLF and End, a gathered
// message is written to each receiver; then the statistics, the no-responders
// notice and the verbose +OK.
func (c *client) PubEnd() error {
	p := &c.pub
	if !p.drop {
		c.stats.inMsgs.Add(1)
		c.stats.inBytes.Add(int64(p.size))
		c.srv.stats.inMsgs.Add(1)
		c.srv.stats.inBytes.Add(int64(p.size))
		// As nats-server does, +OK goes out before the message is
		// delivered (the publisher may be one of its receivers).
		if c.opts.Verbose {
			c.sendOK()
		}
		delivered := 0
		if p.capture != nil {
			p.capture.End()
			p.capture = nil
			delivered++
		}
		if p.streaming {
			delivered += c.endStreams()
		} else if p.buf != nil {
			delivered += c.deliverGathered()
		}
		if delivered == 0 && len(p.reply) > 0 && c.opts.NoResponders {
			c.sendNoResponders()
		}
	}
	c.resetPublish()
	return nil
}

func (c *client) endStreams() int {
	p := &c.pub
	n := c.endRouteStreams(false)
	for i := range p.targets {
		t := &p.targets[i]
		if t.sub.handler != nil {
			// Internal receivers take messages whole only: a streamed
			// one is over MaxInternalMsg.
			if t.sub.oversize {
				t.sub.handler(&InternalMsg{Subject: p.subject, Reply: p.reply, Oversize: int64(p.size)})
				n++
			}
			continue
		}
		c.streamWrite(t, c.srv.lines.crlf)
		if t.stream == nil {
			continue
		}
		t.stream.End()
		t.stream = nil
		c.countOut(t)
		n++
	}
	return n
}

// deliverGathered writes the gathered message to every receiver: first
// those that get it whole, then those that get it without headers (their
// line overwrites the header bytes, which nobody needs any more).
func (c *client) deliverGathered() int {
	p := &c.pub
	b := append(p.buf.B, crlf...)
	p.buf.B = b
	n := c.deliverRoutes(b)
	for pass := 0; pass < 2; pass++ {
		strip := pass == 1
		if strip && p.hdrLen < 0 {
			break
		}
		start := p.off
		if strip {
			start += p.hdrLen
		}
		for i := range p.targets {
			t := &p.targets[i]
			if (p.hdrLen >= 0 && !t.headers) != strip {
				continue
			}
			if t.sub.handler != nil {
				if !strip {
					c.deliverInternal(t, b[p.off:len(b)-len(crlf)])
					n++
				}
				continue
			}
			line := c.lineFor(t)
			at := start - len(line)
			copy(b[at:], line)
			if c.writeTo(t.sub.client, b[at:]) == nil {
				c.countOut(t)
				n++
			}
		}
	}
	return n
}

// countOut adds one delivery to t's connection and to the server.
func (c *client) countOut(t *target) {
	bytes := int64(c.pub.size)
	if c.pub.hdrLen >= 0 && !t.headers {
		bytes -= int64(c.pub.hdrLen)
	}
	rc := t.sub.client
	rc.stats.outMsgs.Add(1)
	rc.stats.outBytes.Add(bytes)
	c.srv.stats.outMsgs.Add(1)
	c.srv.stats.outBytes.Add(bytes)
}

// sendNoResponders tells a requester that nobody received its request: an
// HMSG with status 503 on the first of its own subscriptions matching the
// reply subject, as nats-server sends it.
func (c *client) sendNoResponders() {
	p := &c.pub
	r := c.account().sl.Match(p.reply)
	for _, sub := range r.Psubs {
		if sub.client != c {
			continue
		}
		hdr := codec.AppendHeaderStart(nil, 503, "")
		hdr = codec.AppendHeader(hdr, "Nats-Subject", string(p.subject))
		hdr = codec.AppendHeaderEnd(hdr)
		msg := codec.AppendHMsg(nil, p.reply, sub.sid, nil, len(hdr), len(hdr))
		msg = append(append(msg, hdr...), crlf...)
		c.write(msg)
		return
	}
}

// abortPublish abandons a message cut off by the connection closing: open
// streams are aborted and a gathered message is dropped unsent.
func (c *client) abortPublish() {
	p := &c.pub
	if !p.active {
		return
	}
	if p.capture != nil {
		p.capture.Abort()
		p.capture = nil
	}
	c.endRouteStreams(true)
	for i := range p.targets {
		if t := &p.targets[i]; t.stream != nil {
			t.stream.Abort()
			t.stream = nil
		}
	}
	c.resetPublish()
}

// resetPublish returns the pooled buffer and forgets the receivers (so the
// reused slice does not pin subscriptions).
func (c *client) resetPublish() {
	p := &c.pub
	if p.buf != nil {
		c.srv.bufs.Put(p.buf)
		p.buf = nil
	}
	clear(p.targets)
	p.targets = p.targets[:0]
	c.resetRoutes()
	p.active, p.drop, p.streaming, p.internal = false, false, false, false
	p.capture = nil
}

// deliverInternal hands a gathered message (headers then body) to an
// internal subscription.
func (c *client) deliverInternal(t *target, payload []byte) {
	p := &c.pub
	m := InternalMsg{Subject: p.subject, Reply: p.reply, Data: payload, Perms: c.readPerms()}
	if !c.route {
		m.from = c
	}
	if p.hdrLen >= 0 {
		m.Hdr, m.Data = payload[:p.hdrLen], payload[p.hdrLen:]
	}
	t.sub.handler(&m)
}

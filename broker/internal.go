package broker

import (
	"errors"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/subject"
	"github.com/valyala/bytebufferpool"
)

// The hooks in this file let server-side components (JetStream) take part in
// routing without being clients: internal subscriptions receive whole small
// messages through a callback, a Capturer takes every published message into
// streams piece by piece, and Deliver sends server-originated messages to
// subscribers.

// InternalMsg is a message handed to an internal subscription. Its slices
// alias the publisher's buffer: they are valid only during the callback.
type InternalMsg struct {
	Subject []byte
	Reply   []byte
	Hdr     []byte // the NATS/1.0 header block, nil when the message has none
	Data    []byte // the body
	// Oversize is the size (header and body) of a message over
	// MaxInternalMsg, which only a SubscribeInternalOversize handler is
	// told of: Hdr and Data are then nil. It is 0 otherwise.
	Oversize int64
	// Perms are the publishing client's permissions, for handlers that
	// serve reads (JetStream checks them, see auth.Perms.MayRead); nil
	// when it has none, or the message comes from the server itself or a
	// route.
	Perms *auth.Perms
	// hops counts the imports the message crossed (imports.go).
	hops uint8
	// from is the client that published it; nil when the server or a
	// route did.
	from *client
}

// Sender is who published m: the user and account its client logged in
// as; ok is false for a message from the server, a route or an import.
func (m *InternalMsg) Sender() (user, account string, ok bool) {
	c := m.from
	if c == nil {
		return "", "", false
	}
	c.mu.Lock()
	user = c.mu.user
	c.mu.Unlock()
	return user, c.account().Name(), true
}

// InternalHandler receives messages for an internal subscription. It runs on
// the publisher's event loop (or the goroutine calling Deliver), so it must
// not block: copy what it needs and hand long work to another goroutine.
type InternalHandler func(m *InternalMsg)

// MaxInternalMsg is the largest message an internal subscription receives
// (a message is gathered whole in memory for it); larger ones are not
// delivered to it, except as an Oversize notice to a subscription made with
// SubscribeInternalOversize. 8 MiB takes a JetStream API request with a few
// hundred thousand stream subjects.
const MaxInternalMsg = 8 << 20

// ErrNilHandler is returned by SubscribeInternal without a handler.
var ErrNilHandler = errors.New("broker: nil internal handler")

// SubscribeInternal subscribes h to subject (wildcards allowed) in queue
// group queue ("" for none). Internal subscriptions see every publisher's
// messages, echo settings notwithstanding.
func (s *Server) SubscribeInternal(subj, queue string, h InternalHandler) (*Subscription, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	return s.subscribeInternalIn(s.global, subj, queue, false, h)
}

// SubscribeInternalIn is SubscribeInternal in account acc, or
// SubscribeInternalRouted (queue "") when routed.
func (s *Server) SubscribeInternalIn(acc *Account, subj, queue string, routed bool, h InternalHandler) (*Subscription, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	return s.subscribeInternalIn(acc, subj, queue, routed, h)
}

func (s *Server) subscribeInternalIn(acc *Account, subj, queue string, routed bool, h InternalHandler) (*Subscription, error) {
	return s.subscribeInternalSub(acc, &Subscription{Subject: subj, Queue: queue, handler: h, routed: routed})
}

// subscribeInternalSub inserts sub, an internal subscription, in acc.
func (s *Server) subscribeInternalSub(acc *Account, sub *Subscription) (*Subscription, error) {
	subj, queue, routed := sub.Subject, sub.Queue, sub.routed
	sub.acc = acc
	if !subject.ValidSubscribe([]byte(subj)) || (queue != "" && !subject.ValidQueueName([]byte(queue))) {
		return nil, ErrInvalidSubject
	}
	if err := acc.sl.Insert(sub); err != nil {
		return nil, err
	}
	if cl := s.cluster; cl != nil && routed {
		cl.localSub(sub)
	}
	return sub, nil
}

// SubscribeInternalOversize is SubscribeInternal (no queue group) for a
// handler that answers requests: a published message over MaxInternalMsg,
// which it cannot receive, is announced to it after the message ends, as
// an InternalMsg with Subject, Reply and Oversize set, so that it can tell
// the requester why instead of leaving it to time out.
func (s *Server) SubscribeInternalOversize(subj string, h InternalHandler) (*Subscription, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	if !subject.ValidSubscribe([]byte(subj)) {
		return nil, ErrInvalidSubject
	}
	sub := &Subscription{Subject: subj, handler: h, oversize: true, acc: s.global}
	if err := s.sl.Insert(sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// SubscribeInternalRouted is SubscribeInternal for a subscription that
// takes part in the cluster: its interest is advertised to the peers (as a
// client's is) and the messages they route to it are delivered to it, so a
// member can reach a component of another member (JetStream forwards API
// requests and acks to a stream's leader this way). Without a cluster it
// is SubscribeInternal.
func (s *Server) SubscribeInternalRouted(subj string, h InternalHandler) (*Subscription, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	return s.subscribeInternalIn(s.global, subj, "", true, h)
}

// UnsubscribeInternal removes a subscription made by SubscribeInternal or
// SubscribeInternalRouted.
func (s *Server) UnsubscribeInternal(sub *Subscription) error {
	err := sub.acc.sl.Remove(sub)
	if cl := s.cluster; cl != nil && err == nil && sub.routed {
		cl.localUnsub(sub)
	}
	return err
}

// Capturer takes published messages into streams. Capture is called at the
// control line of every PUB/HPUB, on the publisher's event loop; it returns
// nil when no stream takes subject. It must be fast and must not block.
type Capturer interface {
	Capture(subject, reply []byte, hdrLen, size int) Capture
}

// Capture receives one message for a stream, in wire order: Headers (HPUB
// only, the whole block), Write for each body piece, then End, or Abort if
// the publisher disconnected mid-payload. All calls happen on the publisher's
// event loop; slices are valid only during the call. Capture methods must
// not block on I/O that can take long (fsync): End starts the commit and
// acknowledges asynchronously.
type Capture interface {
	Headers(hdr []byte)
	Write(piece []byte)
	End()
	Abort()
}

// Redirect is what a Capturer returns (as the Capture) for a message that a
// stream on another cluster member stores: the message is not captured
// here but routed whole, in the publisher's order, to the first peer with
// interest in one of Via's subjects (tried in order), marked so that the
// peer's Capturer takes it; that peer answers the reply subject. Its Capture
// methods are never called. Without such a peer the message is not stored
// (a requester gets the no-responders status when nothing else took it).
type Redirect interface {
	Capture
	Via() [][]byte
}

// captureToken, in a routed message's queue list, asks the receiving server
// to give the message to its Capturer (a Redirect on the sender). A
// message captured that way is never redirected again.
const captureToken = "$BARGE.CAP"

// SetCapturer installs the global account's stream capturer (see
// Account.SetCapturer).
func (s *Server) SetCapturer(c Capturer) { s.global.SetCapturer(c) }

// Delivery is a server-originated message (JetStream deliveries, API
// replies, acknowledgements) for Server.Send.
type Delivery struct {
	// To is the subject the message is routed by: its subscribers receive
	// it, one member per queue group.
	To []byte
	// Subject is the subject on the MSG line; To when nil. JetStream
	// delivers a stored message to a consumer's deliver subject or pull
	// inbox under the subject it was published on.
	Subject []byte
	Reply   []byte
	// Hdr is a NATS/1.0 header block or nil; Body follows it.
	Hdr, Body []byte
	// Ext are stored bytes that follow Body, read when each receiver's
	// connection is ready for them (a large stored message costs no
	// memory); Size is then len(Hdr)+len(Body)+the extents' total.
	Ext  []Extent
	Size int64
	// Once says To is used for this message only (a PubAck's reply
	// inbox): its subscription match is not cached (Sublist.MatchOnce).
	Once bool
	// Account is the subject space the message is sent in; nil is the
	// global account.
	Account *Account
	// hops counts the imports the message crossed (imports.go).
	hops uint8
}

// Send delivers d to every subscriber of d.To and to one member of each
// queue group, as if published by a client without echo concerns, and
// returns the number of receivers, so a caller can tell that nobody was
// listening. Internal subscriptions receive it only when it has no extents
// and fits MaxInternalMsg. In a cluster, each peer with interest in d.To
// gets it once over its route (route_send.go) and counts as one receiver;
// a queue group goes to a peer only when no local member took it. Safe for
// concurrent use.
func (s *Server) Send(d *Delivery) int { return s.SendIn(nil, d) }

// OutBatch collects the connections that SendIn deferred writes to, so a
// burst of small server messages (the PubAcks of one group commit) leaves
// in one system call per connection. The zero value is ready; it is not
// safe for concurrent use: one goroutine owns it and calls Flush.
type OutBatch struct{ dirty []Deferrer }

// Flush sends everything deferred through b and empties it.
func (b *OutBatch) Flush() {
	for _, d := range b.dirty {
		d.Flush()
	}
	clear(b.dirty)
	b.dirty = b.dirty[:0]
}

// add remembers d for the next Flush (flushing early past maxDirty).
func (b *OutBatch) add(d Deferrer) {
	for _, x := range b.dirty {
		if x == d {
			return
		}
	}
	if len(b.dirty) == maxDirty {
		b.Flush()
	}
	b.dirty = append(b.dirty, d)
}

// SendIn is Send, except that a small message to a connection that can
// defer writes is only queued and the connection remembered in ob, which
// the caller must Flush; ob nil is Send.
func (s *Server) SendIn(ob *OutBatch, d *Delivery) int {
	if d.Account == nil {
		d.Account = s.global
	}
	var r *SublistResult
	if d.Once {
		r = d.Account.sl.MatchOnce(d.To)
	} else {
		r = d.Account.sl.Match(d.To)
	}
	if r.Empty() {
		return 0
	}
	if d.Subject == nil {
		d.Subject = d.To
	}
	if len(d.Ext) == 0 {
		d.Size = int64(len(d.Hdr) + len(d.Body))
	}
	buf := s.bufs.Get()
	defer s.bufs.Put(buf)
	var rs routeSends
	n := 0
	for _, sub := range r.Psubs {
		if sub.peer != nil {
			rs.add(sub.peer, "")
			continue
		}
		if s.sendTo(ob, sub, buf, d) {
			n++
		}
	}
	for _, group := range r.Qsubs {
		if len(group) == 0 {
			continue
		}
		start := s.randN(len(group))
		taken := false
		for i := range group {
			if s.sendTo(ob, group[(start+i)%len(group)], buf, d) {
				n++
				taken = true
				break
			}
		}
		if !taken {
			rs.addQueue(group)
		}
	}
	if len(rs.to) > 0 && s.cluster != nil {
		n += s.sendRoutes(&rs, buf, d)
	}
	return n
}

// Deliver is Send for a message held in memory, routed and delivered under
// subject.
func (s *Server) Deliver(subject, reply, hdr, body []byte) int {
	return s.Send(&Delivery{To: subject, Reply: reply, Hdr: hdr, Body: body})
}

// DeliverIn is Deliver through SendIn: the caller must Flush ob.
func (s *Server) DeliverIn(ob *OutBatch, subject, reply, hdr, body []byte) int {
	return s.SendIn(ob, &Delivery{To: subject, Reply: reply, Hdr: hdr, Body: body})
}

// DeliverExtents is Send for a stored message routed and delivered under
// subject; size is len(hdr)+len(body)+the extents' total.
func (s *Server) DeliverExtents(subject, reply, hdr, body []byte, ext []Extent, size int64) int {
	return s.Send(&Delivery{To: subject, Reply: reply, Hdr: hdr, Body: body, Ext: ext, Size: size})
}

// sendTo writes one server-originated message to sub, reporting whether it
// was taken.
func (s *Server) sendTo(ob *OutBatch, sub *Subscription, buf *bytebufferpool.ByteBuffer, d *Delivery) bool {
	if sub.handler != nil {
		if len(d.Ext) > 0 || d.Size > MaxInternalMsg {
			return false
		}
		sub.handler(&InternalMsg{Subject: d.Subject, Reply: d.Reply, Hdr: d.Hdr, Data: d.Body, hops: d.hops})
		return true
	}
	c := sub.client
	if c == nil || c.closed.Load() {
		return false
	}
	if sub.permFilter.Load() && !c.deliverable(sub, d.Subject) {
		return false // a subject the owner's deny entries cover
	}
	if !admit(sub) {
		return false
	}
	if len(d.Reply) > 0 {
		c.noteReply(d.Reply) // allow_responses: an ack or reply it may answer
	}
	size := d.Size
	b := buf.B[:0]
	if d.Hdr != nil && c.headers.Load() {
		b = codec.AppendHMsg(b, d.Subject, sub.sid, d.Reply, len(d.Hdr), int(size))
		b = append(b, d.Hdr...)
	} else {
		size -= int64(len(d.Hdr))
		b = codec.AppendMsg(b, d.Subject, sub.sid, d.Reply, int(size))
	}
	b = append(b, d.Body...)
	var err error
	if len(d.Ext) == 0 {
		b = append(b, crlf...)
		if ob != nil && c.dt != nil {
			ob.add(c.dt)
			err = c.dt.WriteDeferred(b)
		} else {
			err = c.t.Write(b)
		}
	} else {
		err = c.t.WriteExtents(b, d.Ext, s.lines.crlf)
	}
	buf.B = b
	if err != nil {
		return false
	}
	c.stats.outMsgs.Add(1)
	c.stats.outBytes.Add(size)
	s.stats.outMsgs.Add(1)
	s.stats.outBytes.Add(size)
	return true
}

// randN draws from the server's generator, which is not safe for concurrent
// use by itself.
func (s *Server) randN(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.mu.rand.Uint64() % uint64(n))
}

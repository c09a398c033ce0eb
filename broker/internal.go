package broker

import (
	"errors"
	"slices"

	"github.com/bargemq/barge/codec"
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
}

// InternalHandler receives messages for an internal subscription. It runs on
// the publisher's event loop (or the goroutine calling Deliver), so it must
// not block: copy what it needs and hand long work to another goroutine.
type InternalHandler func(m *InternalMsg)

// MaxInternalMsg is the largest message an internal subscription receives;
// larger ones are not delivered to it.
const MaxInternalMsg = 1 << 20

// ErrNilHandler is returned by SubscribeInternal without a handler.
var ErrNilHandler = errors.New("broker: nil internal handler")

// SubscribeInternal subscribes h to subject (wildcards allowed) in queue
// group queue ("" for none). Internal subscriptions see every publisher's
// messages, echo settings notwithstanding.
func (s *Server) SubscribeInternal(subject, queue string, h InternalHandler) (*Subscription, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	if !codec.ValidSubscribeSubject([]byte(subject)) || (queue != "" && !codec.ValidQueueName([]byte(queue))) {
		return nil, ErrInvalidSubject
	}
	sub := &Subscription{Subject: subject, Queue: queue, handler: h}
	if err := s.sl.Insert(sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// UnsubscribeInternal removes a subscription made by SubscribeInternal.
func (s *Server) UnsubscribeInternal(sub *Subscription) error {
	return s.sl.Remove(sub)
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

// SetCapturer installs the stream capturer. Call it before accepting
// clients; it is not synchronized with publishers.
func (s *Server) SetCapturer(c Capturer) { s.capturer = c }

// Deliver sends a server-originated message (JetStream deliveries, API
// replies, acknowledgements) to every subscriber of subject and to one member
// of each queue group, as if published by a client without echo concerns.
// The payload is hdr (a NATS/1.0 block, or nil) followed by body. It returns
// the number of receivers, so a caller can tell that nobody was listening.
// Safe for concurrent use.
func (s *Server) Deliver(subject, reply, hdr, body []byte) int {
	r := s.sl.Match(subject)
	if r.Empty() {
		return 0
	}
	buf := s.bufs.Get()
	defer s.bufs.Put(buf)
	n := 0
	for _, sub := range r.Psubs {
		if s.deliverTo(sub, buf, subject, reply, hdr, body) {
			n++
		}
	}
	for _, group := range r.Qsubs {
		if len(group) == 0 {
			continue
		}
		start := s.randN(len(group))
		for i := range group {
			if s.deliverTo(group[(start+i)%len(group)], buf, subject, reply, hdr, body) {
				n++
				break
			}
		}
	}
	return n
}

// deliverTo writes one server-originated message to sub, reporting whether
// it was taken.
func (s *Server) deliverTo(sub *Subscription, buf *bytebufferpool.ByteBuffer, subject, reply, hdr, body []byte) bool {
	if sub.handler != nil {
		if len(hdr)+len(body) > MaxInternalMsg {
			return false
		}
		sub.handler(&InternalMsg{Subject: subject, Reply: reply, Hdr: hdr, Data: body})
		return true
	}
	c := sub.client
	if c == nil || c.closed.Load() || !admit(sub) {
		return false
	}
	size := len(hdr) + len(body)
	b := buf.B[:0]
	if hdr != nil && c.headers.Load() {
		b = codec.AppendHMsg(b, subject, sub.sid, reply, len(hdr), size)
		b = append(b, hdr...)
	} else {
		size = len(body)
		b = codec.AppendMsg(b, subject, sub.sid, reply, size)
	}
	b = slices.Grow(b, len(body)+len(crlf))
	b = append(append(b, body...), crlf...)
	buf.B = b
	if c.t.Write(b) != nil {
		return false
	}
	c.stats.outMsgs.Add(1)
	c.stats.outBytes.Add(int64(size))
	s.stats.outMsgs.Add(1)
	s.stats.outBytes.Add(int64(size))
	return true
}

// DeliverExtents is Deliver for a payload held in storage: hdr, then body,
// then the bytes of ext (read when the receiver's connection is ready for
// them, so a large stored message costs no memory). Internal subscriptions
// receive it only when it has no extents. size is len(hdr)+len(body)+the
// extents' total, passed by the caller who already knows it. It returns the
// number of receivers.
func (s *Server) DeliverExtents(subject, reply, hdr, body []byte, ext []Extent, size int64) int {
	if len(ext) == 0 {
		return s.Deliver(subject, reply, hdr, body)
	}
	r := s.sl.Match(subject)
	if r.Empty() {
		return 0
	}
	buf := s.bufs.Get()
	defer s.bufs.Put(buf)
	n := 0
	for _, sub := range r.Psubs {
		if s.deliverExtentsTo(sub, buf, subject, reply, hdr, body, ext, size) {
			n++
		}
	}
	for _, group := range r.Qsubs {
		if len(group) == 0 {
			continue
		}
		start := s.randN(len(group))
		for i := range group {
			if s.deliverExtentsTo(group[(start+i)%len(group)], buf, subject, reply, hdr, body, ext, size) {
				n++
				break
			}
		}
	}
	return n
}

func (s *Server) deliverExtentsTo(sub *Subscription, buf *bytebufferpool.ByteBuffer, subject, reply, hdr, body []byte, ext []Extent, size int64) bool {
	c := sub.client
	if sub.handler != nil || c == nil || c.closed.Load() || !admit(sub) {
		return false
	}
	b := buf.B[:0]
	if hdr != nil && c.headers.Load() {
		b = codec.AppendHMsg(b, subject, sub.sid, reply, len(hdr), int(size))
		b = append(b, hdr...)
	} else {
		size -= int64(len(hdr))
		b = codec.AppendMsg(b, subject, sub.sid, reply, int(size))
	}
	b = append(b, body...)
	buf.B = b
	if c.t.WriteExtents(b, ext, s.lines.crlf) != nil {
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

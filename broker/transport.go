package broker

import (
	"crypto/tls"
	"io"
)

// Transport is a client connection as the broker sees it. netpoll implements
// it over gnet; broker never imports netpoll.
//
// All methods are safe to call from any goroutine. Bytes handed to Write or to
// a Stream are copied before the call returns. Everything written to one
// Transport reaches the socket in the order of the calls, and the bytes of a
// Stream reach it contiguously: writes made while a Stream is open are queued
// behind it until it ends.
type Transport interface {
	// Write queues b for sending. It returns an error once the transport is closed
	// (including after it was cut as a slow consumer); the error wraps
	// codec.ErrSlowConsumer in that case.
	Write(b []byte) error
	// WriteExtents queues one message made of head, then the bytes of each
	// extent read at send time, then tail, as a single unit: nothing else
	// written to the transport lands inside it. head and tail are copied;
	// each extent's reader must stay readable until the bytes are sent or
	// the transport is closed (a read error closes the transport). Extent
	// bytes already sit on disk, so they count in Pending but not against
	// the memory watermark.
	WriteExtents(head []byte, ext []Extent, tail []byte) error
	// BeginStream opens an ordered slot for a message whose bytes arrive in
	// pieces. The caller must End or Abort it.
	BeginStream() (Stream, error)
	// Close flushes what is queued (bounded by a short deadline) and closes
	// the connection. reason is logged; it may be nil.
	Close(reason error)
	// Pending is the number of bytes queued and not yet written to the
	// socket, in memory and staged on disk together.
	Pending() int64
	// RemoteAddr is the peer address as host:port.
	RemoteAddr() string
}

// Deferrer is an optional extension of a Transport for coalescing small
// writes. WriteDeferred queues a copy of b exactly like Write (same order,
// same errors) but does not send it: the bytes wait until Flush, which hands
// everything queued to the socket at once (one writev instead of one write
// per message). A caller that uses WriteDeferred must call Flush when its
// batch is done. Both are safe from any goroutine.
type Deferrer interface {
	WriteDeferred(b []byte) error
	Flush()
}

// Stream is an open slot in a Transport's outbound queue.
type Stream interface {
	// Write appends a piece of the message.
	Write(piece []byte) error
	// End marks the message complete; queued writes behind it may proceed.
	End()
	// Abort abandons the message. If any of its bytes already reached the
	// socket the peer has a partial message, so the transport is closed;
	// otherwise the slot is dropped and nothing of it is sent.
	Abort()
}

// Extent is a run of stored bytes: Len bytes at Off in R. When R is an
// *os.File the transport may send it without copying it through user space.
type Extent struct {
	R   io.ReaderAt
	Off int64
	Len int64
}

// TLSStater is an optional extension of a Transport that came in over TLS:
// it reports the negotiated connection (false until the handshake is done)
// and whether the handshake came before INFO. /connz shows them and
// verify_and_map reads the peer certificate; nothing else in the broker
// depends on the transport.
type TLSStater interface {
	TLSConnectionState() (tls.ConnectionState, bool)
	TLSHandshakeFirst() bool
}

package broker

// Session is the broker's side of one client connection. netpoll creates one
// per accepted connection through Server.Accept and calls it from that
// connection's event loop only (never concurrently).
type Session interface {
	// Data feeds bytes read from the socket. The slice is valid only during
	// the call. A non-nil error means the connection must be closed: the
	// session has already written any -ERR line the client should see.
	Data(b []byte) error
	// Closed is called once when the connection is gone, for any reason.
	Closed(err error)
}

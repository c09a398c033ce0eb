package netpoll

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TLSOptions makes a Server a TLS listener: every connection is served by
// Go's crypto/tls over the standard library's net, one reading goroutine per
// connection plus a writer goroutine that drains the same outbound queue the
// gnet transport uses (watermark, staging, slow-consumer cut, stream slots
// and file extents all behave the same). The broker sees the same
// broker.Transport either way.
type TLSOptions struct {
	// Config is the server config (certificates, client auth); a config
	// whose GetConfigForClient reads a reloadable generation makes reloads
	// reach new connections.
	Config *tls.Config
	// HandshakeFirst starts TLS before the session's first bytes (INFO);
	// otherwise the session's first writes go out in the clear and the
	// client upgrades after reading them (the NATS upgrade sequence).
	HandshakeFirst bool
	// Fallback, with HandshakeFirst, is how long to wait for the client's
	// first byte: a client that sends nothing by then is served the
	// upgrade sequence instead. 0 waits for the handshake only.
	Fallback time.Duration
	// Timeout bounds the handshake. Default 2s.
	Timeout time.Duration
	// SocketBuffer is the kernel send and receive buffer size asked for
	// each connection. Default 4 MiB.
	SocketBuffer int
}

const (
	defaultTLSTimeout = 2 * time.Second
	defaultTLSSockBuf = 4 << 20
	// tlsReadBuffer is both the socket-side buffer crypto/tls reads
	// records from (one read(2) takes several records) and the buffer
	// handed to Session.Data (several records' plaintext per call).
	tlsReadBuffer       = 64 << 10
	tlsMaxRecordPayload = 16 << 10 // a full TLS record's plaintext
	tlsCloseNotifyWait  = time.Second
	// tlsShutdownWait bounds how long Shutdown waits, after cutting them,
	// for TLS connections' goroutines to finish.
	tlsShutdownWait = time.Second
)

// errPeerWrite marks a failed write to a TLS peer (a gone peer: logged at
// debug level, as gnet's own write errors are not logged at all).
var errPeerWrite = errors.New("netpoll: tls write")

// tlsConn is the TLS side of a conn.
type tlsConn struct {
	raw *net.TCPConn
	// rb buffers what crypto/tls reads from raw; only the reading
	// goroutine (the handshake, then tlsRead) touches it.
	rb   *bufio.Reader
	wake chan struct{} // a pending schedule (capacity 1)
	done chan struct{} // closed when the connection is finished
	// w is where the drain writes: the raw socket before the handshake
	// (the plaintext INFO of the upgrade sequence), then a buffer of one
	// full record over the TLS connection. Only the drainer touches it:
	// the serving goroutine before the writer starts, the writer after.
	w  io.Writer
	bw *bufio.Writer
	tc *tls.Conn
	// state is the negotiated connection, set once after the handshake;
	// first, set just before it, whether the handshake came before the
	// session's first bytes (handshake_first).
	state atomic.Pointer[tls.ConnectionState]
	first atomic.Bool
	// closeOnce guards closing raw.
	closeOnce sync.Once
}

// TLSHandshakeErrors counts connections refused because their TLS handshake
// failed (a plaintext client, an unknown CA, an expired or missing client
// certificate, a timeout).
func (s *Server) TLSHandshakeErrors() uint64 { return s.tlsFailures.Load() }

// TLSConnectionState reports the negotiated TLS state of a TLS connection
// (false before its handshake completes, and for plaintext connections).
func (c *conn) TLSConnectionState() (tls.ConnectionState, bool) {
	if c.tc == nil {
		return tls.ConnectionState{}, false
	}
	st := c.tc.state.Load()
	if st == nil {
		return tls.ConnectionState{}, false
	}
	return *st, true
}

// TLSHandshakeFirst reports whether a TLS connection's handshake came
// before INFO (handshake_first, or its auto mode's client that started
// with TLS).
func (c *conn) TLSHandshakeFirst() bool { return c.tc != nil && c.tc.first.Load() }

// schedule wakes the writer; when the connection must close now it closes
// the socket, which also unblocks a write stuck on a peer that reads
// nothing.
func (tc *tlsConn) schedule(c *conn) {
	c.mu.Lock()
	now := c.mu.closeNow
	c.mu.Unlock()
	if now {
		tc.closeRaw()
	}
	select {
	case tc.wake <- struct{}{}:
	default:
	}
}

func (tc *tlsConn) closeRaw() { tc.closeOnce.Do(func() { _ = tc.raw.Close() }) }

// writeAll writes iov through w and flushes: small pieces coalesce into full
// records, pieces of a record or more go to crypto/tls as they are.
func (tc *tlsConn) writeAll(iov [][]byte) error {
	for _, b := range iov {
		if _, err := tc.w.Write(b); err != nil {
			return fmt.Errorf("%w: %w", errPeerWrite, err)
		}
	}
	if tc.bw != nil {
		if err := tc.bw.Flush(); err != nil {
			return fmt.Errorf("%w: %w", errPeerWrite, err)
		}
	}
	return nil
}

// bufConn is the net.Conn crypto/tls runs over: reads go through a buffer
// (so one read(2) takes in several records, and tlsRead can tell records
// are already here), writes straight to the socket.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// aLongTimeAgo is a read deadline already past: a read with it returns what
// is buffered and never waits for the socket.
func aLongTimeAgo() time.Time { return time.Unix(1, 0) }

// isProbe reports a handshake that failed because the peer never spoke
// TLS: a first record that is not a handshake, or a timeout.
func isProbe(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) && rh.Conn != nil
}

// serveTLS runs one TLS connection from accept to close: it handshakes
// (before or after the session's INFO), then reads and feeds the session
// until the connection ends.
func (s *Server) serveTLS(raw *net.TCPConn) {
	o := s.opts.TLS
	buf := o.SocketBuffer
	if buf <= 0 {
		buf = defaultTLSSockBuf
	}
	_ = raw.SetReadBuffer(buf)
	_ = raw.SetWriteBuffer(buf)
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTLSTimeout
	}
	c := &conn{s: s, remote: raw.RemoteAddr().String(), fd: -1}
	tc := &tlsConn{raw: raw, wake: make(chan struct{}, 1), done: make(chan struct{}), w: raw}
	c.tc = tc
	if !s.trackHandshake(raw, true) {
		_ = raw.Close()
		return
	}
	defer s.trackHandshake(raw, false)

	first := o.HandshakeFirst
	tc.rb = bufio.NewReaderSize(raw, tlsReadBuffer)
	under := &bufConn{Conn: raw, r: tc.rb}
	if first && o.Fallback > 0 {
		// Wait briefly for a client that starts with TLS; one that waits
		// for INFO instead gets the upgrade sequence. Peek leaves the
		// byte for the handshake.
		_ = raw.SetReadDeadline(time.Now().Add(o.Fallback))
		_, err := tc.rb.Peek(1)
		_ = raw.SetReadDeadline(time.Time{})
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			first = false
		default:
			_ = raw.Close()
			return
		}
	}
	if !first {
		// The session's INFO goes out in the clear, drained here before
		// the writer exists.
		if !s.openTLS(c) {
			return
		}
		if c.drain() {
			tc.closeRaw()
			c.finish(nil)
			return
		}
	}
	tlc := tls.Server(under, o.Config)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := tlc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.tlsFailures.Add(1)
		// As nats-server: a peer that never started TLS (a plaintext
		// client, a load balancer's probe, a timeout) is logged at debug
		// level, any other failure as an error.
		logf := s.log.Error
		if isProbe(err) {
			logf = s.log.Debug
		}
		logf("netpoll: TLS handshake error", "remote", c.remote, "err", err)
		tc.closeRaw()
		if !first {
			c.finish(fmt.Errorf("%w: TLS handshake: %w", ErrClosed, err))
		}
		return
	}
	st := tlc.ConnectionState()
	tc.first.Store(first)
	tc.state.Store(&st)
	tc.tc = tlc
	tc.bw = bufio.NewWriterSize(tlc, tlsMaxRecordPayload)
	tc.w = tc.bw
	if first && !s.openTLS(c) {
		return
	}
	s.trackHandshake(raw, false)
	go c.tlsWriter()
	c.tlsRead()
}

// openTLS registers c and opens its session, as OnOpen does; false when
// the Server is closing or the session refused the connection (c is then
// finished).
func (s *Server) openTLS(c *conn) bool {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		c.tc.closeRaw()
		return false
	}
	s.mu.conns[c] = struct{}{}
	s.mu.Unlock()
	c.session = s.accept(c)
	if c.session == nil {
		c.tc.closeRaw()
		c.finish(nil)
		return false
	}
	return true
}

// trackHandshake adds (or removes) a socket still handshaking, which
// Shutdown closes; adding fails once Shutdown began.
func (s *Server) trackHandshake(raw *net.TCPConn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.mu.handshaking, raw)
		return true
	}
	if s.mu.closed {
		return false
	}
	s.mu.handshaking[raw] = struct{}{}
	return true
}

// tlsRead feeds the session until the connection fails or is closed, then
// finishes it. crypto/tls returns one record (16 KiB at most) per Read;
// records already buffered are gathered into the same Session.Data call,
// so a large payload arrives in pieces of up to tlsReadBuffer, as over
// plain TCP.
func (c *conn) tlsRead() {
	tc := c.tc
	buf := make([]byte, tlsReadBuffer)
	var err error
	for {
		var n int
		n, err = tc.tc.Read(buf)
		for err == nil && n > 0 && len(buf)-n >= tlsMaxRecordPayload && tc.rb.Buffered() > 0 {
			// Only what is buffered: with the deadline past, a record
			// not wholly here ends the gathering with a timeout, which
			// crypto/tls does not hold against the connection.
			_ = tc.raw.SetReadDeadline(aLongTimeAgo())
			m, e := tc.tc.Read(buf[n:])
			_ = tc.raw.SetReadDeadline(time.Time{})
			n += m
			var ne net.Error
			if e != nil && !(errors.As(e, &ne) && ne.Timeout()) {
				err = e
			}
			if e != nil || m == 0 {
				break
			}
		}
		if n > 0 {
			c.mu.Lock()
			closing := c.mu.closing
			c.mu.Unlock()
			if !closing {
				if derr := c.session.Data(buf[:n]); derr != nil {
					c.beginClose(derr, c.s.opts.Now().Add(c.s.opts.FlushTimeout))
				}
			}
		}
		if err != nil {
			break
		}
	}
	tc.closeRaw()
	close(tc.done)
	c.finish(err)
}

// tlsWriter drains the queue into the TLS connection whenever scheduled,
// and closes the connection once a flushing close has flushed.
func (c *conn) tlsWriter() {
	tc := c.tc
	for {
		select {
		case <-tc.wake:
		case <-tc.done:
			return
		}
		for {
			c.mu.Lock()
			gone, now := c.mu.gone, c.mu.closeNow
			c.mu.scheduled = false
			c.mu.Unlock()
			if gone {
				return
			}
			if now {
				tc.closeRaw()
				return
			}
			if c.drain() {
				// Flushed: say goodbye (close_notify), bounded, then close.
				_ = tc.tc.SetWriteDeadline(time.Now().Add(tlsCloseNotifyWait))
				_ = tc.tc.Close()
				tc.closeRaw()
				return
			}
			c.mu.Lock()
			more := !c.mu.gone && c.progressLocked()
			c.mu.Unlock()
			if !more {
				break
			}
		}
	}
}

package netpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/bargemq/barge/broker"
)

// Server accepts connections and drives one broker.Session per connection on
// gnet's event loops. Create it with Listen; stop it with Shutdown.
//
// The listening socket is ours, not gnet's: gnet's own acceptor stops its
// whole engine on the first accept error it does not expect (EMFILE among
// them), dropping every connection. Our accept loop (listener.go) survives
// such errors and hands each accepted connection to gnet's event loops.
type Server struct {
	opts    Options
	log     *slog.Logger
	accept  func(broker.Transport) broker.Session
	chunks  chunkPool
	staging *Staging
	out     outLimits // WriteWatermark and MaxPending in force
	// lines are fixed protocol lines, never modified.
	lines struct{ slowConsumer []byte }

	ln   *net.TCPListener
	addr *net.TCPAddr
	cli  *gnet.Client // the event loops; connections are enrolled into it

	shutting   atomic.Bool   // Shutdown was called (makes it idempotent)
	quit       chan struct{} // closed when Shutdown begins: stops the accept loop's sleeps
	acceptDone chan struct{} // closed when the accept loop has returned
	done       chan struct{} // closed when Shutdown has finished
	kick       chan struct{} // wakes the ticker when its watch set fills
	stop       chan struct{} // closed to stop the ticker
	tickDone   chan struct{} // closed when the ticker has returned

	tlsFailures atomic.Uint64 // TLS handshakes that failed

	mu struct {
		sync.Mutex
		closed bool               // Shutdown began: new connections are refused
		conns  map[*conn]struct{} // every open connection
		watch  map[*conn]struct{} // connections the ticker revisits
		idle   chan struct{}      // closed when conns empties during Shutdown
		// handshaking: TLS sockets not yet past their handshake, closed by
		// Shutdown.
		handshaking map[*net.TCPConn]struct{}
		// acceptErr is why the accept loop stopped for good (nil while it
		// runs, and after Shutdown stopped it).
		acceptErr error
	}
}

// Listen binds o.Addr and serves in the background; it returns once the
// listener is bound. accept is called on a connection's event loop for each
// new connection and returns the Session fed with its input (nil refuses the
// connection). Listen returns the bind error if any.
func Listen(o Options, accept func(t broker.Transport) broker.Session) (*Server, error) {
	o = o.withDefaults()
	// No TCP keepalive, as gnet's acceptor had it; Go sets TCP_NODELAY on
	// accepted connections and SO_REUSEADDR on the listener (a restarted
	// server can bind its port while old connections sit in TIME_WAIT).
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("netpoll: listen %s: %w", o.Addr, err)
	}
	s := &Server{
		opts:       o,
		log:        o.Logger,
		accept:     accept,
		staging:    o.Staging,
		ln:         l.(*net.TCPListener),
		quit:       make(chan struct{}),
		acceptDone: make(chan struct{}),
		done:       make(chan struct{}),
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		tickDone:   make(chan struct{}),
	}
	s.addr = s.ln.Addr().(*net.TCPAddr)
	if s.staging == nil {
		s.staging = NewStaging(StagingOptions{Dir: o.SpillDir, Now: o.Now})
	}
	s.lines.slowConsumer = []byte(slowConsumerLine)
	s.SetOutboundLimits(o.WriteWatermark, o.MaxPending)
	s.mu.conns = make(map[*conn]struct{})
	s.mu.watch = make(map[*conn]struct{})
	s.mu.handshaking = make(map[*net.TCPConn]struct{})
	cli, err := gnet.NewClient(&handler{s: s},
		gnet.WithNumEventLoop(o.Loops),
		// TCP_NODELAY is already on (Go sets it on accepted connections, and
		// gnet works on a duplicate of the same socket): skip gnet's call.
		gnet.WithTCPNoDelay(gnet.TCPDelay),
		gnet.WithReadBufferCap(o.ReadBufferCap),
		gnet.WithLogger(gnetLogger{o.Logger}),
	)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		_ = s.ln.Close()
		return nil, fmt.Errorf("netpoll: starting event loops: %w", err)
	}
	s.cli = cli
	go s.ticker()
	go s.acceptLoop(newReserveFD())
	return s, nil
}

// Addr returns the bound address (with the chosen port when Options.Addr had
// port 0).
func (s *Server) Addr() *net.TCPAddr { return s.addr }

// Staging is the spill-file budget the Server's connections draw on.
func (s *Server) Staging() *Staging { return s.staging }

// Health reports nil while the Server accepts connections, or why it no
// longer does: its accept loop stopped for good because the listening socket
// itself failed. Passing errors (out of file descriptors, a connection reset
// while queued) never stop it. After Shutdown it returns ErrServerShutdown.
func (s *Server) Health() error {
	if s.shutting.Load() {
		return ErrServerShutdown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.acceptErr
}

// Shutdown stops accepting connections, asks every connection to flush its
// queue and close, waits for them until ctx is done, force-closes the rest,
// then stops the event loops. Session.Closed is called for every connection
// (reason ErrServerShutdown unless an earlier reason stands). It returns
// ctx's error if connections had to be cut, or gnet's error. Only the first
// call does the work; later ones wait for it.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.shutting.Swap(true) {
		<-s.done
		return nil
	}
	defer close(s.done)
	s.mu.Lock()
	s.mu.closed = true
	for raw := range s.mu.handshaking {
		_ = raw.Close()
	}
	s.mu.Unlock()
	close(s.quit)
	_ = s.ln.Close()
	// An accept in progress finishes enrolling (OnOpen refuses it) before
	// the loop sees the closed listener.
	<-s.acceptDone

	s.mu.Lock()
	s.mu.idle = make(chan struct{})
	idle := s.mu.idle
	if len(s.mu.conns) == 0 {
		close(idle)
	}
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, c := range conns {
		// No per-connection deadline: ctx bounds the whole flush.
		c.beginClose(ErrServerShutdown, time.Time{})
	}
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range conns {
			c.forceClose(ErrServerShutdown)
		}
		if s.opts.TLS != nil {
			// TLS connections are not gnet's: closing their sockets
			// ends their goroutines, which call Session.Closed.
			select {
			case <-idle:
			case <-time.After(tlsShutdownWait):
			}
		}
	}
	close(s.stop)
	<-s.tickDone
	// The loops close any connection still open (OnClose runs for each).
	if e := s.cli.Stop(); err == nil {
		err = e
	}
	return err
}

// ticker revisits the watched connections every DrainInterval while there
// are any, and sleeps on kick otherwise.
func (s *Server) ticker() {
	defer close(s.tickDone)
	t := time.NewTicker(s.opts.DrainInterval)
	defer t.Stop()
	var batch []*conn
	for {
		s.mu.Lock()
		n := len(s.mu.watch)
		s.mu.Unlock()
		if n == 0 {
			select {
			case <-s.kick:
			case <-s.stop:
				return
			}
		}
		select {
		case <-t.C:
		case <-s.stop:
			return
		}
		s.mu.Lock()
		batch = batch[:0]
		for c := range s.mu.watch {
			batch = append(batch, c)
		}
		s.mu.Unlock()
		now := s.opts.Now()
		for _, c := range batch {
			c.tick(now)
		}
		clear(batch)
	}
}

// watch adds c to the ticker's set. Called with c.mu held.
func (s *Server) watch(c *conn) {
	s.mu.Lock()
	s.mu.watch[c] = struct{}{}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// unwatch removes c from the ticker's set. Called with c.mu held.
func (s *Server) unwatch(c *conn) {
	s.mu.Lock()
	delete(s.mu.watch, c)
	s.mu.Unlock()
}

// forget drops a closed connection from the registry.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.conns, c)
	delete(s.mu.watch, c)
	if s.mu.idle != nil && len(s.mu.conns) == 0 {
		select {
		case <-s.mu.idle:
		default:
			close(s.mu.idle)
		}
	}
}

// handler adapts gnet's callbacks to the Server; gnet calls each on the
// connection's event loop.
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

// OnOpen creates the connection's transport and session.
func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	c := &conn{s: s, gc: gc, el: gc.EventLoop(), fd: gc.Fd()}
	if ra := gc.RemoteAddr(); ra != nil {
		c.remote = ra.String()
	}
	c.task = c.run
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil, gnet.Close
	}
	s.mu.conns[c] = struct{}{}
	s.mu.Unlock()
	gc.SetContext(c)
	c.session = s.accept(c)
	if c.session == nil {
		return nil, gnet.Close
	}
	if c.drain() {
		return nil, gnet.Close
	}
	return nil, gnet.None
}

// OnTraffic hands everything read to the session (gnet cannot pause reading),
// then drains. A Data error starts a flushing close.
func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	buf, _ := gc.Next(-1)
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.Close
	}
	c.mu.Lock()
	closing := c.mu.closing
	c.mu.Unlock()
	if !closing && len(buf) > 0 {
		if err := c.session.Data(buf); err != nil {
			c.mu.Lock()
			c.closeLocked(err, c.s.opts.Now().Add(c.s.opts.FlushTimeout))
			c.mu.Unlock()
		}
	}
	if c.drain() {
		return gnet.Close
	}
	return gnet.None
}

// OnClose marks the connection gone, releases its queue and spill file, and
// calls Session.Closed exactly once.
func (h *handler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.None
	}
	gc.SetContext(nil)
	c.finish(err)
	return gnet.None
}

// finish marks the connection gone, releases its queue and spill file, and
// calls Session.Closed; err is the transport's own reason, used when no
// earlier one was set. Called exactly once per connection.
func (c *conn) finish(err error) {
	c.mu.Lock()
	c.mu.gone, c.mu.closing = true, true
	c.dropLocked()
	c.mu.gnetOut = 0 // gnet has released its outbound buffer
	reason := c.mu.reason
	if !c.mu.reasonSet {
		reason = err
		if errors.Is(err, io.EOF) {
			reason = io.EOF
		}
	}
	spill := c.mu.spill
	c.mu.spill = nil
	c.mu.watched = false
	c.mu.Unlock()
	if spill != nil {
		_ = spill.Close()
	}
	// Closed before forget: Shutdown returns once the registry is empty,
	// and promises every Session.Closed has been called by then.
	if c.session != nil {
		c.session.Closed(reason)
	}
	c.s.forget(c)
}

// gnetLogger routes gnet's log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) {
	g.l.Debug("gnet: " + fmt.Sprintf(format, args...))
}

func (g gnetLogger) Infof(format string, args ...any) {
	g.l.Debug("gnet: " + fmt.Sprintf(format, args...))
}

func (g gnetLogger) Warnf(format string, args ...any) {
	g.l.Warn("gnet: " + fmt.Sprintf(format, args...))
}

func (g gnetLogger) Errorf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
}

func (g gnetLogger) Fatalf(format string, args ...any) {
	g.l.Error("gnet: fatal: " + fmt.Sprintf(format, args...))
}

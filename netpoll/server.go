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
	"golang.org/x/sys/unix"

	"github.com/bargemq/barge/broker"
)

// Server accepts connections with gnet and drives one broker.Session per
// connection. Create it with Listen; stop it with Shutdown.
type Server struct {
	opts   Options
	log    *slog.Logger
	accept func(broker.Transport) broker.Session
	chunks chunkPool
	out    outLimits // WriteWatermark and MaxPending in force

	addr    *net.TCPAddr
	eng     gnet.Engine   // set in OnBoot, before Listen returns
	booted  chan struct{} // closed by OnBoot
	runDone chan struct{} // closed when gnet.Run returns
	runErr  error         // gnet.Run's result; read after runDone

	shutting atomic.Bool   // Shutdown was called (makes it idempotent)
	kick     chan struct{} // wakes the ticker when its watch set fills
	stop     chan struct{} // closed to stop the ticker
	tickDone chan struct{} // closed when the ticker has returned

	mu struct {
		sync.Mutex
		closed bool               // Shutdown began: new connections are refused
		conns  map[*conn]struct{} // every open connection
		watch  map[*conn]struct{} // connections the ticker revisits
		idle   chan struct{}      // closed when conns empties during Shutdown
	}
}

// Listen binds o.Addr and serves in the background; it returns once the
// listener is bound. accept is called on a connection's event loop for each
// new connection and returns the Session fed with its input (nil refuses the
// connection). Listen returns the bind error if any.
func Listen(o Options, accept func(t broker.Transport) broker.Session) (*Server, error) {
	o = o.withDefaults()
	s := &Server{
		opts:     o,
		log:      o.Logger,
		accept:   accept,
		booted:   make(chan struct{}),
		runDone:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		tickDone: make(chan struct{}),
	}
	s.SetOutboundLimits(o.WriteWatermark, o.MaxPending)
	s.mu.conns = make(map[*conn]struct{})
	s.mu.watch = make(map[*conn]struct{})
	h := &handler{s: s}
	go func() {
		defer close(s.runDone)
		s.runErr = gnet.Run(h, "tcp://"+o.Addr,
			gnet.WithNumEventLoop(o.Loops),
			gnet.WithReusePort(false),
			// A restarted server can bind its port while old connections sit
			// in TIME_WAIT.
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithReadBufferCap(o.ReadBufferCap),
			gnet.WithLogger(gnetLogger{o.Logger}),
		)
	}()
	select {
	case <-s.booted:
	case <-s.runDone:
		if s.runErr == nil {
			s.runErr = errors.New("netpoll: engine stopped during start")
		}
		return nil, fmt.Errorf("netpoll: listen %s: %w", o.Addr, s.runErr)
	}
	if s.addr == nil {
		_ = s.stopEngine()
		return nil, fmt.Errorf("netpoll: listen %s: cannot read bound address", o.Addr)
	}
	go s.ticker()
	return s, nil
}

// Addr returns the bound address (with the chosen port when Options.Addr had
// port 0).
func (s *Server) Addr() *net.TCPAddr { return s.addr }

// Shutdown stops accepting connections, asks every connection to flush its
// queue and close, waits for them until ctx is done, force-closes the rest,
// then stops gnet. Session.Closed is called for every connection (reason
// ErrServerShutdown unless an earlier reason stands). It returns ctx's error
// if connections had to be cut, or gnet's error. Only the first call does
// the work; later ones wait for it.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.shutting.Swap(true) {
		<-s.runDone
		return nil
	}
	s.mu.Lock()
	s.mu.closed = true
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
	}
	close(s.stop)
	<-s.tickDone
	if e := s.stopEngine(); err == nil {
		err = e
	}
	return err
}

// stopEngine tells gnet to stop and waits for gnet.Run to return; gnet closes
// any connection still open (OnClose runs for each).
func (s *Server) stopEngine() error {
	// Engine.Stop polls for completion every 500ms; with a done context it
	// only triggers the stop, and runDone tells us when it is complete.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.eng.Stop(done)
	<-s.runDone
	return s.runErr
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
// connection's event loop (OnBoot on the Run goroutine).
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

// OnBoot records the engine and the bound address, then unblocks Listen.
func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	s.eng = eng
	if fd, err := eng.Dup(); err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			switch a := sa.(type) {
			case *unix.SockaddrInet4:
				s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
			case *unix.SockaddrInet6:
				s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			}
		}
		_ = unix.Close(fd)
	}
	close(s.booted)
	return gnet.None
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
	h.s.forget(c)
	if c.session != nil {
		c.session.Closed(reason)
	}
	return gnet.None
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

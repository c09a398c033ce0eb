package broker

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/codec"
)

// routeOut is the accepting side of a route connection: the peer dialed us,
// and this is where we send it our INFO, our interest and the messages its
// subscribers want. From the peer it only takes CONNECT, PING and PONG.
// Session methods run on the connection's event loop; the keepalive on the
// clock's goroutine; publishers on any loop write to t.
type routeOut struct {
	cl     *Cluster
	t      Transport
	rid    uint64
	start  time.Time
	parser *codec.RouteParser
	// peer is set once CONNECT is accepted, on the event loop, before the
	// routeOut is published in peer.out; Closed reads it on the same loop.
	peer *peer

	pingsOut atomic.Int32
	closed   atomic.Bool

	mu struct {
		sync.Mutex
		// timer is the pending keepalive tick; stopped forbids rearming.
		timer   Timer
		stopped bool
	}
}

// AcceptRoute is the accept function of the route listener: it registers
// the connection, sends it this server's route INFO and starts the route
// keepalive. The Session returned must be fed from t's event loop. After
// Shutdown the connection is closed at once.
func (c *Cluster) AcceptRoute(t Transport) Session {
	ro := &routeOut{cl: c, t: t, rid: c.nextRID.Add(1), start: c.srv.opts.Clock.Now()}
	ro.parser = codec.NewRouteParser(ro, routeParserOptions())
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		ro.closed.Store(true)
		t.Close(errClusterClosed)
		return ro
	}
	c.mu.outs[ro] = struct{}{}
	info := codec.AppendRouteInfo(nil, c.selfInfoLocked())
	c.mu.Unlock()
	_ = t.Write(info)
	ro.armKeepalive()
	c.log.Debug("route accepted", "rid", ro.rid, "addr", t.RemoteAddr())
	return ro
}

// Data parses what the dialer sent. A protocol error is reported with
// -ERR and returned, which closes the connection.
func (ro *routeOut) Data(b []byte) error {
	if ro.closed.Load() {
		return errClusterClosed
	}
	err := ro.parser.Parse(b)
	if err != nil {
		var pe *codec.ProtoError
		if errors.As(err, &pe) {
			_ = ro.t.Write(codec.AppendErr(nil, pe.Msg))
		}
		ro.cl.log.Debug("route closed", "rid", ro.rid, "err", err)
	}
	return err
}

// Closed drops the connection from its peer.
func (ro *routeOut) Closed(err error) {
	ro.closed.Store(true)
	ro.stopKeepalive()
	ro.cl.unregisterOut(ro)
	ro.cl.log.Debug("outbound route gone", "rid", ro.rid, "reason", err)
}

// Connect accepts the dialer's CONNECT: from now on the peer gets our
// interest and messages here.
func (ro *routeOut) Connect(js []byte) error {
	if ro.peer != nil {
		return codec.ErrRouteOp
	}
	info, err := codec.ParseRouteInfo(js)
	if err != nil || info.ID == "" {
		return codec.ErrRouteArgs
	}
	if err := ro.cl.registerOut(ro, &info); err != nil {
		_ = ro.t.Write(codec.AppendErr(nil, err.Error()))
		return err
	}
	ro.cl.log.Info("route connected", "direction", "out", "peer", info.Name, "id", info.ID, "url", info.RouteURL)
	return nil
}

// Ping answers PONG and, as the dialer's keepalive, proves it alive: our
// own PINGs may be queued behind a large message, its PINGs never are.
func (ro *routeOut) Ping() error {
	ro.pingsOut.Store(0)
	return ro.t.Write([]byte(codec.PongLine))
}

// Pong clears the unanswered PINGs.
func (ro *routeOut) Pong() error {
	ro.pingsOut.Store(0)
	return nil
}

// Err logs the peer's -ERR; it closes the connection itself.
func (ro *routeOut) Err(msg []byte) error {
	ro.cl.log.Warn("route error from peer", "rid", ro.rid, "err", string(msg))
	return nil
}

// Data never flows from the dialer to the acceptor: the rest is refused.

func (ro *routeOut) Info([]byte) error                       { return codec.ErrRouteOp }
func (ro *routeOut) Sub([]byte, []byte, []byte, int64) error { return codec.ErrRouteOp }
func (ro *routeOut) Unsub([]byte, []byte, []byte) error      { return codec.ErrRouteOp }
func (ro *routeOut) MsgStart(*codec.RouteMsg) error          { return codec.ErrRouteOp }
func (ro *routeOut) MsgHeaders([]byte) error                 { return codec.ErrRouteOp }
func (ro *routeOut) MsgPayload([]byte) error                 { return codec.ErrRouteOp }
func (ro *routeOut) MsgEnd() error                           { return codec.ErrRouteOp }
func (ro *routeOut) MsgAbort() error                         { return codec.ErrRouteOp }

// armKeepalive schedules the next keepalive tick unless stopped.
func (ro *routeOut) armKeepalive() {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if !ro.mu.stopped {
		ro.mu.timer = ro.cl.srv.opts.Clock.AfterFunc(ro.cl.opts.PingInterval, ro.pingTick)
	}
}

func (ro *routeOut) stopKeepalive() {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	ro.mu.stopped = true
	if ro.mu.timer != nil {
		ro.mu.timer.Stop()
		ro.mu.timer = nil
	}
}

// pingTick closes a route that left MaxPingsOut PINGs unanswered, or sends
// one more PING.
func (ro *routeOut) pingTick() {
	if ro.closed.Load() {
		return
	}
	if int(ro.pingsOut.Load()) >= ro.cl.opts.MaxPingsOut {
		ro.stopKeepalive()
		ro.t.Close(errRouteStale)
		return
	}
	ro.pingsOut.Add(1)
	_ = ro.t.Write([]byte(codec.PingLine))
	ro.armKeepalive()
}

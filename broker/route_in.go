package broker

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/subject"
)

// routeReadBuffer is the size of a routeIn's read buffer: one per route,
// allocated when it connects.
const routeReadBuffer = 256 << 10

// routeParserOptions are the limits of a route's parser. A routed message
// was already checked against the publishing server's limits, which may
// differ from ours, so the payload and header limits only guard against
// nonsense; a control line carries a subject, a reply and up to
// codec.MaxRouteQueues queue names, each bounded by some member's client
// control line, hence the generous line limit (its buffer is allocated
// once per route).
func routeParserOptions() codec.ParserOptions {
	return codec.ParserOptions{
		MaxControlLine: 256 << 10,
		MaxPayload:     1 << 62,
		MaxHeaderSize:  64 << 20,
	}
}

// routeIn is the dialing side of a route connection: the peer sends us its
// interest and the messages our subscribers want; we answer only CONNECT
// and PONG. One goroutine (run) reads, parses and delivers; close may come
// from any goroutine.
type routeIn struct {
	cl     *Cluster
	url    string
	conn   net.Conn
	rid    uint64
	start  time.Time
	parser *codec.RouteParser
	// pc delivers the peer's messages to local subscribers: a client of
	// the route kind, driven by the reading goroutine only.
	pc *client
	// qs and as are takeDeliverAs's reused buffers (reading goroutine).
	qs [][]byte
	as []byte
	// peer is set by registerIn on the reading goroutine, at the first
	// INFO; other goroutines read it only under Cluster.mu.
	peer *peer

	// wmu serializes writes to conn (CONNECT, PING, PONG).
	wmu    sync.Mutex
	closed atomic.Bool

	mu struct {
		sync.Mutex
		// subs is the peer's interest, by subject and queue.
		subs map[interestKey]*Subscription
		// timer is the pending keepalive PING; nil once stopped.
		timer Timer
	}
}

func newRouteIn(cl *Cluster, url string, conn net.Conn) *routeIn {
	ri := &routeIn{cl: cl, url: url, conn: conn, rid: cl.nextRID.Add(1), start: cl.srv.opts.Clock.Now()}
	ri.parser = codec.NewRouteParser(ri, routeParserOptions())
	ri.pc = newRouteClient(cl.srv, conn.RemoteAddr().String())
	ri.mu.subs = make(map[interestKey]*Subscription)
	return ri
}

// run reads the route until it fails or is closed, then releases
// everything the route held. It returns why the route ended.
func (ri *routeIn) run() error {
	ri.cl.mu.Lock()
	if ri.cl.mu.closed {
		ri.cl.mu.Unlock()
		_ = ri.conn.Close()
		return errClusterClosed
	}
	ri.cl.mu.ins[ri] = struct{}{}
	ri.cl.mu.Unlock()
	ri.armKeepalive()
	err := ri.readLoop()
	ri.close()
	ri.pc.closed.Store(true)
	ri.pc.abortPublish()
	ri.mu.Lock()
	subs := make([]*Subscription, 0, len(ri.mu.subs))
	for _, s := range ri.mu.subs {
		subs = append(subs, s)
	}
	clear(ri.mu.subs)
	ri.mu.Unlock()
	removeSubs(subs)
	ri.cl.unregisterIn(ri)
	return err
}

func (ri *routeIn) readLoop() error {
	buf := make([]byte, routeReadBuffer)
	idle := ri.cl.opts.PingInterval * time.Duration(ri.cl.opts.MaxPingsOut+1)
	for {
		_ = ri.conn.SetReadDeadline(time.Now().Add(idle))
		n, err := ri.conn.Read(buf)
		if n > 0 {
			if perr := ri.parser.Parse(buf[:n]); perr != nil {
				var pe *codec.ProtoError
				if errors.As(perr, &pe) {
					ri.write(codec.AppendErr(nil, pe.Msg))
				}
				return perr
			}
		}
		if err != nil {
			if ri.closed.Load() {
				return errClusterClosed
			}
			return err
		}
	}
}

// close closes the connection and stops the keepalive; run then returns.
// Safe from any goroutine.
func (ri *routeIn) close() {
	if !ri.closed.Swap(true) {
		_ = ri.conn.Close()
	}
	ri.mu.Lock()
	if ri.mu.timer != nil {
		ri.mu.timer.Stop()
		ri.mu.timer = nil
	}
	ri.mu.Unlock()
}

// armKeepalive schedules the next PING. The dialer PINGs the acceptor
// because that direction never carries data: the acceptor's own PINGs can
// wait behind a large message in its outbound queue, so it takes our PINGs
// as the sign that we are alive. We judge the acceptor by what we read.
func (ri *routeIn) armKeepalive() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.closed.Load() {
		return
	}
	ri.mu.timer = ri.cl.srv.opts.Clock.AfterFunc(ri.cl.opts.PingInterval, func() {
		if ri.closed.Load() {
			return
		}
		ri.write([]byte(codec.PingLine))
		ri.armKeepalive()
	})
}

// write sends b to the peer with a short deadline; a failure closes the
// route (run notices).
func (ri *routeIn) write(b []byte) {
	ri.wmu.Lock()
	defer ri.wmu.Unlock()
	_ = ri.conn.SetWriteDeadline(time.Now().Add(ri.cl.opts.PingInterval))
	if _, err := ri.conn.Write(b); err != nil {
		ri.close()
	}
}

// Info handles the peer's INFO: the first registers the route and answers
// CONNECT; later ones bring membership news.
func (ri *routeIn) Info(js []byte) error {
	info, err := codec.ParseRouteInfo(js)
	if err != nil || info.ID == "" {
		return codec.ErrRouteArgs
	}
	if ri.peer == nil {
		if err := ri.cl.registerIn(ri, &info); err != nil {
			return err
		}
		ri.cl.mu.Lock()
		me := ri.cl.selfInfoLocked()
		ri.cl.mu.Unlock()
		ri.write(codec.AppendRouteConnect(nil, me))
		ri.cl.log.Info("route connected", "direction", "in", "peer", info.Name, "id", info.ID, "url", ri.url)
		ri.cl.learn(info.Routes...)
		ri.cl.announce()
		return nil
	}
	ri.cl.mu.Lock()
	if ri.peer.in == ri {
		ri.peer.info = info
	}
	ri.cl.mu.Unlock()
	ri.cl.learn(info.Routes...)
	return nil
}

// Connect is never sent to a dialer.
func (ri *routeIn) Connect([]byte) error { return codec.ErrRouteOp }

// Ping answers PONG.
func (ri *routeIn) Ping() error {
	ri.write([]byte(codec.PongLine))
	return nil
}

// Pong is accepted and ignored: liveness is the peer's PINGs.
func (ri *routeIn) Pong() error { return nil }

// Err logs the peer's -ERR.
func (ri *routeIn) Err(msg []byte) error {
	ri.cl.log.Warn("route error from peer", "rid", ri.rid, "url", ri.url, "err", string(msg))
	return nil
}

// Sub records the peer's interest as a Subscription it owns, in the
// account the interest names.
func (ri *routeIn) Sub(account, subj, queue []byte, _ int64) error {
	if ri.peer == nil {
		return errRouteNoInfo
	}
	if !subject.ValidSubscribe(subj) || (queue != nil && !subject.ValidQueueName(queue)) {
		ri.cl.log.Debug("route interest with an invalid subj ignored", "subject", string(subj))
		return nil
	}
	k := interestKey{string(account), string(subj), string(queue)}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if _, ok := ri.mu.subs[k]; ok {
		return nil // a queue weight update
	}
	sub := &Subscription{Subject: k.subject, Queue: k.queue, peer: ri.peer, acc: ri.cl.srv.accounts.get(k.account)}
	if err := sub.acc.sl.Insert(sub); err != nil {
		return nil
	}
	ri.mu.subs[k] = sub
	return nil
}

// Unsub drops the peer's interest.
func (ri *routeIn) Unsub(account, subject, queue []byte) error {
	k := interestKey{string(account), string(subject), string(queue)}
	ri.mu.Lock()
	sub := ri.mu.subs[k]
	delete(ri.mu.subs, k)
	ri.mu.Unlock()
	if sub != nil {
		_ = sub.acc.sl.Remove(sub)
	}
	return nil
}

// MsgStart begins delivering a routed message to local subscribers.
func (ri *routeIn) MsgStart(m *codec.RouteMsg) error {
	if ri.peer == nil {
		return errRouteNoInfo
	}
	ri.pc.acc.Store(ri.cl.srv.accounts.getBytes(m.Account))
	ri.pc.pub.rqueues, ri.pc.pub.as = ri.takeDeliverAs(m.Queues)
	err := ri.pc.PubStart(m.Subject, m.Reply, m.HdrLen, m.Size)
	ri.pc.pub.rqueues = nil
	return err
}

// MsgHeaders forwards the header block.
func (ri *routeIn) MsgHeaders(hdr []byte) error { return ri.pc.PubHeaders(hdr) }

// MsgPayload forwards a body piece.
func (ri *routeIn) MsgPayload(piece []byte) error { return ri.pc.PubPayload(piece) }

// MsgEnd completes the message and counts it.
func (ri *routeIn) MsgEnd() error {
	ri.peer.inMsgs.Add(1)
	ri.peer.inBytes.Add(int64(ri.pc.pub.size))
	return ri.pc.PubEnd()
}

// MsgAbort drops a message its publisher abandoned.
func (ri *routeIn) MsgAbort() error {
	ri.pc.abortPublish()
	return nil
}

// numSubs is the number of the peer's subscriptions.
func (ri *routeIn) numSubs() int {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return len(ri.mu.subs)
}

// startDialLocked runs a dial loop for url. A seed is dialed until
// Shutdown; a learned URL until ImplicitRetries attempts in a row failed or
// it turns out to lead to a member already connected.
func (c *Cluster) startDialLocked(url string, seed bool) {
	c.mu.dialing[url] = true
	c.dialers.Add(1)
	go func() {
		defer c.dialers.Done()
		c.dialLoop(url, seed)
		c.mu.Lock()
		delete(c.mu.dialing, url)
		c.mu.Unlock()
	}()
}

func (c *Cluster) dialLoop(url string, seed bool) {
	failures := 0
	for c.ctx.Err() == nil {
		conn, err := c.opts.Dialer.DialContext(c.ctx, "tcp", url)
		if err == nil {
			ri := newRouteIn(c, url, conn)
			err = ri.run()
			if ri.peer != nil {
				failures = 0 // it was up: start the backoff again
			}
			switch {
			case errors.Is(err, errSelfRoute):
				return
			case errors.Is(err, errDuplicateRoute) && !seed:
				return
			}
		}
		failures++
		c.log.Debug("route dial", "url", url, "err", err, "failures", failures)
		if !seed && failures > c.opts.ImplicitRetries {
			return
		}
		if !c.wait(c.backoff(failures)) {
			return
		}
	}
}

// backoff is the pause after the n-th failure in a row: RetryMin doubling
// up to RetryMax.
func (c *Cluster) backoff(n int) time.Duration {
	d := c.opts.RetryMin
	for i := 1; i < n && d < c.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.opts.RetryMax)
}

// wait pauses for d on the server's clock; it returns false if the cluster
// shut down meanwhile.
func (c *Cluster) wait(d time.Duration) bool {
	ch := make(chan struct{})
	t := c.srv.opts.Clock.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-c.ctx.Done():
		t.Stop()
		return false
	}
}

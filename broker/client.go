package broker

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/subject"
)

// client is one client connection: the codec.Handler its parser reports to
// and the Session netpoll feeds. Session and Handler methods run on the
// connection's event loop only; fields other goroutines touch (publishers
// delivering to this client, the keepalive timer, the monitoring calls) are
// atomics or live under mu.
type client struct {
	srv *Server
	t   Transport
	// dt is t when it can defer writes (see Deferrer), else nil. Fixed.
	dt     Deferrer
	cid    uint64
	host   string
	port   int
	start  time.Time
	parser *codec.Parser
	// maxPayload is the max_payload of this connection's INFO and parser,
	// fixed when it is accepted (a reload changes it for later ones).
	maxPayload int64

	// Event-loop-only state.
	opts codec.ConnectOptions
	rng  *rand.Rand
	pub  publish
	// line is scratch for one control line being encoded.
	line []byte
	// inData is set while Data parses a read: deliveries to receivers that
	// implement Deferrer are then queued and flushed once per receiver when
	// the read is done (dirty lists them, at most maxDirty).
	inData bool
	dirty  OutBatch

	// headers is the CONNECT headers flag, read by publishers on other
	// loops to choose MSG or HMSG for this receiver.
	headers atomic.Bool
	// closed is set once the connection is gone (or refused); deliveries
	// and the keepalive skip it.
	closed atomic.Bool
	// asyncInfo is set once the client takes an INFO at any time (cluster
	// membership changes): it said protocol 1 in CONNECT and has been sent
	// its first PONG. Not before that PONG, as in nats-server: a client
	// that sent CONNECT and PING expects PONG as the next line.
	asyncInfo atomic.Bool
	// proto1 is CONNECT's protocol >= 1 (set by Connect, read by Ping, on
	// the client's event loop).
	proto1 bool
	// connected is set once a CONNECT was accepted (its connect event
	// sent), so that Closed sends the disconnect event.
	connected atomic.Bool
	// sentURLs are the connect_urls of the INFO sent at accept (shared with
	// the server's INFO, never modified).
	sentURLs []string
	// route marks the client that delivers a route's messages (see
	// newRouteClient): it has no Transport and publishes to local
	// subscribers only. Fixed at creation.
	route bool
	// refused marks a client turned away at MaxConnections (see
	// Server.refuse). Set by Accept before the Session is returned.
	refused bool
	// pingsOut counts PINGs sent and not yet answered by a PONG.
	pingsOut atomic.Int32
	// nonce is the nonce of the INFO sent at accept ("" when none), that
	// nkey and JWT users sign. Fixed once INFO is out.
	nonce string
	// awaitingAuth is set from accept until the client logged in, when
	// the server requires authentication (auth.go).
	awaitingAuth atomic.Bool
	// perms are the logged-in user's permissions with their caches; nil
	// restricts nothing (perms.go).
	perms atomic.Pointer[clientPerms]
	// acc is the account the client publishes and subscribes in: the
	// global account until it logs in to another (account.go); never nil.
	// A route client switches it per routed message.
	acc atomic.Pointer[Account]
	// maxSubs is the connection's subscription limit (maxsubs.go): 0
	// none, negative no subscription allowed.
	maxSubs atomic.Int64
	// maxSubsLogged is set once a refused SUB was logged.
	maxSubsLogged atomic.Bool

	mu struct {
		sync.Mutex
		// subs are the live subscriptions by sid.
		subs map[string]*Subscription
		// name, lang and version come from CONNECT, for Connz.
		name, lang, version string
		// timer is the pending keepalive tick; nil once stopped.
		timer Timer
		// stopped is set when the keepalive must not be rearmed.
		stopped bool
		// user and account are who the client logged in as (auth.go).
		user, account string
		// creds are the credentials of its CONNECT, checked again when a
		// reload changes the authorization (Server.SetAuth).
		creds auth.Credentials
		// authTimer is the login timeout before CONNECT, then the user
		// JWT's expiry; nil when none.
		authTimer Timer
		// counted is the account the client is counted in (account.go);
		// nil before it logs in.
		counted *Account
	}

	stats connStats
}

// connStats count one connection's traffic; publishers on any loop add to
// the out counters.
type connStats struct {
	inMsgs, inBytes, outMsgs, outBytes atomic.Int64
}

func newClient(s *Server, t Transport, lim *Limits) *client {
	c := &client{
		srv:   s,
		t:     t,
		cid:   s.nextCID.Add(1),
		start: s.opts.Clock.Now(),
		opts:  codec.ConnectOptions{Echo: true},
	}
	c.maxPayload = lim.MaxPayload
	c.acc.Store(s.global)
	c.maxSubs.Store(int64(s.opts.MaxSubs))
	c.host, c.port = splitHostPort(t.RemoteAddr())
	c.dt, _ = t.(Deferrer)
	c.mu.subs = make(map[string]*Subscription)
	c.parser = codec.NewParser(c, codec.ParserOptions{
		MaxControlLine: lim.MaxControlLine,
		MaxPayload:     lim.MaxPayload,
		MaxHeaderSize:  s.opts.MaxHeaderSize,
	})
	return c
}

// newRouteClient returns the client through which a route's messages reach
// local subscribers: it is not registered with the server, has no
// Transport and is driven by the route's reading goroutine only.
func newRouteClient(s *Server, remote string) *client {
	c := &client{
		srv:   s,
		cid:   s.nextCID.Add(1),
		start: s.opts.Clock.Now(),
		opts:  codec.ConnectOptions{Echo: true, Headers: true},
		route: true,
	}
	c.acc.Store(s.global)
	c.host, c.port = splitHostPort(remote)
	c.mu.subs = make(map[string]*Subscription)
	s.mu.Lock()
	c.rng = newConnRand(s.mu.rand)
	s.mu.Unlock()
	return c
}

// Data parses b, acting on every complete operation. A protocol error is
// reported to the client as -ERR and returned, which makes netpoll close the
// connection; errors the client survives (an invalid SUB subject) are
// reported and swallowed. b is not retained.
func (c *client) Data(b []byte) error {
	if c.closed.Load() {
		if c.refused {
			return ErrMaxConnections
		}
		return ErrServerShutdown
	}
	c.inData = true
	err := c.parser.Parse(b)
	c.inData = false
	c.flushDirty()
	if err == nil {
		return nil
	}
	var pe *codec.ProtoError
	if errors.As(err, &pe) {
		c.sendErr(pe.Msg)
	}
	return err
}

// Closed releases everything the connection held: its subscriptions, its
// keepalive timer and any message it was publishing (open streams to
// receivers are aborted, a gathered small message is dropped). err is the
// reason; a codec.ErrSlowConsumer counts in Varz.slow_consumers.
func (c *client) Closed(err error) {
	c.closed.Store(true)
	c.stopKeepalive()
	c.stopAuthTimers()
	c.abortPublish()
	c.mu.Lock()
	subs := make([]*Subscription, 0, len(c.mu.subs))
	for _, sub := range c.mu.subs {
		subs = append(subs, sub)
	}
	clear(c.mu.subs)
	c.mu.Unlock()
	if c.connected.Load() {
		c.connEvent(false, err)
	}
	c.unbindAccount()
	removeSubs(subs)
	if cl := c.srv.cluster; cl != nil {
		cl.localUnsub(subs...)
	}
	c.srv.removeClient(c)
	if errors.Is(err, codec.ErrSlowConsumer) {
		c.srv.stats.slowConsumers.Add(1)
		c.srv.log.Warn("slow consumer detected, client closed", "cid", c.cid, "addr", c.t.RemoteAddr(), "reason", err)
		return
	}
	c.srv.log.Debug("client closed", "cid", c.cid, "reason", err)
}

// maxDirty bounds the receivers one read's deliveries are deferred to; past
// it the list is flushed early.
const maxDirty = 32

// writeTo queues b on receiver rc's connection. While Data parses a read
// (loop-only) it defers the write and remembers rc, so the receiver gets one
// read's messages in one system call; otherwise it writes at once. The
// error is the receiver transport's.
func (c *client) writeTo(rc *client, b []byte) error {
	if !c.inData || rc.dt == nil {
		return rc.t.Write(b)
	}
	c.dirty.add(rc.dt)
	return rc.dt.WriteDeferred(b)
}

// flushDirty flushes every receiver deferred to since the last flush.
func (c *client) flushDirty() { c.dirty.Flush() }

// write queues b on the connection; an error means the transport is closed,
// and Closed will follow, so it is dropped.
func (c *client) write(b []byte) { _ = c.t.Write(b) }

// sendErr writes "-ERR '<msg>'". It may run on any goroutine.
func (c *client) sendErr(msg string) { c.write(codec.AppendErr(nil, msg)) }

func (c *client) sendOK() {
	c.line = append(c.line[:0], codec.OKLine...)
	c.write(c.line)
}

// Connect applies the client's CONNECT options.
func (c *client) Connect(options []byte) error {
	o, err := codec.ParseConnect(options)
	if err != nil {
		return err
	}
	if o.Protocol < 0 || o.Protocol > 1 {
		return errBadProtocol
	}
	if o.NoResponders && !o.Headers {
		return errNoRespondersNeedsHeaders
	}
	if err := c.login(&o); err != nil {
		return err
	}
	c.opts = o
	c.headers.Store(o.Headers)
	c.proto1 = o.Protocol >= 1
	c.mu.Lock()
	c.mu.name, c.mu.lang, c.mu.version = o.Name, o.Lang, o.Version
	c.mu.Unlock()
	if !c.route && !c.connected.Swap(true) {
		c.connEvent(true, nil)
	}
	if o.Verbose {
		c.sendOK()
	}
	return nil
}

// Errors closing a connection at CONNECT, worded as nats-server sends them.
var (
	errBadProtocol              = &codec.ProtoError{Msg: "invalid client protocol", Fatal: true}
	errNoRespondersNeedsHeaders = &codec.ProtoError{Msg: "no responders requires headers support", Fatal: true}
)

// Ping answers PONG.
func (c *client) Ping() error {
	if c.awaitingAuth.Load() {
		if err := c.beforeConnect(); err != nil {
			return err
		}
	}
	c.line = append(c.line[:0], codec.PongLine...)
	c.write(c.line)
	if c.proto1 && !c.asyncInfo.Load() {
		// The first PONG is out: from now on the client takes async INFOs,
		// and it gets one now if the cluster's URLs changed since its INFO.
		c.asyncInfo.Store(true)
		c.srv.infoIfURLsChanged(c)
	}
	return nil
}

// Pong clears the count of unanswered keepalive PINGs.
func (c *client) Pong() error {
	if c.awaitingAuth.Load() {
		if err := c.beforeConnect(); err != nil {
			return err
		}
	}
	c.pingsOut.Store(0)
	return nil
}

// Sub adds a subscription. An invalid subject or queue name is reported as
// -ERR 'Invalid Subject' and the connection carries on; a sid already in use
// is ignored, as nats-server does.
func (c *client) Sub(subj, queue, sid []byte) error {
	if c.awaitingAuth.Load() {
		if err := c.beforeConnect(); err != nil {
			return err
		}
	}
	if !subject.ValidSubscribe(subj) || (queue != nil && !subject.ValidQueueName(queue)) {
		c.sendErr(codec.ErrInvalidSubject.Msg)
		return nil
	}
	filter := false
	if c.perms.Load() != nil {
		var allowed bool
		if allowed, filter = c.subAllowed(string(subj), string(queue)); !allowed {
			c.subViolation(string(subj), string(queue))
			return nil
		}
	}
	c.mu.Lock()
	if c.subsAtLimitLocked() {
		c.mu.Unlock()
		c.maxSubsExceeded()
		return nil
	}
	if _, dup := c.mu.subs[string(sid)]; dup {
		c.mu.Unlock()
	} else {
		sub := &Subscription{
			Subject: string(subj),
			Queue:   string(queue),
			client:  c,
			sid:     bytes.Clone(sid),
			acc:     c.account(),
		}
		sub.permFilter.Store(filter)
		c.mu.subs[string(sub.sid)] = sub
		c.mu.Unlock()
		if err := sub.acc.sl.Insert(sub); err != nil {
			// Unreachable after subject.ValidSubscribe; keep the maps
			// consistent anyway.
			c.mu.Lock()
			delete(c.mu.subs, string(sub.sid))
			c.mu.Unlock()
			c.sendErr(codec.ErrInvalidSubject.Msg)
			return nil
		}
		if cl := c.srv.cluster; cl != nil {
			cl.localSub(sub)
		}
	}
	if c.opts.Verbose {
		c.sendOK()
	}
	return nil
}

// Unsub removes the subscription sid now, or, when max is above the number
// of messages it has already received, after its max-th message. An unknown
// sid is ignored.
func (c *client) Unsub(sid []byte, max int64) error {
	if c.awaitingAuth.Load() {
		if err := c.beforeConnect(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	sub := c.mu.subs[string(sid)]
	c.mu.Unlock()
	if sub != nil {
		if max > 0 && max > sub.delivered.Load() {
			sub.max.Store(max)
			// A delivery may have passed max between the load and the
			// store without seeing it.
			if sub.delivered.Load() >= max {
				c.unsubscribe(sub)
			}
		} else {
			c.unsubscribe(sub)
		}
	}
	if c.opts.Verbose {
		c.sendOK()
	}
	return nil
}

// unsubscribe removes sub from the client and the sublist once, whichever
// goroutine gets there first. It is safe from any goroutine.
func (c *client) unsubscribe(sub *Subscription) {
	c.mu.Lock()
	owned := c.mu.subs[string(sub.sid)] == sub
	if owned {
		delete(c.mu.subs, string(sub.sid))
	}
	c.mu.Unlock()
	if owned && sub.acc.sl.Remove(sub) == nil {
		if cl := c.srv.cluster; cl != nil {
			cl.localUnsub(sub)
		}
	}
}

// numSubs returns the number of live subscriptions.
func (c *client) numSubs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.subs)
}

// startKeepalive arms the first keepalive tick.
func (c *client) startKeepalive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.stopped {
		c.mu.timer = c.srv.opts.Clock.AfterFunc(c.srv.limits.Load().PingInterval, c.pingTick)
	}
}

// stopKeepalive cancels the keepalive for good.
func (c *client) stopKeepalive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.stopped = true
	if c.mu.timer != nil {
		c.mu.timer.Stop()
		c.mu.timer = nil
	}
}

// pingTick runs on the clock's goroutine every PingInterval: it closes a
// client with MaxPingsOut PINGs unanswered, or sends one more PING.
func (c *client) pingTick() {
	if c.closed.Load() {
		return
	}
	if int(c.pingsOut.Load()) >= c.srv.limits.Load().MaxPingsOut {
		c.srv.stats.staleConns.Add(1)
		c.sendErr(codec.ErrStaleConnection.Msg)
		c.stopKeepalive()
		c.t.Close(codec.ErrStaleConnection)
		return
	}
	c.pingsOut.Add(1)
	c.write(c.srv.lines.ping)
	c.startKeepalive()
}

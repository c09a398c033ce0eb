package broker

import (
	"sync/atomic"
	"time"
)

// ConnEvent is a client connecting (its CONNECT accepted) or, once it did,
// disconnecting, for the system account's events.
type ConnEvent struct {
	Connect bool // false: a disconnect
	CID     uint64
	Account string
	User    string
	Name    string
	Lang    string
	Version string
	Host    string
	Start   time.Time
	// The disconnect's figures: its traffic and why it ended.
	Stop                               time.Time
	InMsgs, InBytes, OutMsgs, OutBytes int64
	Reason                             string
}

// ConnEventHandler receives connection events on the client's event loop
// (or the goroutine closing it): it must not block.
type ConnEventHandler func(ev *ConnEvent)

// connEvents holds the handler behind an atomic pointer.
type connEvents struct {
	h atomic.Pointer[ConnEventHandler]
}

// SetConnEventHandler installs h (nil: none) for the connections that
// connect or close from now on.
func (s *Server) SetConnEventHandler(h ConnEventHandler) {
	if h == nil {
		s.events.h.Store(nil)
		return
	}
	s.events.h.Store(&h)
}

// connEvent reports c's connect or disconnect to the handler, if any.
func (c *client) connEvent(connect bool, reason error) {
	hp := c.srv.events.h.Load()
	if hp == nil {
		return
	}
	ev := &ConnEvent{
		Connect: connect, CID: c.cid, Account: c.account().name,
		Host: c.host, Start: c.start,
	}
	c.mu.Lock()
	ev.User, ev.Name, ev.Lang, ev.Version = c.mu.user, c.mu.name, c.mu.lang, c.mu.version
	c.mu.Unlock()
	if !connect {
		ev.Stop = c.srv.opts.Clock.Now()
		ev.InMsgs, ev.InBytes = c.stats.inMsgs.Load(), c.stats.inBytes.Load()
		ev.OutMsgs, ev.OutBytes = c.stats.outMsgs.Load(), c.stats.outBytes.Load()
		if reason != nil {
			ev.Reason = reason.Error()
		}
	}
	(*hp)(ev)
}

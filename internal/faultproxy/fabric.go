package faultproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a cut treats the links it touches.
type Mode int

const (
	// Open forwards (no cut).
	Open Mode = iota
	// Stall forwards nothing and keeps connections open (a black hole).
	Stall
	// Drop resets the connections and refuses new ones (a rejecting firewall).
	Drop
)

func (m Mode) String() string {
	switch m {
	case Open:
		return "open"
	case Stall:
		return "stall"
	case Drop:
		return "drop"
	}
	return "mode?"
}

// DialTimeout bounds one dial of a proxy's target.
const DialTimeout = 5 * time.Second

// bufSize is each direction's read buffer: the most a stalled link holds.
const bufSize = 64 << 10

// ErrClosed is returned by Listen on a closed Fabric.
var ErrClosed = errors.New("faultproxy: fabric closed")

// Options configure a Fabric.
type Options struct {
	// Source names the node that dialed a connection, given the dialer's
	// address (the accepted connection's remote address); "" for a client
	// that is no node, or when unknown. Called once per accepted connection,
	// from the goroutine that serves it. nil: every source is "".
	Source func(remote net.Addr) string
}

// Fabric is a set of proxies and the cuts that apply to all of them.
type Fabric struct {
	source func(net.Addr) string
	wg     sync.WaitGroup // accept loops and link goroutines

	mu struct {
		sync.Mutex
		cut     map[string]Mode    // node → how it is cut off; absent = Open
		changed chan struct{}      // closed and replaced on every Cut, Heal and Close
		links   map[*link]struct{} // links being served
		proxies []*Proxy
		closed  bool
	}
}

// New returns an empty Fabric; add proxies with Listen, and Close it.
func New(o Options) *Fabric {
	f := &Fabric{source: o.Source}
	if f.source == nil {
		f.source = func(net.Addr) string { return "" }
	}
	f.mu.cut = make(map[string]Mode)
	f.mu.changed = make(chan struct{})
	f.mu.links = make(map[*link]struct{})
	return f
}

// Stats count a proxy's connections.
type Stats struct {
	Accepted  int64 // connections accepted
	Anonymous int64 // accepted ones whose source had no name
	Refused   int64 // closed on accept by a Drop cut, or because the target could not be dialed
	Dropped   int64 // open links closed by a Drop cut
}

// Proxy forwards the connections accepted on its address to its target,
// which belongs to node.
type Proxy struct {
	f      *Fabric
	node   string
	target string
	ln     net.Listener

	accepted, anonymous, refused, dropped atomic.Int64
}

// Listen starts a proxy on addr (host:port; port 0 picks one) that forwards
// to target, an address of node. It fails when addr cannot be listened on or
// the Fabric is closed; the Fabric owns the proxy and stops it on Close.
func (f *Fabric) Listen(node, addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{f: f, node: node, target: target, ln: ln}
	f.mu.Lock()
	if f.mu.closed {
		f.mu.Unlock()
		ln.Close()
		return nil, ErrClosed
	}
	f.mu.proxies = append(f.mu.proxies, p)
	f.wg.Add(1)
	f.mu.Unlock()
	go p.acceptLoop()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Node is the node the proxy's target belongs to.
func (p *Proxy) Node() string { return p.node }

// Stats returns the proxy's counters so far.
func (p *Proxy) Stats() Stats {
	return Stats{Accepted: p.accepted.Load(), Anonymous: p.anonymous.Load(),
		Refused: p.refused.Load(), Dropped: p.dropped.Load()}
}

// Cut cuts node off in mode m (Open is Heal): every link to or from it,
// present and future, until Heal. A Drop closes the present links at once.
func (f *Fabric) Cut(node string, m Mode) {
	f.mu.Lock()
	if m == Open {
		delete(f.mu.cut, node)
	} else {
		f.mu.cut[node] = m
	}
	close(f.mu.changed)
	f.mu.changed = make(chan struct{})
	var drop []*link
	for l := range f.mu.links {
		if f.modeLocked(l) == Drop {
			drop = append(drop, l)
		}
	}
	f.mu.Unlock()
	for _, l := range drop {
		l.markDropped()
		l.close(true)
	}
}

// Heal ends node's cut: stalled links carry on, new connections are
// forwarded.
func (f *Fabric) Heal(node string) { f.Cut(node, Open) }

// Cuts returns the nodes cut off now and how.
func (f *Fabric) Cuts() map[string]Mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]Mode, len(f.mu.cut))
	for k, v := range f.mu.cut {
		m[k] = v
	}
	return m
}

// Close stops every proxy, closes every link and waits for their
// goroutines. It returns the first listener close error.
func (f *Fabric) Close() error {
	f.mu.Lock()
	if f.mu.closed {
		f.mu.Unlock()
		return nil
	}
	f.mu.closed = true
	close(f.mu.changed)
	f.mu.changed = make(chan struct{})
	proxies := f.mu.proxies
	links := make([]*link, 0, len(f.mu.links))
	for l := range f.mu.links {
		links = append(links, l)
	}
	f.mu.Unlock()
	var err error
	for _, p := range proxies {
		if e := p.ln.Close(); e != nil && err == nil {
			err = e
		}
	}
	for _, l := range links {
		l.close(false)
	}
	f.wg.Wait()
	return err
}

// modeLocked is how l is cut now: the stronger of its ends' cuts, Open when
// the Fabric is closed (a closed link is torn down by its own goroutines).
func (f *Fabric) modeLocked(l *link) Mode {
	m := f.mu.cut[l.p.node]
	if l.src != "" {
		m = max(m, f.mu.cut[l.src])
	}
	return m
}

func (p *Proxy) acceptLoop() {
	defer p.f.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		p.accepted.Add(1)
		l := &link{p: p, in: c, done: make(chan struct{})}
		f := p.f
		f.mu.Lock()
		if f.mu.closed {
			f.mu.Unlock()
			c.Close()
			return
		}
		f.wg.Add(1)
		f.mu.Unlock()
		go l.serve()
	}
}

// link is one forwarded connection: in (accepted) ↔ out (dialed).
type link struct {
	p    *Proxy
	in   net.Conn
	src  string        // the dialer's node name; set under Fabric.mu before the link joins Fabric.mu.links
	done chan struct{} // closed by close

	once    sync.Once
	dropped atomic.Bool // the link was counted as dropped
	mu      sync.Mutex
	out     net.Conn // guarded by mu: set once dialed, closed by close
}

// close tears the link down, both connections: with a reset when rst (a
// cut), else with a FIN after what was written. Only the first call acts.
func (l *link) close(rst bool) {
	l.once.Do(func() {
		close(l.done)
		closeConn(l.in, rst)
		l.mu.Lock()
		if l.out != nil {
			closeConn(l.out, rst)
		}
		l.mu.Unlock()
	})
}

// markDropped counts l as dropped by a cut, once.
func (l *link) markDropped() {
	if l.dropped.CompareAndSwap(false, true) {
		l.p.dropped.Add(1)
	}
}

// closeConn closes c, with a RST rather than a FIN when rst and c is TCP.
func closeConn(c net.Conn, rst bool) {
	if tc, ok := c.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// gate waits while l is stalled. It returns Open when l may forward; Drop
// when a cut drops it, or Stall when l or the Fabric was closed meanwhile;
// the caller closes l then.
func (l *link) gate() Mode {
	f := l.p.f
	for {
		f.mu.Lock()
		closed := f.mu.closed
		m := f.modeLocked(l)
		ch := f.mu.changed
		f.mu.Unlock()
		switch {
		case closed:
			return Stall
		case m == Drop:
			return Drop
		case m == Open:
			select {
			case <-l.done:
				return Stall
			default:
				return Open
			}
		}
		select {
		case <-ch:
		case <-l.done:
			return Stall
		}
	}
}

// serve names the source, waits out a stall, dials the target and pumps
// both ways until either side ends or a cut drops the link.
func (l *link) serve() {
	f := l.p.f
	defer f.wg.Done()
	defer func() {
		l.close(false)
		f.mu.Lock()
		delete(f.mu.links, l)
		f.mu.Unlock()
	}()
	src := f.source(l.in.RemoteAddr())
	if src == "" {
		l.p.anonymous.Add(1)
	}
	f.mu.Lock()
	if f.mu.closed {
		f.mu.Unlock()
		return
	}
	l.src = src
	f.mu.links[l] = struct{}{}
	f.mu.Unlock()
	if m := l.gate(); m != Open {
		if m == Drop {
			l.p.refused.Add(1)
			// A FIN: a reset of a connection never forwarded made
			// the next connect to the listener fail with a reset
			// too (seen on Linux loopback), which no firewall does.
			l.close(false)
		}
		return
	}
	out, err := net.DialTimeout("tcp", l.p.target, DialTimeout)
	if err != nil {
		l.p.refused.Add(1)
		return
	}
	l.mu.Lock()
	l.out = out
	l.mu.Unlock()
	select {
	case <-l.done: // closed while dialing
		closeConn(out, true)
		return
	default:
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.pump(out, l.in)
	}()
	l.pump(l.in, out)
	wg.Wait()
}

// pump copies src to dst through the gate until either fails; then it
// closes the link, which ends the other direction too. A link a cut drops
// counts as dropped.
func (l *link) pump(dst, src net.Conn) {
	defer l.close(false)
	buf := make([]byte, bufSize)
	pass := func() bool {
		switch l.gate() {
		case Open:
			return true
		case Drop:
			l.markDropped()
			l.close(true)
		}
		return false
	}
	for {
		if !pass() {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			if !pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

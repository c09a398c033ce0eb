package broker

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/valyala/bytebufferpool"
)

// ErrServerShutdown is the reason given to Transport.Close for connections
// closed by Server.Shutdown or accepted after it.
var ErrServerShutdown = errors.New("broker: server shutdown")

// ErrMaxConnections is the reason given to Transport.Close for a client
// refused because Options.MaxConnections clients are connected.
var ErrMaxConnections = errors.New("broker: maximum connections exceeded")

// maxConnectionsMsg is the -ERR text of a refused client, nats-server's.
const maxConnectionsMsg = "maximum connections exceeded"

// Server routes core NATS messages between client sessions. It is safe for
// concurrent use: every connection's Session runs on its own event loop and
// they meet in the Sublist and in the receivers' Transports.
type Server struct {
	opts  Options
	id    string
	start time.Time
	log   *slog.Logger
	// accounts are the subject spaces by name; global is "$G", and sl is
	// its Sublist (the one internal subscriptions and Send use).
	accounts *accountSet
	global   *Account
	sl       *Sublist
	// info is the INFO template, guarded by mu; Accept copies it and fills
	// the client fields.
	info codec.Info
	// bufs pools the buffers that gather small messages.
	bufs bytebufferpool.Pool
	// lines are fixed protocol lines; they are never modified (Transport
	// copies what it is given).
	lines struct{ ping, crlf []byte }

	mu struct {
		sync.Mutex
		// clients are the live sessions by client id.
		clients map[uint64]*client
		// shutdown is set by Shutdown; later Accepts are refused.
		shutdown bool
		// rand is Options.Rand, which need not be safe for concurrent
		// use.
		rand rand.Source
	}

	// cluster joins the server to its cluster's other members; nil when
	// not clustered. Set by NewCluster before clients are accepted.
	cluster *Cluster

	// limits are the client limits in force (SetLimits); never nil.
	limits atomic.Pointer[Limits]
	// authn decides logins (auth.go); nil lets every client in.
	authn atomic.Pointer[auth.Authenticator]

	// imports holds the service imports' reply mappings by exporting
	// account (imports.go); mu guards the map.
	imports struct {
		mu        sync.Mutex
		responses map[*Account]*responses
	}

	// events is the connection event handler (events.go).
	events connEvents

	nextCID atomic.Uint64
	stats   serverStats
}

// serverStats are server-wide counters, updated with atomics from every
// event loop.
type serverStats struct {
	totalConns    atomic.Int64
	refusedConns  atomic.Int64 // refused at MaxConnections
	inMsgs        atomic.Int64
	inBytes       atomic.Int64
	outMsgs       atomic.Int64
	outBytes      atomic.Int64
	slowConsumers atomic.Int64
	staleConns    atomic.Int64
	authFailures  atomic.Int64 // refused logins and login timeouts
}

// NewServer returns a Server with o's settings (zero fields take their
// defaults). It does not listen: netpoll hands it connections via Accept.
func NewServer(o Options) *Server {
	o = o.withDefaults()
	s := &Server{
		opts: o,
		log:  o.Logger,
	}
	s.accounts = newAccountSet(s, o.SublistCacheSize)
	s.global = s.accounts.get(GlobalAccountName)
	s.sl = s.global.sl
	s.start = o.Clock.Now()
	s.SetLimits(limitsOf(o))
	s.authn.Store(o.Auth)
	s.lines.ping = []byte(codec.PingLine)
	s.lines.crlf = []byte(crlf)
	s.mu.clients = make(map[uint64]*client)
	s.mu.rand = o.Rand
	s.id = newServerID(o.Rand)
	name := o.ServerName
	if name == "" {
		name = s.id
	}
	s.info = codec.Info{
		ServerID:   s.id,
		ServerName: name,
		Version:    NATSVersion,
		Proto:      1,
		Go:         runtime.Version(),
		Host:       o.Host,
		Port:       o.Port,
		Headers:    true,
		MaxPayload: o.MaxPayload,
		JetStream:  o.JetStream,
		JSAPILevel: jsapi.BargeAPILevel,
		// TLSRequired and TLSVerify below.
	}
	s.info.TLSRequired, s.info.TLSVerify = o.TLSRequired, o.TLSVerify
	return s
}

// newServerID returns an id shaped like nats-server's (an 'N' and 55
// base32 characters), drawn from src.
func newServerID(src rand.Source) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, 56)
	b[0] = 'N'
	for i := 1; i < len(b); i++ {
		b[i] = alphabet[src.Uint64()%uint64(len(alphabet))]
	}
	return string(b)
}

// ID returns the server id advertised in INFO.
func (s *Server) ID() string { return s.id }

// Sublist returns the global account's subscription index (shared, safe
// for concurrent use).
func (s *Server) Sublist() *Sublist { return s.sl }

// Accept registers a new client connection, sends it INFO and starts its
// keepalive. The returned Session must be fed from t's event loop. After
// Shutdown, t is closed with ErrServerShutdown and the Session returned
// ignores its input. With Options.MaxConnections clients connected, the
// client gets INFO and -ERR 'maximum connections exceeded', as from
// nats-server, and t is closed with ErrMaxConnections. Accept does not
// retain t beyond the Session's life.
func (s *Server) Accept(t Transport) Session {
	lim := s.limits.Load()
	c := newClient(s, t, lim)
	s.mu.Lock()
	if s.mu.shutdown {
		s.mu.Unlock()
		c.closed.Store(true)
		t.Close(ErrServerShutdown)
		return c
	}
	if n, lim := len(s.mu.clients), s.Limits().MaxConnections; lim < 0 || n >= lim {
		info := s.info
		s.mu.Unlock()
		s.refuse(c, &info, n)
		return c
	}
	c.rng = newConnRand(s.mu.rand)
	s.mu.clients[c.cid] = c
	info := s.info
	s.mu.Unlock()
	info.MaxPayload = c.maxPayload
	s.stats.totalConns.Add(1)

	info.ClientID = c.cid
	info.ClientIP = c.host
	c.sentURLs = info.ConnectURLs
	c.prepareAuth(&info)
	_ = t.Write(codec.AppendInfo(nil, &info))
	c.startKeepalive()
	s.log.Debug("client connected", "cid", c.cid, "addr", t.RemoteAddr())
	return c
}

// refuseGrace is how long a refused client may stay silent before it is
// closed: the connection is closed when it first sends (its CONNECT), so
// that the -ERR line is read before the close and the client reports it,
// rather than a write error on a connection already gone.
const refuseGrace = time.Second

// refuse turns c away at MaxConnections (n clients connected): INFO and the
// -ERR line now, the close at its first input (see Data) or after
// refuseGrace.
func (s *Server) refuse(c *client, info *codec.Info, n int) {
	c.closed.Store(true)
	c.refused = true
	s.stats.refusedConns.Add(1)
	info.ClientID, info.ClientIP = c.cid, c.host
	_ = c.t.Write(codec.AppendInfo(nil, info))
	c.sendErr(maxConnectionsMsg)
	c.mu.Lock()
	c.mu.timer = s.opts.Clock.AfterFunc(refuseGrace, func() { c.t.Close(ErrMaxConnections) })
	c.mu.Unlock()
	s.log.Warn("maximum connections exceeded, client refused", "addr", c.t.RemoteAddr(),
		"connections", n, "max_connections", s.Limits().MaxConnections)
}

// SetListenAddr records the address clients reached the server on, for the
// host and port fields of INFO (the listener may have picked the port).
func (s *Server) SetListenAddr(host string, port int) {
	s.mu.Lock()
	s.info.Host, s.info.Port = host, port
	s.mu.Unlock()
}

// Shutdown closes every client connection (each gets Transport.Close with
// ErrServerShutdown; their Sessions are then Closed by the transport) and
// refuses later Accepts. It does not wait for the Closed calls.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.mu.shutdown = true
	clients := make([]*client, 0, len(s.mu.clients))
	for _, c := range s.mu.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	for _, c := range clients {
		c.stopKeepalive()
		c.t.Close(ErrServerShutdown)
	}
}

// removeClient forgets c; called once from c.Closed.
func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	delete(s.mu.clients, c.cid)
	s.mu.Unlock()
}

// splitHostPort splits a "host:port" address, tolerating anything else.
func splitHostPort(addr string) (string, int) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(ps)
	return host, port
}

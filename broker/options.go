package broker

import (
	crand "crypto/rand"
	"github.com/bargemq/barge/auth"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/bargemq/barge/clock"
	"github.com/bargemq/barge/codec"
)

// NATSVersion is the server version advertised in INFO and /varz. Clients
// (nats.go, the nats CLI) compare it with the versions that introduced the
// features they use, so it names the nats-server release whose protocol and
// JetStream API barge follows, not barge's own release: 2.14, whose API
// (level 4, jsapi.BargeAPILevel) barge implements.
const NATSVersion = "2.14.0"

// Version is barge's own release.
const Version = "0.1.0"

// Defaults applied by NewServer to zero Options fields.
const (
	DefaultMaxPayload      = int64(1) << 30
	DefaultPingInterval    = 2 * time.Minute
	DefaultMaxPingsOut     = 2
	DefaultStreamThreshold = 64 << 10
	DefaultHost            = "0.0.0.0"
	DefaultPort            = 4222
	// DefaultMaxConnections is nats-server's default max_connections.
	DefaultMaxConnections = 64 * 1024
)

// Options configure a Server. The zero value is usable: every zero field
// takes the default named on it.
type Options struct {
	// ServerName is advertised as server_name (default: the server id).
	ServerName string
	// MaxPayload is the largest PUB/HPUB total size accepted and
	// advertised as max_payload (default DefaultMaxPayload, 1 GiB).
	MaxPayload int64
	// MaxControlLine bounds a control line's arguments (default
	// codec.DefaultMaxControlLine).
	MaxControlLine int
	// MaxHeaderSize bounds an HPUB header block (default
	// codec.DefaultMaxHeaderSize).
	MaxHeaderSize int
	// PingInterval is how often the server PINGs each client (default
	// DefaultPingInterval, 2m).
	PingInterval time.Duration
	// MaxPingsOut is how many unanswered PINGs a client may have; at the
	// next tick it is closed with -ERR 'Stale Connection' (default 2).
	MaxPingsOut int
	// JetStream is advertised as the INFO jetstream flag.
	JetStream bool
	// TLSRequired and TLSVerify are advertised in INFO (tls_required,
	// tls_verify): the client port is TLS-only, and with TLSVerify clients
	// must present a certificate. The transport does the TLS.
	TLSRequired, TLSVerify bool
	// MaxConnections is the most client connections served at once (default
	// DefaultMaxConnections; negative refuses every client). A client over
	// it gets INFO, then -ERR 'maximum connections exceeded', and is closed.
	MaxConnections int
	// Host and Port are advertised in INFO (defaults DefaultHost and
	// DefaultPort); the broker does not listen itself.
	Host string
	Port int
	// StreamThreshold decides how a published payload is forwarded to live
	// subscribers. A message whose total size (headers plus body) is at
	// most StreamThreshold is gathered into one pooled buffer and handed to
	// each receiver with a single Transport.Write; a larger one is
	// forwarded piece by piece through a Transport.BeginStream per receiver
	// as it arrives, so memory use does not grow with the message. The
	// default, 64 KiB, keeps the per-publisher buffer small while making
	// the per-message stream bookkeeping negligible next to the bytes moved.
	// A negative value streams every message.
	StreamThreshold int
	// Clock is the time source for keepalives and statistics (default
	// SystemClock).
	Clock Clock
	// Rand seeds the server id and the per-connection generators that pick
	// queue group members (default: a ChaCha8 seeded from crypto/rand). It
	// is only used under the server's lock.
	Rand rand.Source
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
	// Auth decides client logins and permissions; nil lets every client
	// in with no restriction. Server.SetAuth replaces it.
	Auth *auth.Authenticator
	// MaxSubs is max_subscriptions: the most subscriptions one connection
	// may hold (0: no limit). A user's own limit (auth.Identity.MaxSubs)
	// may lower it.
	MaxSubs int
	// SublistCacheSize bounds the subject match cache (default
	// DefaultSublistCacheSize).
	SublistCacheSize int
}

// Clock is the time a Server runs on (the clock package's Clock). Tests
// inject a clock they advance by hand; SystemClock is the real one.
type Clock = clock.Clock

// Timer is a pending AfterFunc call.
type Timer = clock.Timer

// SystemClock is the wall clock, backed by package time.
type SystemClock = clock.System

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	l := limitsOf(o).withDefaults()
	o.MaxPayload, o.MaxControlLine, o.PingInterval, o.MaxPingsOut, o.MaxConnections =
		l.MaxPayload, l.MaxControlLine, l.PingInterval, l.MaxPingsOut, l.MaxConnections
	if o.MaxHeaderSize <= 0 {
		o.MaxHeaderSize = codec.DefaultMaxHeaderSize
	}
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.StreamThreshold == 0 {
		o.StreamThreshold = DefaultStreamThreshold
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Rand == nil {
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		o.Rand = rand.NewChaCha8(seed)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// newConnRand derives an independent generator for one connection from the
// server's source; the caller holds the server lock.
func newConnRand(src rand.Source) *rand.Rand {
	return rand.New(rand.NewPCG(src.Uint64(), src.Uint64()))
}

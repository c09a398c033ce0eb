package broker

import (
	"time"

	"github.com/bargemq/barge/codec"
)

// Limits are the client settings a configuration reload may change while
// the server runs (Server.SetLimits). Zero fields take Options' defaults.
type Limits struct {
	// MaxPayload and MaxControlLine bound what a connection may send. A
	// connection takes them when it is accepted (its INFO announces that
	// max_payload) and keeps them: one accepted before a reload is not held
	// to a limit it was never told.
	MaxPayload     int64
	MaxControlLine int
	// PingInterval and MaxPingsOut drive the keepalive of every connection,
	// from its next tick.
	PingInterval time.Duration
	MaxPingsOut  int
	// MaxConnections is Options.MaxConnections: a client accepted past it
	// is refused; clients already connected stay.
	MaxConnections int
}

// limitsOf returns the Limits part of o.
func limitsOf(o Options) Limits {
	return Limits{MaxPayload: o.MaxPayload, MaxControlLine: o.MaxControlLine,
		PingInterval: o.PingInterval, MaxPingsOut: o.MaxPingsOut, MaxConnections: o.MaxConnections}
}

// withDefaults returns l with every zero field set to Options' default.
func (l Limits) withDefaults() Limits {
	if l.MaxPayload <= 0 {
		l.MaxPayload = DefaultMaxPayload
	}
	if l.MaxControlLine <= 0 {
		l.MaxControlLine = codec.DefaultMaxControlLine
	}
	if l.PingInterval <= 0 {
		l.PingInterval = DefaultPingInterval
	}
	if l.MaxPingsOut <= 0 {
		l.MaxPingsOut = DefaultMaxPingsOut
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	return l
}

// SetLimits changes the client limits: new connections get the new
// max_payload and max_control_line (and INFO says so), every connection
// the new keepalive from its next tick. It is safe for concurrent use.
func (s *Server) SetLimits(l Limits) {
	l = l.withDefaults()
	s.limits.Store(&l)
}

// Limits returns the client limits in force.
func (s *Server) Limits() Limits { return *s.limits.Load() }

package netpoll

import "sync/atomic"

// outLimits are the outbound budgets a configuration reload may change
// (Server.SetOutboundLimits). Every connection reads them at each write, so
// a change applies to all of them from their next write.
type outLimits struct {
	watermark  atomic.Int64 // Options.WriteWatermark
	maxPending atomic.Int64 // Options.MaxPending
}

// SetOutboundLimits changes Options.WriteWatermark and Options.MaxPending
// (a value <= 0 takes the default). Bytes already queued stay where they
// are: a lower watermark stages later writes, a lower max_pending cuts a
// connection at its next write past it. Safe for concurrent use.
func (s *Server) SetOutboundLimits(watermark int, maxPending int64) {
	o := Options{WriteWatermark: watermark, MaxPending: maxPending}.withDefaults()
	s.out.watermark.Store(int64(o.WriteWatermark))
	s.out.maxPending.Store(o.MaxPending)
}

// watermarkBytes is the in-memory outbound budget per connection.
func (s *Server) watermarkBytes() int64 { return s.out.watermark.Load() }

// maxPendingBytes is the outbound budget before a slow-consumer cut.
func (s *Server) maxPendingBytes() int64 { return s.out.maxPending.Load() }

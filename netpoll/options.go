package netpoll

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/bargemq/barge/codec"
)

// Options configures a Server. Zero fields take the documented defaults.
type Options struct {
	// Addr is the host:port to listen on; port 0 picks a free port (see
	// Server.Addr). Default "127.0.0.1:0".
	Addr string
	// Loops is the number of gnet event loops. Default runtime.NumCPU().
	Loops int
	// WriteWatermark is the in-memory outbound budget per connection in
	// bytes: queued chunks plus gnet's outbound buffer. Past it, outbound
	// bytes are staged in the spill file. Default 8 MiB.
	WriteWatermark int
	// MaxPending is the most bytes a connection may have queued, in memory
	// and staged together, before it is cut as a slow consumer. It is a disk
	// budget rather than a memory one. Default 1 GiB. A connection is also
	// cut when its bytes cannot be staged (see Staging).
	MaxPending int64
	// SpillDir is the directory for per-connection spill files when Staging
	// is nil. Default os.TempDir(); point it at a disk, not a tmpfs, in
	// production.
	SpillDir string
	// Staging is the disk budget of the spill files, which may be shared
	// with other Servers. nil: a budget of the Server's own over SpillDir
	// with StagingOptions' defaults (no fixed cap, 5% of the disk kept
	// free).
	Staging *Staging
	// FlushTimeout bounds how long Transport.Close, a Session.Data error or a
	// slow-consumer cut waits for queued bytes to flush. Default 2s.
	FlushTimeout time.Duration
	// DrainInterval is how often connections with a backlog are revisited
	// to refill gnet's outbound buffer. Default 1ms.
	DrainInterval time.Duration
	// ReadBufferCap is the most bytes gnet reads from a socket per read(2)
	// (rounded up to a power of two; one buffer per event loop). Large
	// payloads need fewer reads with a larger one. Default 1 MiB.
	ReadBufferCap int
	// Now is the clock used for flush deadlines. Default time.Now.
	Now func() time.Time
	// TLS, when set, serves every connection over TLS (see TLSOptions).
	TLS *TLSOptions
	// Logger receives connection-level events (slow consumers, spill
	// errors) and gnet's own log. Default: discard.
	Logger *slog.Logger
}

const (
	defaultWatermark     = 8 << 20
	defaultMaxPending    = 1 << 30
	defaultFlushTimeout  = 2 * time.Second
	defaultDrainInterval = time.Millisecond
	defaultReadBufferCap = 1 << 20
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Loops <= 0 {
		o.Loops = runtime.NumCPU()
	}
	if o.WriteWatermark <= 0 {
		o.WriteWatermark = defaultWatermark
	}
	if o.MaxPending <= 0 {
		o.MaxPending = defaultMaxPending
	}
	if o.SpillDir == "" {
		o.SpillDir = os.TempDir()
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = defaultFlushTimeout
	}
	if o.DrainInterval <= 0 {
		o.DrainInterval = defaultDrainInterval
	}
	if o.ReadBufferCap <= 0 {
		o.ReadBufferCap = defaultReadBufferCap
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

var (
	// ErrClosed is returned by writes to a transport that is closed or
	// closing. Every other connection-ending error below wraps it.
	ErrClosed = errors.New("netpoll: connection closed")
	// ErrSlowConsumer is returned by the write that pushed a connection past
	// MaxPending or could not be staged (later writes get ErrClosed); the
	// reason handed to Session.Closed wraps it with the detail.
	// errors.Is(ErrSlowConsumer, ErrClosed) holds. It also wraps
	// codec.ErrSlowConsumer, which the broker counts.
	ErrSlowConsumer = fmt.Errorf("%w: %w", ErrClosed, codec.ErrSlowConsumer)
	// ErrStreamAborted is the reason handed to Session.Closed when a stream
	// was aborted after some of its bytes had reached the socket.
	ErrStreamAborted = fmt.Errorf("%w: stream aborted mid-message", ErrClosed)
	// ErrServerShutdown is the reason handed to Session.Closed for
	// connections closed by Server.Shutdown.
	ErrServerShutdown = fmt.Errorf("%w: server shutting down", ErrClosed)
	// ErrStreamDone is returned by Stream.Write after End or Abort.
	ErrStreamDone = errors.New("netpoll: stream already ended")
)

// slowConsumerLine is what a client cut as a slow consumer is told, in
// nats-server's wording.
const slowConsumerLine = "-ERR 'Slow Consumer'\r\n"

package log

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bargemq/barge/clock"
)

// Discard chooses what happens when MaxMsgs or MaxBytes is reached.
type Discard uint8

const (
	// DiscardOld drops the oldest messages to make room (the default).
	DiscardOld Discard = iota
	// DiscardNew rejects the new message with ErrMaxMsgs or ErrMaxBytes.
	DiscardNew
)

// Compression chooses how payloads are stored at rest.
type Compression uint8

const (
	// CompressionNone stores payloads as they came (zero-copy reads).
	CompressionNone Compression = iota
	// CompressionS2 compresses each payload or chunk with s2 (block format).
	// Loaded messages then carry Compressed extents: read them with
	// ReadPayload, not by sending the extents.
	CompressionS2
)

// Storage chooses where the log lives.
type Storage uint8

const (
	// FileStorage keeps segments in the stream directory (the default).
	FileStorage Storage = iota
	// MemoryStorage keeps the same segments in process memory; nothing
	// survives Close. Same API, same behaviour otherwise.
	MemoryStorage
)

// Config is the per-stream part: limits, compression, storage kind. Zero or
// negative limits mean unlimited. It can change with UpdateConfig (except
// Storage and FirstSeq).
type Config struct {
	MaxMsgs           int64         // messages kept; oldest dropped (DiscardOld) or new rejected
	MaxBytes          int64         // bytes kept, each message counted as MsgSize (nats-server's figure)
	MaxAge            time.Duration // messages older than this are dropped
	MaxMsgsPerSubject int64         // per-subject cap; always drops that subject's oldest
	Discard           Discard
	Compression       Compression
	Storage           Storage
	// FirstSeq is the sequence of the first message of a new log (0 or 1:
	// 1). Open applies it only when it creates the log (no segment
	// survived recovery); an existing log keeps its sequences, and
	// UpdateConfig ignores it. The empty log reports FirstSeq = FirstSeq
	// and LastSeq = FirstSeq-1, as nats-server's stores do.
	FirstSeq uint64
	// Rules are the Checker's settings (Options.Checker; see check.go),
	// opaque to the log. Changed with UpdateConfig like the limits, so the
	// Checker sees each change at one point of the log (View.Rules).
	Rules string
}

// SyncPolicy chooses when a commit is durable.
type SyncPolicy uint8

const (
	// SyncAlways: Commit returns only after the record is fsynced; one fsync
	// completes every writer waiting at that moment (group commit).
	SyncAlways SyncPolicy = iota
	// SyncInterval: Commit returns once the record is written to the OS; a
	// background flush fsyncs every Options.SyncInterval. A crash can lose
	// that window.
	SyncInterval
)

// Clock is the injected time source (the clock package's Clock). AfterFunc
// runs f on its own goroutine after d, like time.AfterFunc.
type Clock = clock.Clock

// Timer is what Clock.AfterFunc returns.
type Timer = clock.Timer

// SystemClock is the real clock (time.Now, time.AfterFunc).
type SystemClock = clock.System

// Options are the process-side settings: seams and tuning. The zero value is
// valid: OS file system, system clock, no logging, SyncAlways.
type Options struct {
	FS           FS            // file system seam; nil = the OS
	Clock        Clock         // time source; nil = SystemClock
	Logger       *slog.Logger  // recovery reports and I/O errors; nil = discard
	Sync         SyncPolicy    // default SyncAlways
	SyncInterval time.Duration // for SyncInterval; default 1s
	SegmentSize  int64         // roll threshold; default 64 MiB
	ChunkSize    int           // large payloads are stored in chunks of this size; default 1 MiB
	// CompactThreshold: after each segment roll, sealed segments whose
	// live data is below this fraction of their size (at most 1) are
	// rewritten in the background (see Log.Compact). 0 =
	// DefaultCompactThreshold; < 0 = never (only explicit Compact calls).
	CompactThreshold float64
	// VerifyRate paces the background verification of the segments that
	// were sealed when the log was opened (verify.go), in bytes read per
	// second. 0 = DefaultVerifyRate; < 0 = no background verification.
	VerifyRate int64
	// Replica marks the log of a stream replica: it is written only through
	// the Apply methods (replica.go), and recovery keeps exactly what the
	// last applied marker covers. It must be the same at every Open.
	Replica bool
	// Checker, if set, decides in log order whether each message may be
	// stored (check.go). A replica log's Checker must decide from the log
	// and the message alone, so every replica decides alike.
	Checker Checker
	// AsyncBatchDone, if set, is called on the notifier goroutine after the
	// done callbacks of one group commit's CommitAsync ops have all
	// returned (a caller that queued their PubAcks without sending flushes
	// them here, one write per client per fsync). It must not block.
	AsyncBatchDone func()
}

// Defaults.
const (
	DefaultSegmentSize  = 64 << 20
	DefaultChunkSize    = 1 << 20
	DefaultSyncInterval = time.Second
	DefaultVerifyRate   = 64 << 20
	minChunkSize        = 4 << 10
	maxChunkSize        = 64 << 20
)

func (o *Options) fill(storage Storage) error {
	if storage == MemoryStorage {
		o.FS = NewMemFS()
	} else if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.VerifyRate == 0 {
		o.VerifyRate = DefaultVerifyRate
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.ChunkSize < minChunkSize || o.ChunkSize > maxChunkSize {
		return fmt.Errorf("%w: chunk size %d outside [%d, %d]", ErrConfig, o.ChunkSize, minChunkSize, maxChunkSize)
	}
	return nil
}

func (c *Config) validate() error {
	if c.Discard > DiscardNew || c.Compression > CompressionS2 || c.Storage > MemoryStorage {
		return fmt.Errorf("%w: unknown discard, compression or storage value", ErrConfig)
	}
	return nil
}

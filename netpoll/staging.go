package netpoll

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// SpillFS is where connections' spill files live. The default, OSSpillFS,
// is the real file system; tests inject one whose writes fail to exercise a
// full disk.
type SpillFS interface {
	// Create returns a new, empty file in dir that nothing else can open
	// (OSSpillFS unlinks it at once, so it vanishes with the process).
	Create(dir string) (SpillFile, error)
	// Usage reports the free bytes (available to this process) and the
	// total bytes of the file system holding dir.
	Usage(dir string) (free, total int64, err error)
}

// SpillFile is one connection's spill file. Only the connection's own
// goroutines use it, one call at a time for WriteAt/Truncate/Close, while
// ReadAt and Punch may run beside a WriteAt on another range.
type SpillFile interface {
	io.ReaderAt
	io.WriterAt
	// Truncate empties the file when nothing staged remains.
	Truncate(size int64) error
	// Punch frees the blocks of [off, off+n) that have been read back; best
	// effort (a file system without hole punching keeps them until
	// Truncate).
	Punch(off, n int64)
	Close() error
}

// OSSpillFS is the real file system.
type OSSpillFS struct{}

// Create makes a temporary file in dir and unlinks it.
func (OSSpillFS) Create(dir string) (SpillFile, error) {
	f, err := os.CreateTemp(dir, "barge-spill-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, err
	}
	return osSpillFile{f}, nil
}

// Usage asks statfs(2) about dir's file system.
func (OSSpillFS) Usage(dir string) (free, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := int64(st.Bsize) //nolint:unconvert // Bsize's type differs by platform
	return int64(st.Bavail) * bs, int64(st.Blocks) * bs, nil
}

type osSpillFile struct{ *os.File }

// Punch frees the disk blocks wholly inside [off, off+n).
func (f osSpillFile) Punch(off, n int64) {
	start := (off + punchAlign - 1) &^ (punchAlign - 1)
	end := (off + n) &^ (punchAlign - 1)
	if end <= start {
		return
	}
	_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, start, end-start)
}

// StagingOptions configure a Staging budget. Zero fields take the defaults.
type StagingOptions struct {
	// Dir is the directory for spill files. Default os.TempDir(); point it
	// at a disk, not a tmpfs, in production.
	Dir string
	// Max is the most bytes all connections together may hold staged at
	// once. 0: no fixed cap, only the free-space rule below.
	Max int64
	// Reserve is the free space staging leaves to everything else on Dir's
	// file system (the streams' logs): a spill write that would bring the
	// file system's free space under it is refused. Default 5% of the file
	// system's size; negative: none.
	Reserve int64
	// FS creates spill files and reports free space. Default OSSpillFS.
	FS SpillFS
	// Now is the clock that ages the free-space figure. Default time.Now.
	Now func() time.Time
}

// freshness is how long a statfs reading stands in for the file system's
// free space (adjusted by what staging itself added or released since);
// other writers to the disk are noticed within it.
const freshness = 100 * time.Millisecond

// Staging is the disk budget of spill files, shared by every connection of
// the Servers given it (a client listener and a route listener on one disk
// share one). A spill write first reserves its bytes; bytes are released as
// they are read back or dropped. A refused reservation cuts the connection
// as a slow consumer. Safe for concurrent use.
type Staging struct {
	dir     string
	max     atomic.Int64 // the fixed budget; 0: none (SetMax)
	reserve int64        // < 0 until the first Usage reading when defaulted
	fs      SpillFS
	now     func() time.Time

	used atomic.Int64 // bytes reserved: staged and not yet read back
	// buffered: bytes of used still in connections' spill buffers, not
	// written to their files yet, so not in a statfs reading either.
	buffered atomic.Int64

	mu struct {
		sync.Mutex
		at     time.Time // when free was read; zero: never
		free   int64     // statfs's free bytes at that time
		usedAt int64     // used at that time
		err    error     // that reading's error
	}
}

// NewStaging returns a budget over o.Dir.
func NewStaging(o StagingOptions) *Staging {
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if o.FS == nil {
		o.FS = OSSpillFS{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st := &Staging{dir: o.Dir, fs: o.FS, now: o.Now, reserve: o.Reserve}
	st.max.Store(max(o.Max, 0))
	switch {
	case o.Reserve == 0:
		st.reserve = -1 // defaulted at the first reading
	case o.Reserve < 0:
		st.reserve = 0
	}
	return st
}

// Dir is the directory spill files are created in.
func (st *Staging) Dir() string { return st.dir }

// Max is the fixed cap on staged bytes (0: none).
func (st *Staging) Max() int64 { return st.max.Load() }

// SetMax changes the fixed budget (0: none). Bytes already staged stay;
// a lower budget refuses the next stage past it. Safe for concurrent use.
func (st *Staging) SetMax(n int64) { st.max.Store(max(n, 0)) }

// Used is the number of bytes staged now, all connections together.
func (st *Staging) Used() int64 { return st.used.Load() }

// Errors a reservation fails with; the connection is then cut as a slow
// consumer with the error as detail.
var (
	errStagingBudget = errors.New("staging budget exhausted")
	errStagingDisk   = errors.New("staging would eat into the disk's free-space reserve")
)

// acquire reserves n bytes of staging or says why not.
func (st *Staging) acquire(n int64) error {
	used := st.used.Add(n)
	if m := st.max.Load(); m > 0 && used > m {
		st.used.Add(-n)
		return fmt.Errorf("%w (max_staging %d bytes)", errStagingBudget, m)
	}
	if err := st.room(used, n); err != nil {
		st.used.Add(-n)
		return err
	}
	return nil
}

// release returns n bytes reserved by acquire.
func (st *Staging) release(n int64) {
	if n != 0 {
		st.used.Add(-n)
	}
}

// room checks that staging up to used bytes (the last n of them not written
// yet) leaves the file system its reserve. It reads statfs at most every
// freshness, and once more before it refuses, so space freed by others since
// the last reading counts.
func (st *Staging) room(used, n int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	fresh := false
	if st.mu.at.IsZero() || now.Sub(st.mu.at) >= freshness {
		st.readLocked(now, used-n-st.buffered.Load())
		fresh = true
	}
	for {
		if st.mu.err != nil {
			return fmt.Errorf("staging: reading free space: %w", st.mu.err)
		}
		// Staging's own growth since the reading is not in it yet.
		free := st.mu.free - (used - st.mu.usedAt)
		if free >= st.reserve {
			return nil
		}
		if fresh {
			return fmt.Errorf("%w (%d bytes free, reserve %d)", errStagingDisk, max(free, 0), st.reserve)
		}
		st.readLocked(now, used-n-st.buffered.Load())
		fresh = true
	}
}

// readLocked takes a statfs reading, which already holds the used bytes
// written so far; the first one also sets a defaulted reserve.
func (st *Staging) readLocked(now time.Time, used int64) {
	free, total, err := st.fs.Usage(st.dir)
	st.mu.at, st.mu.free, st.mu.usedAt, st.mu.err = now, free, used, err
	if err == nil && st.reserve < 0 {
		st.reserve = total / 20
	}
}

package log

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Log is the store of one stream: a directory of segments, an in-memory
// index rebuilt from them at Open, and a group-commit writer.
//
// Concurrency: every method is safe for concurrent use. Appenders are
// independent until Commit, which orders them: chunk records of different
// messages interleave in the segments, and the commit (or whole-message)
// record assigns the sequence. A committed message becomes visible to
// readers (LoadMsg, State, Wait) only once it is durable per the sync policy,
// and in sequence order.
//
// Lock order: w, then mu; sq is never held together with mu.
type Log struct {
	dir     string
	opts    Options
	fs      FS
	storage Storage // cfg.Storage at Open; it never changes (read without locks)

	// w serializes writes to the active segment.
	w struct {
		sync.Mutex
		active  *segment // segment being appended to
		off     int64    // end of valid data in active
		nextSeq uint64   // sequence the next commit gets
		lastTs  int64    // timestamp of the last commit (timestamps never go back)
		nextTxn uint64   // id for the next chunked message
		closed  bool
		cfg     Config // copy of mu.cfg for the writers' checks
		// ck is what the Checker set through its View for the message
		// being decided (checkLocked; read before l.w is released).
		ck checkOut
		// pend holds small records written at pendOff.. in active but not
		// yet in the file (see writeLocked); the group commit leader writes
		// them out with one pwrite before it syncs or publishes anything.
		pend    []byte
		pendOff int64
		// Write-failure recovery (writefail.go).
		good    segPos        // durable point: everything before it is durable or acknowledged
		epoch   uint64        // bumped by every rollback
		failed  bool          // a write failed and the rollback to good is not done yet
		streak  bool          // failures since the last successful batch (logged once)
		retryAt int64         // unix ns; after a rollback writes are refused until then
		backoff time.Duration // the last retry backoff
		lastErr error         // the last write error (for appenders rolled back)
		// Replica logs: the last sequence and timestamp the last applied
		// marker covers, which a new segment's header records (see
		// replica_recover.go).
		markSeq uint64
		markTs  int64
	}
	werr      atomic.Pointer[errBox]  // write error: writes refused (writefail.go)
	inactive  atomic.Bool             // Open has not returned yet, or Close has begun: no settle kicks
	activeSeg atomic.Pointer[segment] // w.active, for the syncing leader

	// mu guards what readers see.
	mu struct {
		sync.RWMutex
		closed  bool
		cfg     Config
		idx     index
		segs    []*segment    // all segments, by id; the last is the active one
		changed chan struct{} // closed and replaced whenever LastSeq or the index changes
		ev      evictLog      // limit evictions not yet logged (evict.go)
		// retired are the files of segments replaced by compaction, kept
		// open until Close for extents loaded before (compact.go).
		retired []File
		// doomed are segments dropped from the front of the log, waiting
		// for the reaper to close and remove them; reaping: it runs.
		doomed  []*segment
		reaping bool
	}
	// reaper tracks the goroutine that removes doomed segments (reap).
	reaper sync.WaitGroup

	// compacting serializes Compact runs.
	compacting sync.Mutex
	// testHook, when set by a test, is called at the named steps of a
	// compaction (crash-point tests).
	testHook func(step string)

	// sq is the group-commit queue: operations whose records are written
	// (in file order) but not yet synced and applied to the index.
	sq struct {
		sync.Mutex
		cond    sync.Cond
		queue   []*op
		spare   []*op
		leading bool // a goroutine is syncing and applying a batch
		// runner: a committer goroutine (runAsync) is leading batches for
		// CommitAsync; it exits once nothing is queued or being led.
		runner bool
		// done holds CommitAsync operations whose batch is finished, in
		// commit order, for the notifier goroutine to call back.
		done []*op
		// notifying: a notifier goroutine (notifyAsync) is draining done.
		notifying bool
	}
	// async counts the runner and notifier goroutines, so Close can wait
	// until every CommitAsync callback has run.
	async sync.WaitGroup

	// bg guards the background timers.
	bg struct {
		sync.Mutex
		closed   bool
		flush    Timer // SyncInterval flusher
		expiry   Timer // MaxAge expiry
		expiryAt int64 // when expiry fires (unix ns)
		// compacting: a background compaction (kickCompact) runs;
		// compactAgain: a segment was sealed meanwhile, run once more.
		compacting, compactAgain bool
	}

	rep replicaState // Options.Replica: the apply path's state (replica.go)
	rf  raftLog      // Options.Replica: the raft entries and state (raftlog.go)
	vf  verifyState  // background verification of sealed segments (verify.go)

	pendingMsgs  atomic.Int64 // committed records not yet applied (DiscardNew checks)
	pendingBytes atomic.Int64
	bufs         sync.Pool // *[]byte chunk buffers
}

// Open opens (creating if needed) the log in dir and recovers it: every
// segment is scanned, a torn tail is truncated, records whose checksum fails
// are reported (State().Lost and the logger) and never served, and the
// indexes are rebuilt. With MemoryStorage dir only names the log and
// nothing is read. cfg is validated (ErrConfig).
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := opts.fill(cfg.Storage); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, fs: opts.FS, storage: cfg.Storage}
	l.vf.stop, l.vf.done = make(chan struct{}), make(chan struct{})
	l.inactive.Store(true) // a write failure in Open fails Open
	l.sq.cond.L = &l.sq.Mutex
	l.mu.cfg = cfg
	l.w.cfg = cfg
	l.mu.idx = newIndex(cfg.Storage)
	l.mu.changed = make(chan struct{})
	l.bufs.New = func() any { b := make([]byte, 0, l.bufCap()); return &b }
	var err error
	if cfg.Storage == FileStorage {
		// A new log's directory must survive a crash with its segments.
		err = MkdirDurable(l.fs, dir)
	} else {
		err = l.fs.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.w.Lock()
	if l.w.active == nil {
		// A new log (no segment survived recovery): it starts at
		// cfg.FirstSeq. Its first segment's header records FirstSeq-1 as
		// the last sequence before it, which is what keeps the start
		// across a restart.
		l.startAtLocked(cfg.FirstSeq)
		l.w.markSeq, l.w.markTs = l.w.nextSeq-1, l.w.lastTs
		err = l.createSegmentLocked()
	}
	if err == nil && l.rep.voidAtOpen {
		err = l.writeVoidLocked()
	}
	l.w.good = segPos{l.w.active, l.w.off}
	if ck := l.opts.Checker; ck != nil {
		ck.Reset(View{l: l})
	}
	l.w.Unlock()
	if err != nil {
		l.closeFiles()
		return nil, err
	}
	l.mu.Lock()
	l.applyLimitsLocked(l.opts.Clock.Now().UnixNano(), true)
	l.dropPrefixLocked()
	l.scheduleExpiryLocked()
	l.mu.Unlock()
	// Evictions made by recovery under cfg (a lowered limit) are logged
	// before the log is shared, so a later Open with a higher limit keeps
	// them evicted.
	if err := l.flushEvictions(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.mu.Lock()
	l.mu.ev.auto = l.mu.ev.on
	l.mu.Unlock()
	if opts.Sync == SyncInterval {
		l.bg.Lock()
		l.bg.flush = opts.Clock.AfterFunc(opts.SyncInterval, l.flush)
		l.bg.Unlock()
	}
	l.inactive.Store(false)
	l.startVerify()
	return l, nil
}

// startAtLocked makes an empty, never written log start at sequence first
// (0 and 1: the default start). l.w is held; the log is not shared yet.
func (l *Log) startAtLocked(first uint64) {
	if first <= 1 || l.w.nextSeq != 1 {
		return
	}
	l.mu.Lock()
	l.mu.idx.pad(first - 1)
	l.mu.Unlock()
	l.w.nextSeq = first
}

// msgSize is what a message counts toward Bytes and MaxBytes (MsgSize).
func (l *Log) msgSize(subjLen, hdrLen int, size int64) int64 {
	return MsgSize(l.storage, subjLen, hdrLen, size)
}

// bufCap is the capacity of pooled buffers: a chunk, or a small message
// with a generous subject and header.
func (l *Log) bufCap() int { return l.opts.ChunkSize + recHeaderSize + msgMetaSize + 64<<10 }

// flush is the SyncInterval flusher.
func (l *Log) flush() {
	l.w.Lock()
	_ = l.flushPendLocked()
	s := l.w.active
	f := s.f
	l.w.Unlock()
	if l.sticky() == nil {
		if err := f.Sync(); err != nil {
			l.w.Lock()
			if s == l.w.active { // else the roll synced it
				l.failLocked(fmt.Errorf("log: interval sync: %w", err))
			}
			l.w.Unlock()
		}
	}
	l.bg.Lock()
	if !l.bg.closed {
		l.bg.flush = l.opts.Clock.AfterFunc(l.opts.SyncInterval, l.flush)
	}
	l.bg.Unlock()
}

// Close applies and syncs whatever is committed, stops the background
// work, and closes the files. Appenders still open fail with ErrClosed;
// Wait returns ErrClosed. Close returns the write error that left the log
// without a consistent durable point (a rollback that failed), or the
// final sync's; closing twice returns nil.
func (l *Log) Close() error {
	l.w.Lock()
	if l.w.closed {
		l.w.Unlock()
		return nil
	}
	l.w.closed = true
	l.inactive.Store(true)
	l.w.Unlock()
	l.bg.Lock()
	l.bg.closed = true
	close(l.vf.stop)
	for _, t := range []Timer{l.bg.flush, l.bg.expiry} {
		if t != nil {
			t.Stop()
		}
	}
	l.bg.Unlock()
	l.mu.Lock()
	l.mu.ev.auto = false
	l.mu.Unlock()
	l.drain()
	l.async.Wait()
	// Log the evictions still pending; the final sync below makes them
	// durable. writeLocked refuses a closed log, so reopen it for this one
	// write (l.w is held throughout: no other writer sees it open). After
	// a write failure this is one more try, whatever the backoff.
	l.w.Lock()
	l.w.closed = false
	if !l.w.failed {
		l.w.retryAt = 0
	}
	l.writeEvictionsLocked(false)
	l.w.closed = true
	l.w.Unlock()
	l.drain()
	l.w.Lock()
	_ = l.flushPendLocked() // anything buffered reaches the file before the final sync
	var f File
	if s := l.w.active; s != nil {
		f = s.f
	}
	// A failure that was rolled back lost nothing: only one that could
	// not be is reported.
	var err error
	if l.w.failed {
		err = l.sticky()
	}
	l.w.Unlock()
	if f != nil && err == nil {
		if serr := f.Sync(); serr != nil {
			err = fmt.Errorf("log: final sync: %w", serr)
		}
	}
	l.mu.Lock()
	l.mu.closed = true
	close(l.mu.changed)
	l.mu.Unlock()
	l.reaper.Wait()
	l.closeFiles()
	return err
}

func (l *Log) closeFiles() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.mu.segs {
		s.f.Close()
	}
	for _, f := range l.mu.retired {
		f.Close()
	}
	l.mu.retired = nil
}

// State is a snapshot of the log.
type State struct {
	FirstSeq    uint64 // first live sequence; LastSeq+1 when empty
	LastSeq     uint64 // last sequence assigned (survives purges); 0 when never written
	FirstTime   int64  // unix ns of FirstSeq's message; 0 when empty
	LastTime    int64  // unix ns of the last commit; 0 when never written
	Msgs        uint64
	Bytes       uint64 // sum of MsgSize over the live messages (nats-server's figure)
	NumSubjects int
	NumDeleted  uint64   // interior sequences with no message (deleted, lost)
	Lost        []uint64 // sequences found damaged: at recovery, or by the verifier (verify.go)
	Segments    int
}

// State returns a snapshot. Lost is a fresh slice the caller owns.
func (l *Log) State() State {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x := &l.mu.idx
	st := State{FirstSeq: x.firstSeq(), LastSeq: x.last, LastTime: x.lastTs, Msgs: x.msgs, Bytes: x.bytes,
		NumSubjects: len(x.subjects), Segments: len(l.mu.segs)}
	if x.msgs > 0 {
		st.FirstTime = x.ents[0].ts
		st.NumDeleted = x.last - x.base + 1 - x.msgs
	}
	st.Lost = append([]uint64(nil), x.lost...)
	return st
}

// UpdateConfig changes the limits and compression (new writes only) and
// enforces the new limits at once. Evictions made under the old limits are
// made durable first, and those made by the new ones before it returns, so
// no restart (with either config) brings evicted messages back. Changing
// Storage is ErrConfig; also ErrClosed and the sticky write error. FirstSeq
// is used by Open only: a change is ignored.
func (l *Log) UpdateConfig(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	for {
		// Apply everything queued, so every eviction under the old
		// limits is known, and hold l.w so nothing new is queued.
		l.drain()
		l.w.Lock()
		if err := l.writableLocked(); err != nil {
			l.w.Unlock()
			return err
		}
		if l.queueEmpty() {
			break
		}
		l.w.Unlock()
	}
	if cfg.Storage != l.w.cfg.Storage {
		l.w.Unlock()
		return fmt.Errorf("%w: storage cannot change", ErrConfig)
	}
	l.writeEvictionsLocked(false) // synced before the config op applies
	l.w.cfg = cfg
	o := &op{kind: opConfig, cfg: cfg}
	l.enqueue(o)
	l.w.Unlock()
	if err := l.await(o); err != nil {
		return err
	}
	return l.flushEvictions()
}

package raft

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	pb "github.com/lni/dragonboat/v3/raftpb"

	"github.com/bargemq/barge/log"
)

// A shard's storage.
//
// Each shard this host runs keeps its raft log in a replica log.Log of its
// own (log/raftlog.go): a stream shard's is the stream's log, whose
// segments hold the raft entries and the messages applied from them; the
// meta shard's holds entries only. Beside the log, a small side file
// (raft.meta, replaced atomically: tmp, fsync, rename, directory fsync)
// keeps what changes rarely: Dragonboat's bootstrap record, its snapshot
// records, and which generation of the log is current. A store directory:
//
//	raft.meta     side file (format below)
//	log.<gen>/    the current log's segments
//
// A snapshot install builds the next generation beside the current one
// and switches to it by rewriting raft.meta; a generation that is not the
// current one is removed when the store opens.
//
// Side file format (format):
//
//	"BARGERFT" | version u32 | generation u64 | bootstrap len u32 |
//	bootstrap (Dragonboat's protobuf; 0 bytes: none) | nsnaps u32 |
//	nsnaps × (len u32 | snapshot record protobuf) | crc32c u32 of all before
const (
	metaFile      = "raft.meta"
	metaMagic     = "BARGERFT"
	metaVersion   = 1
	genPrefix     = "log."
	maxMetaRecord = 16 << 20
)

// ErrOldLayout: the store directory holds data in the layout of an earlier
// version (raft entries in Dragonboat's Pebble store, replica segments of
// format 1). See NewNodeHost for what to do.
var ErrOldLayout = errors.New("raft: data in an earlier on-disk layout")

// shardStore is one shard's raft storage on this host (see above). The
// ILogDB methods (logdb.go) and the shard's state machine use it.
type shardStore struct {
	id   uint64
	dir  string
	fs   log.FS
	cfg  log.Config
	opts log.Options
	db   *logDB

	// mu guards l and gen. The state machine and the ILogDB methods hold
	// it shared while they use l; a snapshot install holds it exclusively
	// while it swaps the log.
	mu  sync.RWMutex
	l   *log.Log // nil once released
	gen uint64

	// meta guards the side file's contents (and its writes). Lock order:
	// mu, then meta (a writer of the side file holds mu shared, so the
	// generation it records is the current one).
	meta struct {
		sync.Mutex
		bootstrap *pb.Bootstrap
		snaps     []pb.Snapshot // by index, ascending
	}
	// closed is closed when the store is released (its log closed).
	closed chan struct{}
}

func (s *shardStore) genDir(gen uint64) string {
	return path.Join(s.dir, genPrefix+strconv.FormatUint(gen, 10))
}

// openStore opens (creating) the store in dir and its current log.
func openStore(db *logDB, id uint64, dir string, cfg log.Config, opts log.Options) (*shardStore, error) {
	opts.Replica = true
	if opts.FS == nil {
		opts.FS = log.OSFS{}
	}
	s := &shardStore{id: id, dir: dir, fs: opts.FS, cfg: cfg, opts: opts, db: db, gen: 1, closed: make(chan struct{})}
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	names, err := s.fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	for _, n := range names {
		if log.IsSegmentName(n) {
			return nil, fmt.Errorf("%w: %s holds replica segments written before raft entries moved into them; "+
				"this version cannot read them (see the release notes on upgrading a cluster)", ErrOldLayout, dir)
		}
	}
	if err := s.readMeta(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if g, ok := strings.CutPrefix(n, genPrefix); ok && g != strconv.FormatUint(s.gen, 10) {
			// An install that did not finish, or the generation one
			// replaced.
			if err := removeTree(s.fs, path.Join(dir, n)); err != nil {
				return nil, err
			}
		}
	}
	s.fs.Remove(path.Join(dir, metaFile+".tmp"))
	l, err := log.Open(s.genDir(s.gen), cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("raft: shard %d: %w", id, err)
	}
	s.l = l
	return s, nil
}

// release closes the store's log (the shard stopped here).
func (s *shardStore) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l == nil {
		return nil
	}
	err := s.l.Close()
	s.l = nil
	close(s.closed)
	return err
}

// readMeta loads the side file, if any.
func (s *shardStore) readMeta() error {
	p := path.Join(s.dir, metaFile)
	f, err := s.fs.OpenFile(p, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	if fi.Size() > maxMetaRecord {
		return fmt.Errorf("raft: %s: %d bytes", p, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("raft: %w", err)
	}
	bad := fmt.Errorf("raft: %s is damaged", p)
	if len(b) < 8+4+8+4+4+4 || string(b[:8]) != metaMagic || le.Uint32(b[8:]) != metaVersion ||
		crc32.Checksum(b[:len(b)-4], castagnoli) != le.Uint32(b[len(b)-4:]) {
		return bad
	}
	s.gen = le.Uint64(b[12:])
	q := b[20 : len(b)-4]
	next := func() ([]byte, bool) {
		if len(q) < 4 || uint64(len(q)-4) < uint64(le.Uint32(q)) {
			return nil, false
		}
		n := le.Uint32(q)
		rec := q[4 : 4+n]
		q = q[4+n:]
		return rec, true
	}
	rec, ok := next()
	if !ok {
		return bad
	}
	if len(rec) > 0 {
		s.meta.bootstrap = &pb.Bootstrap{}
		if err := s.meta.bootstrap.Unmarshal(rec); err != nil {
			return fmt.Errorf("%w: %v", bad, err)
		}
	}
	if len(q) < 4 {
		return bad
	}
	n := le.Uint32(q)
	q = q[4:]
	for range n {
		rec, ok := next()
		if !ok {
			return bad
		}
		var ss pb.Snapshot
		if err := ss.Unmarshal(rec); err != nil {
			return fmt.Errorf("%w: %v", bad, err)
		}
		s.meta.snaps = append(s.meta.snaps, ss)
	}
	return nil
}

// writeMetaLocked replaces the side file with the current contents and
// generation gen. s.meta held.
func (s *shardStore) writeMetaLocked(gen uint64) error {
	var b []byte
	b = append(b, metaMagic...)
	b = le.AppendUint32(b, metaVersion)
	b = le.AppendUint64(b, gen)
	var bs []byte
	if s.meta.bootstrap != nil {
		var err error
		if bs, err = s.meta.bootstrap.Marshal(); err != nil {
			return err
		}
	}
	b = le.AppendUint32(b, uint32(len(bs)))
	b = append(b, bs...)
	b = le.AppendUint32(b, uint32(len(s.meta.snaps)))
	for i := range s.meta.snaps {
		rec, err := s.meta.snaps[i].Marshal()
		if err != nil {
			return err
		}
		b = le.AppendUint32(b, uint32(len(rec)))
		b = append(b, rec...)
	}
	b = le.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := writeFileAtomic(s.fs, path.Join(s.dir, metaFile), b); err != nil {
		return fmt.Errorf("raft: shard %d side file: %w", s.id, err)
	}
	return nil
}

// writeFileAtomic replaces p with data: a temporary file, fsynced,
// renamed over p, and the directory fsynced.
func writeFileAtomic(fs log.FS, p string, data []byte) error {
	tmp := p + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, p)
	}
	if err == nil {
		err = fs.SyncDir(path.Dir(p))
	}
	return err
}

// removeTree removes the files in dir, then dir.
func removeTree(fs log.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, n := range names {
		if err := fs.Remove(path.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := fs.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// bootstrap returns the saved bootstrap record, if any.
func (s *shardStore) bootstrap() (pb.Bootstrap, bool) {
	s.meta.Lock()
	defer s.meta.Unlock()
	if s.meta.bootstrap == nil {
		return pb.Bootstrap{}, false
	}
	return *s.meta.bootstrap, true
}

// saveBootstrap records b durably.
func (s *shardStore) saveBootstrap(b pb.Bootstrap) error {
	return s.changeMeta(func() bool { s.meta.bootstrap = &b; return true })
}

// changeMeta runs change with the side file's contents held and, when it
// reports a change, rewrites the file.
func (s *shardStore) changeMeta(change func() bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.meta.Lock()
	defer s.meta.Unlock()
	if !change() {
		return nil
	}
	return s.writeMetaLocked(s.gen)
}

// addSnapshot records ss durably (replacing one of the same index).
func (s *shardStore) addSnapshot(ss pb.Snapshot) error {
	return s.changeMeta(func() bool {
		i := 0
		for i < len(s.meta.snaps) && s.meta.snaps[i].Index < ss.Index {
			i++
		}
		if i < len(s.meta.snaps) && s.meta.snaps[i].Index == ss.Index {
			s.meta.snaps[i] = ss
		} else {
			s.meta.snaps = slices.Insert(s.meta.snaps, i, ss)
		}
		return true
	})
}

// deleteSnapshot forgets the snapshot record of index.
func (s *shardStore) deleteSnapshot(index uint64) error {
	return s.changeMeta(func() bool {
		for i := range s.meta.snaps {
			if s.meta.snaps[i].Index == index {
				s.meta.snaps = slices.Delete(s.meta.snaps, i, i+1)
				return true
			}
		}
		return false
	})
}

// snapshots returns the snapshot records with index <= upTo, ascending.
func (s *shardStore) snapshots(upTo uint64) []pb.Snapshot {
	s.meta.Lock()
	defer s.meta.Unlock()
	out := make([]pb.Snapshot, 0, len(s.meta.snaps))
	for _, ss := range s.meta.snaps {
		if ss.Index <= upTo {
			out = append(out, ss)
		}
	}
	return out
}

// removeData forgets the bootstrap and snapshot records and voids the raft
// log (Dragonboat's RemoveNodeData).
func (s *shardStore) removeData() error {
	if err := s.changeMeta(func() bool { s.meta.bootstrap, s.meta.snaps = nil, nil; return true }); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.l == nil {
		return log.ErrClosed
	}
	_, last := s.l.RaftRange()
	return s.l.SaveRaft(max(last, 1), nil, &log.RaftState{})
}

// install replaces the store's log with the segments of a streamed
// snapshot (see snapshot.go), keeping the raft entries after the
// snapshot's index that this replica saved meanwhile: the next generation
// is received and opened beside the current log (raft goes on saving into
// that one), then, with the store held, the entries after the snapshot and
// the raft state are copied into it behind a reset record, and the side
// file names it current. It returns the new log's applied index.
func (s *shardStore) install(r io.Reader, stop <-chan struct{}) (uint64, error) {
	s.mu.RLock()
	next := s.gen + 1
	s.mu.RUnlock()
	dir := s.genDir(next)
	if err := removeTree(s.fs, dir); err != nil {
		return 0, err
	}
	if err := readSnapshot(s.fs, r, dir, stop); err != nil {
		removeTree(s.fs, dir)
		return 0, err
	}
	nl, err := log.Open(dir, s.cfg, s.opts)
	if err != nil {
		removeTree(s.fs, dir)
		return 0, fmt.Errorf("raft: open installed snapshot: %w", err)
	}
	applied := nl.Applied()
	// Raft's log restarts after the snapshot's raft index, which raft
	// saved (SaveRaftState) before asking for the install. It can be past
	// the leader's last applied marker: entries Dragonboat applies without
	// Update (membership changes, a new leader's empty entry) carry none.
	at := applied
	s.meta.Lock()
	if n := len(s.meta.snaps); n > 0 {
		at = max(at, s.meta.snaps[n-1].Index)
	}
	s.meta.Unlock()
	fail := func(err error) (uint64, error) {
		nl.Close()
		removeTree(s.fs, dir)
		return 0, err
	}
	s.mu.Lock()
	old := s.l
	if old == nil {
		s.mu.Unlock()
		return fail(log.ErrClosed)
	}
	first, last := old.RaftRange()
	var kept []log.RaftEntry
	err = old.ReadRaftEntries(max(first, at+1), last+1, func(e log.RaftEntry) bool {
		kept = append(kept, e)
		return true
	})
	var st *log.RaftState
	if cur, ok := old.RaftState(); ok {
		st = &cur
	}
	if err == nil {
		err = nl.SaveRaft(at, kept, st)
	}
	if err == nil {
		s.meta.Lock()
		err = s.writeMetaLocked(next)
		s.meta.Unlock()
	}
	if err != nil {
		s.mu.Unlock()
		return fail(err)
	}
	s.l, s.gen = nl, next
	s.mu.Unlock()
	s.opts.Logger.Info("raft: snapshot installed", "shard", s.id, "index", at, "applied", applied, "entries_kept", len(kept))
	old.Close()
	if err := removeTree(s.fs, s.genDir(next-1)); err != nil {
		s.opts.Logger.Warn("raft: removing the replaced log", "shard", s.id, "err", err)
	}
	return applied, nil
}

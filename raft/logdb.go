package raft

import (
	"fmt"
	"sync"

	"github.com/lni/dragonboat/v3/config"
	"github.com/lni/dragonboat/v3/raftio"
	pb "github.com/lni/dragonboat/v3/raftpb"

	"github.com/bargemq/barge/log"
)

// Dragonboat's log store (raftio.ILogDB) over the shards' own logs.
//
// Dragonboat v3.3.8 takes a custom log store through NodeHostConfig.
// Expert.LogDBFactory. This one routes every call by shard (cluster id) to
// the shard's store (store.go), which a shard registers before Dragonboat
// starts it (StartStreamShard, StartMetaShard) and releases when its state
// machine closes. What each method does:
//
//   - SaveRaftState (Dragonboat's step workers, one call per worker cycle,
//     serialized per shard; shards of different workers in parallel): per
//     shard update, a received snapshot's record first (side file), then
//     the entries and the state as records of the shard's log with one
//     fsync (log.SaveRaft; a received snapshot also writes a reset record:
//     Dragonboat's log starts again after it). Updates of several shards
//     are saved in parallel.
//   - IterateEntries (step workers, when raft needs entries its in-memory
//     log no longer holds): entry records read back, cmd checksummed.
//   - ReadRaftState (at shard start): the newest state record and the
//     stored run of entries after the snapshot index.
//   - RemoveEntriesTo (step worker, after a snapshot, up to the snapshot
//     index less CompactionOverhead): the log's raft floor; segments below
//     it go once no live message needs them. CompactEntriesTo has nothing
//     left to do.
//   - SaveSnapshots / ListSnapshots / DeleteSnapshot (snapshot workers):
//     the side file. Before a snapshot is recorded the shard's log is
//     fsynced: Dragonboat's metadata-only snapshots of an on-disk state
//     machine carry its applied index, and after a restart it skips, with
//     no check, every entry up to the newest snapshot's index, so the
//     applied marker the snapshot covers must be durable first.
//   - Get/SaveBootstrapInfo (at shard start), RemoveNodeData,
//     ImportSnapshot: the side file (and the log's state).
type logDB struct {
	node uint64 // this host's replica id
	// mu guards shards and closed.
	mu     sync.Mutex
	shards map[uint64]*shardStore // by cluster id
	closed bool
}

// logDBName is the log store's name in Dragonboat's NodeHost directory
// (it refuses a directory written with another).
const (
	logDBName   = "barge-segments"
	logDBFormat = 1
)

var _ raftio.ILogDB = (*logDB)(nil)

func newLogDB(node uint64) *logDB { return &logDB{node: node, shards: make(map[uint64]*shardStore)} }

// logDBFactory hands Dragonboat the host's logDB.
type logDBFactory struct{ db *logDB }

func (f logDBFactory) Create(config.NodeHostConfig, config.LogDBCallback, []string, []string) (raftio.ILogDB, error) {
	return f.db, nil
}

func (f logDBFactory) Name() string { return logDBName }

// open opens shard id's store in dir and registers it. A store still
// registered (the shard's previous run has not closed yet) is an error
// the caller may retry.
func (d *logDB) open(id uint64, dir string, cfg log.Config, opts log.Options) (*shardStore, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, log.ErrClosed
	}
	if _, ok := d.shards[id]; ok {
		return nil, fmt.Errorf("raft: shard %d is still closing here; try again", id)
	}
	s, err := openStore(d, id, dir, cfg, opts)
	if err != nil {
		return nil, err
	}
	d.shards[id] = s
	return s, nil
}

// release unregisters s and closes its log.
func (d *logDB) release(s *shardStore) error {
	d.mu.Lock()
	if d.shards[s.id] == s {
		delete(d.shards, s.id)
	}
	d.mu.Unlock()
	return s.release()
}

// store returns shard id's store, or nil.
func (d *logDB) store(id uint64) *shardStore {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shards[id]
}

// withLog runs fn with shard id's current log, held shared.
func (d *logDB) withLog(id uint64, fn func(l *log.Log) error) error {
	s := d.store(id)
	if s == nil {
		return fmt.Errorf("raft: no store for shard %d on this host", id)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.l == nil {
		return fmt.Errorf("raft: shard %d: %w", id, log.ErrClosed)
	}
	return fn(s.l)
}

func (d *logDB) Name() string         { return logDBName }
func (d *logDB) BinaryFormat() uint32 { return logDBFormat }

// Close releases every store still registered.
func (d *logDB) Close() error {
	d.mu.Lock()
	d.closed = true
	stores := make([]*shardStore, 0, len(d.shards))
	for _, s := range d.shards {
		stores = append(stores, s)
	}
	clear(d.shards)
	d.mu.Unlock()
	var first error
	for _, s := range stores {
		if err := s.release(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (d *logDB) ListNodeInfo() ([]raftio.NodeInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]raftio.NodeInfo, 0, len(d.shards))
	for id, s := range d.shards {
		if _, ok := s.bootstrap(); ok {
			out = append(out, raftio.NodeInfo{ClusterID: id, NodeID: d.node})
		}
	}
	return out, nil
}

func (d *logDB) SaveBootstrapInfo(clusterID, nodeID uint64, b pb.Bootstrap) error {
	s := d.store(clusterID)
	if s == nil {
		return fmt.Errorf("raft: no store for shard %d on this host", clusterID)
	}
	return s.saveBootstrap(b)
}

func (d *logDB) GetBootstrapInfo(clusterID, nodeID uint64) (pb.Bootstrap, error) {
	if s := d.store(clusterID); s != nil {
		if b, ok := s.bootstrap(); ok {
			return b, nil
		}
	}
	return pb.Bootstrap{}, raftio.ErrNoBootstrapInfo
}

// SaveRaftState saves each shard's update; several shards in parallel.
func (d *logDB) SaveRaftState(updates []pb.Update, _ uint64) error {
	if len(updates) == 1 {
		return d.saveUpdate(&updates[0])
	}
	errs := make([]error, len(updates))
	var wg sync.WaitGroup
	for i := range updates {
		wg.Go(func() { errs[i] = d.saveUpdate(&updates[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// saveUpdate saves one shard's update (see logDB).
func (d *logDB) saveUpdate(ud *pb.Update) error {
	var st *log.RaftState
	if !pb.IsEmptyState(ud.State) {
		st = &log.RaftState{Term: ud.State.Term, Vote: ud.State.Vote, Commit: ud.State.Commit}
	}
	reset := uint64(0)
	if !pb.IsEmptySnapshot(ud.Snapshot) {
		s := d.store(ud.ClusterID)
		if s == nil {
			return fmt.Errorf("raft: no store for shard %d on this host", ud.ClusterID)
		}
		if err := s.addSnapshot(ud.Snapshot); err != nil {
			return err
		}
		reset = ud.Snapshot.Index
	}
	if st == nil && reset == 0 && len(ud.EntriesToSave) == 0 {
		return nil
	}
	return d.withLog(ud.ClusterID, func(l *log.Log) error {
		ents := make([]log.RaftEntry, len(ud.EntriesToSave))
		for i := range ud.EntriesToSave {
			e := &ud.EntriesToSave[i]
			ents[i] = log.RaftEntry{Index: e.Index, Term: e.Term, Type: uint8(e.Type), Key: e.Key, ClientID: e.ClientID,
				SeriesID: e.SeriesID, RespondedTo: e.RespondedTo, Cmd: e.Cmd}
		}
		return l.SaveRaft(reset, ents, st)
	})
}

// IterateEntries appends the stored entries from low up to high to ents
// until their size passes maxSize (the entry that passes it included).
func (d *logDB) IterateEntries(ents []pb.Entry, size uint64, clusterID, nodeID uint64, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	err := d.withLog(clusterID, func(l *log.Log) error {
		return l.ReadRaftEntries(low, high, func(e log.RaftEntry) bool {
			pe := pb.Entry{Index: e.Index, Term: e.Term, Type: pb.EntryType(e.Type), Key: e.Key, ClientID: e.ClientID,
				SeriesID: e.SeriesID, RespondedTo: e.RespondedTo, Cmd: e.Cmd}
			size += uint64(pe.SizeUpperLimit())
			ents = append(ents, pe)
			return size <= maxSize
		})
	})
	return ents, size, err
}

// ReadRaftState returns the state and the stored entries after
// snapshotIndex; raftio.ErrNoSavedLog when no state was ever saved.
func (d *logDB) ReadRaftState(clusterID, nodeID, snapshotIndex uint64) (raftio.RaftState, error) {
	var rs raftio.RaftState
	err := d.withLog(clusterID, func(l *log.Log) error {
		st, ok := l.RaftState()
		if !ok {
			return raftio.ErrNoSavedLog
		}
		rs.State = pb.State{Term: st.Term, Vote: st.Vote, Commit: st.Commit}
		first, last := l.RaftRange()
		first = max(first, snapshotIndex+1)
		rs.FirstIndex = snapshotIndex
		if last >= first {
			rs.FirstIndex, rs.EntryCount = first, last-first+1
		}
		return nil
	})
	return rs, err
}

func (d *logDB) RemoveEntriesTo(clusterID, nodeID, index uint64) error {
	return d.withLog(clusterID, func(l *log.Log) error {
		l.SetRaftFloor(index)
		return nil
	})
}

// CompactEntriesTo: the space of removed entries is reclaimed with their
// segments (RemoveEntriesTo); nothing is left to do.
func (d *logDB) CompactEntriesTo(clusterID, nodeID, index uint64) (<-chan struct{}, error) {
	done := make(chan struct{})
	close(done)
	return done, nil
}

func (d *logDB) SaveSnapshots(updates []pb.Update) error {
	for i := range updates {
		ud := &updates[i]
		if pb.IsEmptySnapshot(ud.Snapshot) {
			continue
		}
		s := d.store(ud.ClusterID)
		if s == nil {
			return fmt.Errorf("raft: no store for shard %d on this host", ud.ClusterID)
		}
		// The applied marker the snapshot covers must be durable first
		// (see logDB).
		if err := d.withLog(ud.ClusterID, func(l *log.Log) error { return l.Sync() }); err != nil {
			return err
		}
		if err := s.addSnapshot(ud.Snapshot); err != nil {
			return err
		}
	}
	return nil
}

func (d *logDB) DeleteSnapshot(clusterID, nodeID, index uint64) error {
	if s := d.store(clusterID); s != nil {
		return s.deleteSnapshot(index)
	}
	return nil
}

func (d *logDB) ListSnapshots(clusterID, nodeID, index uint64) ([]pb.Snapshot, error) {
	if s := d.store(clusterID); s != nil {
		return s.snapshots(index), nil
	}
	return nil, nil
}

func (d *logDB) RemoveNodeData(clusterID, nodeID uint64) error {
	if s := d.store(clusterID); s != nil {
		return s.removeData()
	}
	return nil
}

// ImportSnapshot records ss as the shard's only snapshot, a joining
// bootstrap, and a raft log that starts after it (Dragonboat's tools
// for repairing a shard).
func (d *logDB) ImportSnapshot(ss pb.Snapshot, nodeID uint64) error {
	s := d.store(ss.ClusterId)
	if s == nil {
		return fmt.Errorf("raft: no store for shard %d on this host", ss.ClusterId)
	}
	if err := s.changeMeta(func() bool {
		s.meta.bootstrap = &pb.Bootstrap{Join: true, Type: ss.Type}
		s.meta.snaps = []pb.Snapshot{ss}
		return true
	}); err != nil {
		return err
	}
	return d.withLog(ss.ClusterId, func(l *log.Log) error {
		return l.SaveRaft(ss.Index, nil, &log.RaftState{Term: ss.Term, Commit: ss.Index})
	})
}

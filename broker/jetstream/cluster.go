package jetstream

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Cluster is what the engine needs from a clustered server's raft side
// (cmd/barge/app implements it over package raft): the meta shard, which
// holds replicated streams' definitions, and stream replicas. Methods are
// safe for concurrent use; ctx bounds every call that waits on raft.
type Cluster interface {
	// NodeID is this node's raft replica id.
	NodeID() uint64
	// Members returns the meta shard's members: node id → raft address.
	Members(ctx context.Context) (map[uint64]string, error)
	// NodeName names a node for stream info ("" if unknown).
	NodeName(id uint64) string
	// MetaLeader is the meta shard's current leader, if known.
	MetaLeader() (id uint64, ok bool)
	// MetaPut stores value under key; create makes it fail with
	// ErrMetaExists when the key is present.
	MetaPut(ctx context.Context, key string, value []byte, create bool) error
	// MetaList returns the values stored under keys with prefix.
	MetaList(ctx context.Context, prefix string) ([][]byte, error)
	// MetaDelete removes key (absent is not an error).
	MetaDelete(ctx context.Context, key string) error
	// StartReplica starts (or restarts) this node's replica of a stream
	// shard with its log in dir; members are the shard's initial members.
	// rules is the log's Checker (its publish rules, decided at apply).
	// async (persist_mode async, one member only) acknowledges what is
	// written before its fsync, as the log's SyncInterval policy does.
	StartReplica(shardID uint64, members map[uint64]string, dir string, cfg log.Config, rules log.Checker, async bool) (Replica, error)
}

// Replica is this node's replica of one replicated stream.
type Replica interface {
	// Submit queues m for replication after every message submitted
	// before it and returns at once (it runs on a publisher's event loop:
	// a connection's publishes keep their order). done is called once,
	// from another goroutine, with the sequence (and timestamp) once a
	// quorum has the message durably and this replica applied it, or an error (the rules'
	// refusal comes back as the *log.CheckError they returned); it must
	// not block. A body that implements Bytes() []byte (a *bytes.Buffer)
	// is handed over as it is; another is read, exactly m.Size bytes,
	// before done. Any replica may submit (proposals go to the leader).
	Submit(m *ReplicaMsg, done func(seq uint64, ts int64, err error))
	// SubmitBatch is Submit for an atomic batch: msgs are stored as
	// consecutive sequences on every replica in one step, all of them or
	// none (the rules decide each in order; one refusal refuses the
	// batch). done gets the last sequence, or the error (the refused
	// message's *log.CheckError). A body is read, a chunk at a time, after
	// SubmitBatch returns and before done.
	SubmitBatch(msgs []*ReplicaMsg, done func(seq uint64, ts int64, err error))
	// QueuedBytes is the payload of submitted messages held in memory.
	QueuedBytes() int64
	// UpdateConfig changes the limits and the publish rules' settings
	// (log.Config.Rules) on every replica at one point of the raft log; it
	// returns once this replica applied it.
	UpdateConfig(ctx context.Context, cfg log.Config) error
	// Progress returns each replica's last progress report (see
	// ReplicaProgress); replicas not heard from since this one started
	// are absent.
	Progress() []ReplicaProgress
	// Log is the replica's log, changed only by raft's apply path; callers
	// read it and must not write it. Installing a raft snapshot replaces
	// the log: a later call returns the new one (the engine reopens the
	// stream over it); nil while the replica cannot answer.
	Log() *log.Log
	// Leader is the shard's current leader, if known.
	Leader() (id uint64, ok bool)
	// Delete removes seq on every replica (log.ErrNotFound when absent).
	Delete(ctx context.Context, seq uint64) error
	// Purge purges on every replica as log.Purge does; returns the count.
	Purge(ctx context.Context, req log.PurgeRequest) (uint64, error)
	// StepDown hands leadership to another replica.
	StepDown(ctx context.Context) error
	// Close stops this node's replica (the shard goes on elsewhere).
	Close() error
}

// ReplicaMsg is one message for Replica.Submit; Hdr is not retained.
// Seq, when not 0, is the sequence the message must get and Time its
// timestamp (unix ns): a mirror's copy (BeginMirror). A sequence the log
// is past comes back to done as an error wrapping log.ErrSeqExists.
type ReplicaMsg struct {
	Subject string
	Hdr     []byte
	Body    io.Reader
	Size    int64
	Seq     uint64
	Time    int64
}

// ReplicaProgress is what a replica last reported about itself: how many
// raft entries it was behind when its report committed, and when (its own
// clock) it sent it.
type ReplicaProgress struct {
	Node     uint64
	Lag      uint64
	Reported time.Time
}

// ErrMetaExists is MetaPut's answer to a create of a present key.
var ErrMetaExists = errorString("jetstream: meta key exists")

type errorString string

func (e errorString) Error() string { return string(e) }

// streamKeyPrefix prefixes replicated streams' definitions in the meta shard.
const streamKeyPrefix = "stream/"

// clusterPoll is how often a node reads the meta shard for streams placed
// on it or deleted.
const clusterPoll = 100 * time.Millisecond

// replDef is a replicated stream's definition in the meta shard.
type replDef struct {
	Config  jsapi.StreamConfig `json:"config"`
	Created time.Time          `json:"created"`
	ShardID uint64             `json:"shard_id"`
	Members map[uint64]string  `json:"members"`
	// Restoring marks a stream a restore is writing (restore_repl.go):
	// its replicas start with the limits off and the publish rules
	// storing every message as it comes, and its consumers wait.
	Restoring bool `json:"restoring,omitempty"`
	// RestoringBy is the node whose process runs the restore: a restoring
	// definition of this node that no restore here runs was left by a
	// crash or restart, and the node removes it.
	RestoringBy uint64 `json:"restoring_by,omitempty"`
}

// clusterState is the engine's clustered side, set once by SetCluster.
type clusterState struct {
	c      Cluster
	cancel context.CancelFunc
	done   chan struct{}
	// mu serializes syncs of the meta shard's definitions into the local
	// registry (the poll loop and API calls), and guards lastSeq and
	// restores.
	mu sync.Mutex
	// restores names the replicated restores this process runs
	// (restore_repl.go).
	restores map[string]bool
	// lastSeq is each replicated stream's last sequence at the previous
	// poll: when raft applied more since, the consumers are told.
	lastSeq map[string]uint64
	// acks coalesces replicated streams' PubAcks (replica.go).
	acks replAcks
	// fw forwards requests to stream leaders (forward.go); set before the
	// loops start.
	fw *forwarder
	// nm knows the streams without a replica here (nonmember.go).
	nm nonMembers
	// calls asks other members for those streams' state
	// (nonmember_info.go); set before the loops start.
	calls *remoteCalls
}

// SetCluster makes the engine clustered: streams with num_replicas > 1
// are defined in c's meta shard and stored as raft replicas, and a loop
// reads the meta shard every 100 ms to start the replicas placed here and
// remove deleted ones. Call it once; Close stops the loop.
func (e *Engine) SetCluster(c Cluster) {
	ctx, cancel := context.WithCancel(context.Background())
	cs := &clusterState{c: c, cancel: cancel, done: make(chan struct{}), lastSeq: make(map[string]uint64),
		restores: make(map[string]bool)}
	cs.fw = e.startForwarding(ctx, cs)
	cs.calls = e.startRemoteCalls(c.NodeID())
	e.cl.Store(cs)
	go e.leaderLoop(ctx, cs.fw)
	go func() {
		defer close(cs.done)
		tick := time.NewTicker(clusterPoll)
		defer tick.Stop()
		for {
			e.syncReplicated(ctx, cs)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// stopCluster ends the meta poll loop.
func (e *Engine) stopCluster() {
	if cs := e.cl.Load(); cs != nil {
		cs.cancel()
		<-cs.done
		<-cs.fw.done
		e.stopForwarding(cs.fw)
		e.stopRemoteCalls(cs.calls)
	}
}

// syncReplicated starts the replicas the meta shard places on this node
// and destroys local replicated streams it no longer defines.
func (e *Engine) syncReplicated(ctx context.Context, cs *clusterState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	vals, err := cs.c.MetaList(rctx, streamKeyPrefix)
	if err != nil {
		return // no meta leader yet; try again
	}
	self := cs.c.NodeID()
	defined := make(map[string]bool, len(vals))
	members := make(map[string]map[uint64]string, len(vals))
	configs := make(map[string]jsapi.StreamConfig, len(vals))
	restoring := make(map[string]bool)
	defs := make([]replDef, 0, len(vals))
	defer func() {
		cs.fw.noteMembers(members)
		cs.nm.note(self, defs)
	}()
	for _, v := range vals {
		var d replDef
		if json.Unmarshal(v, &d) != nil {
			continue
		}
		if d.Restoring && d.RestoringBy == self && !cs.restores[d.Config.Name] {
			e.dropRestore(rctx, cs, d.Config.Name)
			continue
		}
		defs = append(defs, d)
		defined[d.Config.Name] = true
		members[d.Config.Name] = d.Members
		configs[d.Config.Name] = d.Config
		restoring[d.Config.Name] = d.Restoring
		if old := e.lookup(d.Config.Name); old != nil && old.repl != nil && !old.created.Equal(d.Created) {
			// Deleted and defined again (a restore) between two polls:
			// the local replica is the old stream's.
			e.dropReplica(cs, old)
		}
		if _, ok := d.Members[self]; !ok || e.lookup(d.Config.Name) != nil {
			continue
		}
		if err := e.startReplicated(cs, &d); err != nil {
			e.log.Error("jetstream: replica not started", "stream", d.Config.Name, "err", err)
		}
	}
	for _, st := range e.sortedStreams() {
		if st.repl == nil {
			continue
		}
		if defined[st.name] {
			if !restoring[st.name] && st.restoring.Load() {
				st.restoring.Store(false) // the restore finished elsewhere
			}
			if cfg, old := configs[st.name], st.Config(); !sameConfig(&cfg, &old) {
				// Updated through another node (updateReplicated).
				if apiErr := e.applyReplicatedConfig(st, cfg); apiErr != nil {
					e.log.Error("jetstream: replica config not updated", "stream", st.name, "err", apiErr)
				}
			}
			if l := st.repl.Log(); l != nil && log.Reader(l) != st.store.Reader() {
				e.reopenReplicated(st)
			} else if last := st.store.Reader().State().LastSeq; last != cs.lastSeq[st.name] {
				// Messages applied by raft on a member that did not
				// propose them: make sure waiting consumers look.
				cs.lastSeq[st.name] = last
				st.cons.StreamChanged()
			}
			continue
		}
		e.dropReplica(cs, st)
	}
}

// dropReplica removes this node's replica of a stream the meta shard no
// longer defines (with cs.mu held).
func (e *Engine) dropReplica(cs *clusterState, st *stream) {
	delete(cs.lastSeq, st.name)
	e.mu.Lock()
	e.unregisterLocked(st)
	e.mu.Unlock()
	if err := st.destroy(); err != nil {
		e.log.Error("jetstream: replica not removed", "stream", st.name, "err", err)
	}
}

// startReplicated opens this node's replica of d and registers it.
func (e *Engine) startReplicated(cs *clusterState, d *replDef) error {
	dir := filepath.Join(e.dir, d.Config.Name)
	// meta.json marks the directory as a replicated stream's: load skips
	// it (the meta shard decides what runs), but a restart finds the data.
	if err := e.makeStreamDir(dir, &streamMeta{Config: d.Config, Created: d.Created, Replicated: true}); err != nil {
		return err
	}
	ix := &msgIndexes{}
	lc := logConfig(&d.Config)
	if d.Restoring {
		lc = restoringLogConfig(&d.Config)
	}
	repl, err := cs.c.StartReplica(d.ShardID, d.Members, filepath.Join(dir, msgsDir), lc, newPublishRules(d.Config.Name, ix),
		d.Config.PersistMode == jsapi.PersistAsync)
	if err != nil {
		return err
	}
	st, err := e.openReplicaStream(dir, d.Config, d.Created, repl, ix)
	if err != nil {
		repl.Close()
		return err
	}
	st.restoring.Store(d.Restoring)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.registerLocked(st); err != nil {
		st.close()
		return err
	}
	st.startFeeds()
	return nil
}

// reopenReplicated rebuilds st over its replica's new log (a raft snapshot
// was installed): consumers stop and reload from their directory. If that
// fails st stays registered (without consumers) and the next poll retries.
func (e *Engine) reopenReplicated(st *stream) {
	st.cons.Close()
	st.stopExpirer()
	st.stopScheduler()
	nst, err := e.openReplicaStream(st.dir, st.Config(), st.created, st.repl, st.ix)
	if err != nil {
		e.log.Error("jetstream: replica not reopened", "stream", st.name, "err", err)
		return
	}
	nst.restoring.Store(st.restoring.Load())
	st.stopFeeds()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unregisterLocked(st)
	if err := e.registerLocked(nst); err != nil {
		e.log.Error("jetstream: replica not reopened", "stream", st.name, "err", err)
		return
	}
	nst.startFeeds()
	e.log.Info("jetstream: replica reopened over a raft snapshot", "stream", st.name)
}

// shardIDFor derives a shard id from a stream's name (ids 0 and 1 are not
// used: 1 is the meta shard).
func shardIDFor(name string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(name))
	return f.Sum64() | 1<<63
}

// streamShardID is the shard id of the engine's new stream name: the
// global account's streams hash their name alone, as before accounts
// existed, so their shards keep their ids; another account's hash the
// account with it, so two accounts' streams of one name are different
// shards.
func (e *Engine) streamShardID(name string) uint64 {
	if acc := e.srv.Name(); acc != "" && acc != broker.GlobalAccountName {
		return shardIDFor(acc + "\x00" + name)
	}
	return shardIDFor(name)
}

// placement picks n members for a new stream: the meta members by node id,
// starting at an offset derived from the shard id so streams spread.
func placement(members map[uint64]string, n int, shardID uint64) map[uint64]string {
	ids := make([]uint64, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make(map[uint64]string, n)
	for i := 0; i < n; i++ {
		id := ids[(int(shardID%uint64(len(ids)))+i)%len(ids)]
		out[id] = members[id]
	}
	return out
}

// createReplicated answers STREAM.CREATE for num_replicas > 1: the
// definition goes into the meta shard (create-only), every member starts
// its replica, and the reply waits until this node has it (when it is a
// member).
func (e *Engine) createReplicated(r *apiReq, cs *clusterState, req *jsapi.StreamConfig) {
	typ := jsapi.TypeStreamCreateResponse
	r1 := *req
	r1.Replicas = 1
	cfg, apiErr := checkConfig(&r1, e.maxPayload.Load())
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	cfg.Replicas = max(req.Replicas, 1)
	if apiErr := persistModeErr(&cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if apiErr := e.checkFeedStreams(&cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.fillMirrorDirect(&cfg)
	if cfg.Storage == jsapi.MemoryStorage {
		e.respondErr(r.reply, typ, invalidConfig("replicated streams need file storage"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	members, err := cs.c.Members(ctx)
	if err != nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
		return
	}
	if cfg.Replicas > len(members) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNoPeers, "insufficient resources"))
		return
	}
	if old := e.lookup(cfg.Name); old != nil && old.repl == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNameExist))
		return
	}
	if e.overlaps(cfg.Name, cfg.Subjects) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamSubjectOverlap))
		return
	}
	if apiErr := e.clusterStreamLimit(ctx, cs, cfg.Name); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	sid := e.streamShardID(cfg.Name)
	place := placement(members, cfg.Replicas, sid)
	if cfg.Replicas == 1 {
		place = e.placeOne(ctx, cs, members, sid)
	}
	d := replDef{Config: cfg, Created: e.o.Clock.Now().UTC(), ShardID: sid, Members: place}
	if e.createOnMember(r, cs, &d) { // nonmember.go
		return
	}
	b, _ := json.Marshal(&d)
	created := true
	if err := cs.c.MetaPut(ctx, streamKeyPrefix+cfg.Name, b, true); err != nil {
		if err != ErrMetaExists {
			e.log.Error("jetstream: stream create: meta shard write failed", "stream", cfg.Name, "err", err)
			e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
			return
		}
		created = false
	}
	if e.createdElsewhere(ctx, r, cs, &cfg, created) {
		return
	}
	st := e.waitLocal(ctx, cs, cfg.Name)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
		return
	}
	if !created && !reflect.DeepEqual(st.Config(), cfg) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNameExist))
		return
	}
	e.respond(r.reply, &jsapi.StreamCreateResponse{APIResponse: jsapi.APIResponse{Type: typ},
		StreamInfo: st.info(nil), DidCreate: created})
}

// waitLocal syncs the meta shard until this node has the stream name, or
// ctx ends (nil then).
func (e *Engine) waitLocal(ctx context.Context, cs *clusterState, name string) *stream {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		e.syncReplicated(ctx, cs)
		if st := e.lookup(name); st != nil {
			return st
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// deleteReplicated answers STREAM.DELETE of a replicated stream: its
// definition leaves the meta shard and every member removes its replica.
func (e *Engine) deleteReplicated(r *apiReq, cs *clusterState, st *stream) {
	typ := jsapi.TypeStreamDeleteResponse
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.c.MetaDelete(ctx, streamKeyPrefix+st.name); err != nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
		return
	}
	e.syncReplicated(ctx, cs)
	e.deleteConsumerKeys(st.name)
	e.respond(r.reply, &jsapi.StreamDeleteResponse{APIResponse: jsapi.APIResponse{Type: typ}, Success: true})
}

// stepDown answers $JS.API.STREAM.LEADER.STEPDOWN.<stream>.
func (e *Engine) stepDown(r *apiReq, name string) {
	typ := jsapi.TypeStreamLeaderStepDownResponse
	st := e.lookup(name)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	if st.repl == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotActive))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.repl.StepDown(ctx); err != nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
		return
	}
	e.respond(r.reply, &struct {
		jsapi.APIResponse
		Success bool `json:"success"`
	}{jsapi.APIResponse{Type: typ}, true})
}

package jetstream

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// stream is one JetStream stream: its config, its store and its consumers.
// It implements consumer.Stream.
//
// Lock order: Engine.mu, then stream.mu, then the store's (the log's) own
// locks. stream.mu is never held across an fsync wait: publishes hold it
// only while their store takes the message (Appending.End), API calls only
// to read or swap the config.
type stream struct {
	e       *Engine
	name    string
	dir     string
	created time.Time
	// store holds the messages (store.go): a localStore for R1, a
	// replicatedStore for a replicated stream.
	store Store
	cons  *consumer.Set
	// repl is the raft replica of a replicated stream (its store's), for
	// the cluster's features: leader, progress, step-down; nil for R1.
	repl Replica
	// snapshotting is set while a snapshot is being sent (one at a time).
	snapshotting atomic.Bool
	// batches are the open atomic batches (batch_atomic.go).
	batches atomicBatches
	// ix are what the publish rules learn for the timers: ttls and
	// expiry remove expired messages (ttl.go), scheds and sched fire the
	// schedules (schedule.go).
	ix     *msgIndexes
	ttls   *ttlIndex
	expiry *expirer
	scheds *schedIndex
	sched  *scheduler
	// restoring is set while a replicated restore writes the archive's
	// messages into the stream (restore_repl.go): its consumers do not
	// start until it is cleared.
	restoring atomic.Bool

	mu struct {
		sync.Mutex
		cfg jsapi.StreamConfig
		// inflight maps the sequence of each R1 message with a Nats-Msg-Id
		// that is assigned but not yet durable to its completion, where
		// its duplicates wait (publish.go).
		inflight map[uint64]*commitDone
		closed   bool
		// xform is cfg's subject_transform, repub its republish (nil:
		// none); setConfigLocked builds both.
		xform *subject.Transform
		repub *republisher
		// feeds copy the mirror's or the sources' origins (feed.go),
		// started once the stream is registered (startFeeds).
		feeds   []*feed
		feedsOn bool // startFeeds ran: config updates restart them
	}
	// srcPos guards m, the sources' positions as in the sources file
	// (feed_pos.go; nil: not read yet), and the file's writes.
	srcPos struct {
		sync.Mutex
		m map[string]sourcePos
	}
}

var _ consumer.Stream = (*stream)(nil)

// Name is the stream's name.
func (s *stream) Name() string { return s.name }

// Reader is the read side of the stream's store, for its consumers.
func (s *stream) Reader() log.Reader { return s.store.Reader() }

// Config returns a copy of the current config (its slices and maps are
// shared and must not be modified).
func (s *stream) Config() jsapi.StreamConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.cfg
}

// Remove deletes seq (interest and workqueue retention). Removing a message
// that is already gone is not an error; other log errors are returned.
func (s *stream) Remove(seq uint64) error {
	err := s.store.Delete(seq)
	if err == nil || errors.Is(err, log.ErrDeleted) || errors.Is(err, log.ErrNotFound) {
		return nil
	}
	return err
}

// openStream opens (or creates) the R1 stream in dir with cfg over a
// local store and loads its consumers. For a new stream meta must already
// be written.
func (e *Engine) openStream(dir string, cfg jsapi.StreamConfig, created time.Time) (*stream, error) {
	ix := &msgIndexes{}
	store, err := e.openLocalStore(dir, &cfg, ix)
	if err != nil {
		return nil, err
	}
	st, err := e.newStream(dir, cfg, created, store, nil, ix, consumer.Env{})
	if err != nil {
		store.Close()
		return nil, err
	}
	return st, nil
}

// openReplicaStream builds a replicated stream over this node's replica:
// the same stream type, consumers and reads as R1, over a replicated store.
func (e *Engine) openReplicaStream(dir string, cfg jsapi.StreamConfig, created time.Time, repl Replica, ix *msgIndexes) (*stream, error) {
	store, err := newReplicatedStore(repl, dir)
	if err != nil {
		return nil, err
	}
	return e.newStream(dir, cfg, created, store, repl, ix, consumer.Env{Store: e.consumerStoreFor(cfg.Name)})
}

// newStream makes the stream over store and loads its consumers (env's
// Store set for a replicated stream's; the rest filled in here).
func (e *Engine) newStream(dir string, cfg jsapi.StreamConfig, created time.Time, store Store, repl Replica, ix *msgIndexes, env consumer.Env) (*stream, error) {
	st := &stream{e: e, name: cfg.Name, dir: dir, created: created, store: store, repl: repl, ix: ix}
	if ix != nil {
		st.ttls, st.scheds = &ix.ttls, &ix.scheds
	}
	st.setConfigLocked(cfg)
	st.mu.inflight = make(map[uint64]*commitDone)
	env.Server, env.Clock, env.Logger, env.FS = e.srv, e.o.Clock, e.log.With("stream", cfg.Name), e.o.FS
	set, err := consumer.NewSet(env, st, filepath.Join(dir, consumersDir))
	if err != nil {
		return nil, fmt.Errorf("consumers: %w", err)
	}
	st.cons = set
	st.startExpirer()
	st.startScheduler()
	return st, nil
}

// info describes the stream. With req, subjects_filter adds per-subject
// counts and deleted_details the deleted sequences.
func (s *stream) info(req *jsapi.StreamInfoRequest) *jsapi.StreamInfo {
	cfg := s.Config()
	cfg.Metadata = withServerLevel(cfg.Metadata)
	si := &jsapi.StreamInfo{
		Config:    cfg,
		Created:   s.created.UTC(),
		State:     s.state(),
		TimeStamp: s.e.o.Clock.Now().UTC(),
	}
	if req != nil && req.SubjectsFilter != "" {
		subs := s.store.Reader().SubjectsState(req.SubjectsFilter)
		if len(subs) > 0 {
			si.State.Subjects = make(map[string]uint64, len(subs))
			for k, v := range subs {
				si.State.Subjects[k] = v.Msgs
			}
		}
	}
	if s.repl != nil {
		si.Cluster = s.clusterInfo()
	} else {
		// A per-node stream, led by this server (nats-server reports the
		// same for a stream without a raft group).
		si.Cluster = &jsapi.ClusterInfo{Name: s.e.o.ClusterName, Leader: s.e.o.ServerName}
	}
	s.mu.Lock()
	feeds := s.mu.feeds
	s.mu.Unlock()
	for _, f := range feeds {
		if f.mirror {
			si.Mirror = f.info()
		} else {
			si.Sources = append(si.Sources, f.info())
		}
	}
	if req != nil && req.DeletedDetails {
		si.State.Deleted = s.store.Reader().Deleted(0)
	}
	return si
}

// state is the stream's message counts in JetStream form.
func (s *stream) state() jsapi.StreamState {
	ls := s.store.Reader().State()
	firstSeq := s.Config().FirstSeq
	ss := jsapi.StreamState{
		Msgs:        ls.Msgs,
		Bytes:       ls.Bytes,
		FirstSeq:    ls.FirstSeq,
		LastSeq:     ls.LastSeq,
		NumSubjects: ls.NumSubjects,
		NumDeleted:  int(ls.NumDeleted),
		Consumers:   s.cons.Count(),
	}
	if ls.LastSeq == 0 && firstSeq == 0 {
		ss.FirstSeq = 0 // a new stream reports 0 and 0; with first_seq 1, 1 and 0
	}
	if ls.FirstTime != 0 {
		ss.FirstTime = time.Unix(0, ls.FirstTime).UTC()
	}
	if ls.LastTime != 0 {
		ss.LastTime = time.Unix(0, ls.LastTime).UTC()
	}
	if len(ls.Lost) > 0 {
		ss.Lost = &jsapi.LostStreamData{Msgs: ls.Lost}
	}
	return ss
}

// update applies a checked config: limits to the log, the rest to the
// stream; meta.json is rewritten first so a crash keeps one of the two.
func (s *stream) update(cfg jsapi.StreamConfig) *jsapi.APIError {
	if err := s.e.writeMeta(s.dir, &streamMeta{Config: cfg, Created: s.created}); err != nil {
		return s.e.internalErr(jsapi.ErrCodeStreamUpdate, s.name, "stream update", err)
	}
	if err := s.store.UpdateConfig(logConfig(&cfg)); err != nil {
		return s.e.internalErr(jsapi.ErrCodeStreamUpdate, s.name, "stream update", err)
	}
	s.mu.Lock()
	s.setConfigLocked(cfg)
	s.mu.Unlock()
	s.kickExpirer()
	s.cons.StreamChanged()
	return nil
}

// purge removes messages as a STREAM.PURGE request asks.
func (s *stream) purge(req *jsapi.StreamPurgeRequest) (uint64, *jsapi.APIError) {
	cfg := s.Config()
	if cfg.Sealed {
		return 0, jsapi.NewAPIError(jsapi.ErrCodeStreamSealed)
	}
	if cfg.DenyPurge {
		return 0, jsapi.NewAPIError(jsapi.ErrCodeStreamPurgeFailed, "stream purge not permitted")
	}
	if req.Sequence > 0 && req.Keep > 0 {
		return 0, jsapi.NewAPIError(jsapi.ErrCodeBadRequest)
	}
	if req.Subject != "" && !subject.ValidSubscribe([]byte(req.Subject)) {
		return 0, jsapi.NewAPIError(jsapi.ErrCodeStreamPurgeFailed, "invalid subject filter")
	}
	n, err := s.store.Purge(log.PurgeRequest{Subject: req.Subject, Seq: req.Sequence, Keep: req.Keep})
	if err != nil {
		return 0, s.e.internalErr(jsapi.ErrCodeStreamPurgeFailed, s.name, "stream purge", err)
	}
	s.cons.StreamChanged()
	return n, nil
}

// deleteMsg removes one message (MSG.DELETE; no_erase is treated as erase:
// the record stays in its segment until the segment is reclaimed either way).
func (s *stream) deleteMsg(seq uint64) *jsapi.APIError {
	cfg := s.Config()
	if cfg.Sealed {
		return jsapi.NewAPIError(jsapi.ErrCodeStreamSealed)
	}
	if cfg.DenyDelete {
		return jsapi.NewAPIError(jsapi.ErrCodeStreamMsgDeleteFailed, "message delete not permitted")
	}
	err := s.store.Delete(seq)
	switch {
	case err == nil:
	case errors.Is(err, log.ErrDeleted), errors.Is(err, log.ErrNotFound):
		return jsapi.NewAPIError(jsapi.ErrCodeSequenceNotFound, fmt.Sprint(seq))
	default:
		return s.e.internalErr(jsapi.ErrCodeStreamMsgDeleteFailed, s.name, "message delete", err)
	}
	s.cons.StreamChanged()
	return nil
}

// close stops the consumers (keeping their state) and closes the log.
func (s *stream) close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	feeds := s.mu.feeds
	s.mu.feeds = nil
	s.mu.Unlock()
	for _, f := range feeds {
		f.stop()
	}
	s.stopExpirer()
	s.stopScheduler()
	s.closeBatches()
	s.cons.Close()
	return s.store.Close()
}

// destroy removes the stream and everything it stored.
func (s *stream) destroy() error {
	s.mu.Lock()
	s.mu.closed = true
	feeds := s.mu.feeds
	s.mu.feeds = nil
	s.mu.Unlock()
	for _, f := range feeds {
		f.stop()
	}
	s.stopExpirer()
	s.stopScheduler()
	s.cons.DeleteAll()
	s.closeBatches()
	s.store.Close()
	return log.RemoveDir(s.e.o.FS, s.dir)
}

// startFeeds starts the stream's mirror or sources, once it is registered
// (a feed's origin may be the stream another one is about to replace).
func (s *stream) startFeeds() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || s.mu.feedsOn {
		return
	}
	s.mu.feedsOn = true
	s.mu.feeds = s.e.startFeeds(s, &s.mu.cfg, nil)
}

// stopFeeds stops the stream's feeds and waits for them.
func (s *stream) stopFeeds() {
	s.mu.Lock()
	feeds := s.mu.feeds
	s.mu.feeds = nil
	s.mu.Unlock()
	for _, f := range feeds {
		f.stop()
	}
}

// restartFeedsLocked replaces the feeds after a config update changed the
// sources: the old ones are cancelled, not waited for (the caller may hold
// Engine.mu); the new ones start copying once they ended. s.mu held.
func (s *stream) restartFeedsLocked() {
	old := s.mu.feeds
	for _, f := range old {
		f.cancel()
	}
	s.mu.feeds = nil
	if !s.mu.closed {
		s.mu.feeds = s.e.startFeeds(s, &s.mu.cfg, old)
	}
}

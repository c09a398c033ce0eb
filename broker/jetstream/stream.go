package jetstream

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// stream is one JetStream stream: its config, its log and its consumers. It
// implements consumer.Stream.
//
// Lock order: Engine.mu, then stream.mu, then the log's own locks. stream.mu
// is never held across an fsync wait: publishes hold it only while their
// sequence is assigned (Appender.CommitAsync), API calls only to read or
// swap the config.
type stream struct {
	e       *Engine
	name    string
	dir     string
	created time.Time
	log     *log.Log
	cons    *consumer.Set
	// repl is the raft replica of a replicated stream (replica.go), which
	// owns log; nil for R1.
	repl Replica
	// acks collects the PubAcks of one group commit; only the log's
	// notifier goroutine touches it (commitDone.done, then AsyncBatchDone).
	acks broker.OutBatch

	mu struct {
		sync.Mutex
		cfg jsapi.StreamConfig
		// inflight maps the sequence of each R1 message with a Nats-Msg-Id
		// that is assigned but not yet durable to its completion, where
		// its duplicates wait (publish.go).
		inflight map[uint64]*commitDone
		closed   bool
	}
}

var _ consumer.Stream = (*stream)(nil)

// Name is the stream's name.
func (s *stream) Name() string { return s.name }

// Reader is the read side of the stream's log, for its consumers.
func (s *stream) Reader() log.Reader { return s.log }

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
	err := s.logDelete(seq)
	if err == nil || errors.Is(err, log.ErrDeleted) || errors.Is(err, log.ErrNotFound) {
		return nil
	}
	return err
}

// openStream opens (or creates) the stream in dir with cfg and loads its
// consumers. For a new stream meta must already be written.
func (e *Engine) openStream(dir string, cfg jsapi.StreamConfig, created time.Time) (*stream, error) {
	st := &stream{e: e, name: cfg.Name, dir: dir, created: created}
	st.mu.cfg = cfg
	st.mu.inflight = make(map[uint64]*commitDone)
	lopts := log.Options{
		Clock:        e.o.Clock,
		Logger:       e.log.With("stream", cfg.Name),
		Sync:         e.o.Sync,
		SyncInterval: e.o.SyncInterval,
		SegmentSize:  e.o.SegmentSize,
		ChunkSize:    e.o.ChunkSize,
		VerifyRate:   e.o.VerifyRate,
		FS:           e.o.FS,
		// One write per client per group commit for the PubAcks.
		AsyncBatchDone: st.acks.Flush,
		Checker:        newPublishRules(cfg.Name),
	}
	l, err := log.Open(filepath.Join(dir, msgsDir), logConfig(&cfg), lopts)
	if err != nil {
		return nil, err
	}
	st.log = l
	set, err := consumer.NewSet(consumer.Env{Server: e.srv, Clock: e.o.Clock, Logger: e.log.With("stream", cfg.Name), FS: e.o.FS},
		st, filepath.Join(dir, consumersDir))
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("consumers: %w", err)
	}
	st.cons = set
	return st, nil
}

// info describes the stream. With req, subjects_filter adds per-subject
// counts and deleted_details the deleted sequences.
func (s *stream) info(req *jsapi.StreamInfoRequest) *jsapi.StreamInfo {
	cfg := s.Config()
	si := &jsapi.StreamInfo{
		Config:    cfg,
		Created:   s.created.UTC(),
		State:     s.state(),
		TimeStamp: s.e.o.Clock.Now().UTC(),
	}
	if req != nil && req.SubjectsFilter != "" {
		subs := s.log.SubjectsState(req.SubjectsFilter)
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
	if req != nil && req.DeletedDetails {
		si.State.Deleted = s.log.Deleted(0)
	}
	return si
}

// state is the stream's message counts in JetStream form.
func (s *stream) state() jsapi.StreamState {
	ls := s.log.State()
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
	if err := s.log.UpdateConfig(logConfig(&cfg)); err != nil {
		return s.e.internalErr(jsapi.ErrCodeStreamUpdate, s.name, "stream update", err)
	}
	s.mu.Lock()
	s.mu.cfg = cfg
	s.mu.Unlock()
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
	n, err := s.logPurge(log.PurgeRequest{Subject: req.Subject, Seq: req.Sequence, Keep: req.Keep})
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
	err := s.logDelete(seq)
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
	s.mu.Unlock()
	s.cons.Close()
	if s.repl != nil {
		return s.repl.Close()
	}
	return s.log.Close()
}

// destroy removes the stream and everything it stored.
func (s *stream) destroy() error {
	s.cons.DeleteAll()
	s.mu.Lock()
	s.mu.closed = true
	s.mu.Unlock()
	if s.repl != nil {
		s.repl.Close()
	} else {
		s.log.Close()
	}
	return log.RemoveDir(s.e.o.FS, s.dir)
}

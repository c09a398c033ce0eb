package jetstream

import (
	"path/filepath"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// localStore is an R1 stream's Store: its own log, written on the
// publisher's event loop as the body arrives (chunk records for a large
// one) and committed with a group-commit fsync.
type localStore struct {
	l *log.Log
	// acks collects the PubAcks of one group commit; only the log's
	// notifier goroutine touches it (the done callbacks, then
	// AsyncBatchDone flushes it).
	acks broker.OutBatch
}

var _ Store = (*localStore)(nil)

// openLocalStore opens (or creates) the log of the stream cfg in dir.
func (e *Engine) openLocalStore(dir string, cfg *jsapi.StreamConfig, ix *msgIndexes) (*localStore, error) {
	s := &localStore{}
	lopts := log.Options{
		Clock:        e.o.Clock,
		Logger:       e.log.With("stream", cfg.Name),
		Sync:         e.logSync(cfg), // persist.go
		SyncInterval: e.o.SyncInterval,
		SegmentSize:  e.o.SegmentSize,
		ChunkSize:    e.o.ChunkSize,
		VerifyRate:   e.o.VerifyRate,
		FS:           e.o.FS,
		// One write per client per group commit for the PubAcks.
		AsyncBatchDone: s.acks.Flush,
		Checker:        newPublishRules(cfg.Name, ix),
	}
	l, err := log.Open(filepath.Join(dir, msgsDir), logConfig(cfg), lopts)
	if err != nil {
		return nil, err
	}
	s.l = l
	repairBatchTail(l, lopts.Logger) // batch_repair.go
	return s, nil
}

func (s *localStore) Reader() log.Reader { return s.l }

func (s *localStore) Begin(subject string, hdr []byte, size int64) (Appending, error) {
	a, err := s.l.Append(subject, hdr, size)
	if err != nil {
		return nil, err
	}
	return localAppending{a}, nil
}

func (s *localStore) BeginMirror(subject string, hdr []byte, size int64, seq uint64, ts int64) (Appending, error) {
	a, err := s.l.AppendAt(subject, hdr, size, seq, ts)
	if err != nil {
		return nil, err
	}
	return localAppending{a}, nil
}

func (s *localStore) Delete(seq uint64) error { return s.l.Delete(seq) }

func (s *localStore) Purge(req log.PurgeRequest) (uint64, error) { return s.l.Purge(req) }

func (s *localStore) UpdateConfig(cfg log.Config) error { return s.l.UpdateConfig(cfg) }

func (s *localStore) AckBatch() *broker.OutBatch { return &s.acks }

func (s *localStore) Close() error { return s.l.Close() }

// localAppending is a log Appender as an Appending.
type localAppending struct{ a *log.Appender }

func (a localAppending) Write(piece []byte) error {
	_, err := a.a.Write(piece)
	return err
}

func (a localAppending) End(done func(seq uint64, ts int64, err error)) (uint64, error) {
	seq, _, err := a.a.CommitAsync(done)
	return seq, err
}

func (a localAppending) Abort() { a.a.Abort() }

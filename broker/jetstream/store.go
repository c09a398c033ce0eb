package jetstream

import (
	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/log"
)

// Store is a stream's storage: everything the stream, its API handlers and
// its publish path ask of where the messages live. There are two:
//
//	localStore       (store_local.go)       an R1 stream's own log
//	replicatedStore  (store_replicated.go)  this node's raft replica of a
//	                                        stream with num_replicas > 1
//
// Both store through the same log code, and under both the publish rules
// (rules.go, the log's Checker) decide every message in log order: on an
// R1 log when the sequence is assigned, on a replica when the raft entry
// is applied. The stream never asks which one it has for storage; only the
// cluster's features (leader, progress, step-down) need the Replica.
// Every method is safe for concurrent use.
type Store interface {
	// Reader is the read side, for consumers and gets: never the writer.
	Reader() log.Reader
	// Begin starts storing a published message on subject with header
	// block hdr (nil: none; not retained) and a body of size bytes. It
	// runs on the publisher's event loop and never blocks: the body
	// follows in pieces through Appending.Write, then End or Abort.
	// Errors: a store error (closed, full disk, a limit known at once).
	Begin(subject string, hdr []byte, size int64) (Appending, error)
	// BeginMirror is Begin for a mirror's copy of its origin's message:
	// it is stored as sequence seq with timestamp ts (unix ns), the
	// sequences before it that the store has not reached are skipped
	// (deleted), and a seq the store is past is refused at End (or to
	// done) with an error wrapping log.ErrSeqExists (log/mirror.go). It
	// may block on the disk (it is not called on an event loop).
	BeginMirror(subject string, hdr []byte, size int64, seq uint64, ts int64) (Appending, error)
	// Delete removes message seq (log.ErrNotFound, log.ErrDeleted when it
	// is not there): on a replica, on every replica through raft.
	Delete(seq uint64) error
	// Purge removes what req selects and returns how many.
	Purge(req log.PurgeRequest) (uint64, error)
	// UpdateConfig changes the log's limits and the rules' settings (on a
	// replica at one point of the raft log, on every replica).
	UpdateConfig(cfg log.Config) error
	// AckBatch is the batch PubAcks may be deferred into by the done
	// callbacks of Appending.End, which the store flushes after each
	// group of completions (one write per client per group commit); nil
	// when the callbacks are not grouped.
	AckBatch() *broker.OutBatch
	// Close stops storing; the data stays for the next Open.
	Close() error
}

// Appending is one published message on its way into a Store: Write per
// body piece (on the publisher's event loop, never blocking, the pieces in
// order), then End or Abort exactly once.
type Appending interface {
	// Write stores the next piece of the body (not retained). An error
	// means the message cannot be stored: Abort it and answer the error.
	Write(piece []byte) error
	// End commits the message. done is called once, never on the caller's
	// goroutine, with its sequence when it is durable, or an error; it
	// must not block. A local store decides the message at once: End
	// returns the sequence it assigned (done follows when it is durable)
	// or the refusal (a *log.CheckError from the rules, or a store error;
	// done is then not called). A replicated store decides when the raft
	// entry is applied: End returns 0, nil and done brings the sequence or
	// the refusal.
	End(done func(seq uint64, ts int64, err error)) (uint64, error)
	// Abort drops the message: nothing is stored, done is never called.
	Abort()
}

package log

import (
	"context"
	"time"
)

// Reader is the read side of a stream's log: what the stream's readers
// (consumers, message gets, direct gets) use, so none of them holds the
// writer. *Log implements it, for an R1 stream and for a replica alike.
// Every method is safe for concurrent use; see Log's methods of the same
// names for what each returns and its errors.
type Reader interface {
	// State is the log's counts, first and last sequence and times.
	State() State
	// LoadMsg fills sm with message seq (metadata and payload extents).
	LoadMsg(seq uint64, sm *StoredMsg) error
	// LoadNext fills sm with the first live message at or after seq on
	// filter and returns its sequence (ErrNotFound: none yet).
	LoadNext(seq uint64, filter string, sm *StoredMsg) (uint64, error)
	// LastSeqForSubject is the newest live sequence on filter.
	LastSeqForSubject(filter string) (uint64, error)
	// SeqAtTime is the first sequence stored at or after t.
	SeqAtTime(t time.Time) uint64
	// SubjectsState counts the live messages per subject matching filter.
	SubjectsState(filter string) map[string]SubjectState
	// Deleted lists up to max removed sequences inside the live range.
	Deleted(max int) []uint64
	// Wait blocks until seq is stored and visible, or ctx ends.
	Wait(ctx context.Context, seq uint64) error
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
	// MsgsFrom counts the live messages at or after seq.
	MsgsFrom(seq uint64) uint64
	// SeqBefore is the newest live sequence below seq on the literal
	// subject, or 0.
	SeqBefore(subject string, seq uint64) uint64
}

var _ Reader = (*Log)(nil)

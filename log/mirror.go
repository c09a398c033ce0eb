package log

import (
	"errors"
	"fmt"
	"slices"
)

// Storing at a given sequence: a mirror.
//
// A JetStream mirror keeps its origin's sequence numbers and timestamps. A
// message it copies is appended with AppendAt (a local log) or committed
// with Commit.Seq set (a replica log): it gets exactly that sequence, and
// its timestamp is the given one (raised to the previous message's, as
// every timestamp is). The sequence must not be below the next one
// (ErrSeqExists: that sequence is stored or was skipped already, so a
// mirror that copies a message twice stores it once). When it is above,
// the sequences in between, which the origin removed before the mirror
// read them, are skipped: a skip record (type 8, the record compaction
// writes for removed runs) is written right before the message, in the
// same group commit, and recovery replays it as those sequences having
// existed and been removed. They count as deleted (NumDeleted) inside the
// log's range, or move its first sequence when the log holds nothing.
//
// The skip and the message are one decision of the writer: the Checker is
// asked about the message as sequence seq; a write failure that loses the
// message rolls the next sequence back to the first skipped one, so a retry
// writes the skip again.

// ErrSeqExists: AppendAt or Commit.Seq asked for a sequence below the
// log's next one.
var ErrSeqExists = errors.New("log: sequence already stored")

// AppendAt is Append for a message that must be stored as sequence seq
// with timestamp ts (unix ns; raised to the previous message's), skipping
// the sequences before it that the log has not reached: see the note
// above. seq 0 is Append. Commit and CommitAsync fail with ErrSeqExists
// when seq is below the next sequence by then.
func (l *Log) AppendAt(subject string, hdr []byte, size int64, seq uint64, ts int64) (*Appender, error) {
	a, err := l.Append(subject, hdr, size)
	if err != nil {
		return nil, err
	}
	a.at, a.atTs = seq, ts
	return a, nil
}

// placeLocked decides where the message being committed goes: the next
// sequence and the clock's time (now), or, for an AppendAt / Commit.Seq
// message, its own sequence and timestamp, with gap the first sequence it
// skips (0: none). l.w held.
func (l *Log) placeLocked(at uint64, atTs, now int64) (seq uint64, ts int64, gap uint64, err error) {
	seq, ts = l.w.nextSeq, max(now, l.w.lastTs)
	if at == 0 {
		return seq, ts, 0, nil
	}
	if at < seq {
		return 0, 0, 0, fmt.Errorf("%w: %d (next is %d)", ErrSeqExists, at, seq)
	}
	if at > seq {
		gap = seq
	}
	return at, max(atTs, l.w.lastTs), gap, nil
}

// writeSkipLocked writes the skip record of the sequences gap..seq-1 and
// moves the next sequence to seq (so a segment started for the message's
// own record begins after the skip). l.w held.
func (l *Log) writeSkipLocked(gap, seq uint64) error {
	var rec [recHeaderSize + skipBodySize]byte
	putRecHeader(rec[:], recSkip, 0, skipBodySize)
	le.PutUint64(rec[recHeaderSize:], gap)
	le.PutUint64(rec[recHeaderSize+8:], seq-1)
	sealRecord(rec[:], rec[recHeaderSize:])
	if _, _, err := l.writeLocked(rec[:], nil); err != nil {
		return err
	}
	l.w.nextSeq = seq
	return nil
}

// SeqBefore returns the newest live sequence below seq stored on the
// literal subject, or 0 (a republished message's Nats-Last-Sequence).
func (l *Log) SeqBefore(subject string, seq uint64) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x := &l.mu.idx
	id, ok := x.subjects[subject]
	if !ok {
		return 0
	}
	seqs := x.subjs[id].seqs
	i, _ := slices.BinarySearch(seqs, seq)
	if i == 0 {
		return 0
	}
	return seqs[i-1]
}

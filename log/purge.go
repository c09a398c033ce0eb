package log

import (
	"errors"
	"fmt"

	"github.com/bargemq/barge/subject"
)

// Delete removes message seq. It writes a tombstone and returns once that
// is durable (like Commit). On a full disk it frees space first (free.go).
// Errors: ErrNotFound (seq 0 or past LastSeq), ErrDeleted (already gone, or
// not yet visible), ErrClosed, a write error (ErrNoSpace, ErrIO).
func (l *Log) Delete(seq uint64) error {
	err := l.delete(seq)
	if errors.Is(err, ErrNoSpace) && l.canFree() {
		_, err = l.removeFreeing(err, deleteSel(seq))
	}
	return err
}

func (l *Log) delete(seq uint64) error {
	l.w.Lock()
	if err := l.writableLocked(); err != nil {
		l.w.Unlock()
		return err
	}
	l.mu.RLock()
	e := l.mu.idx.get(seq)
	last, live := l.mu.idx.last, e != nil && e.live
	l.mu.RUnlock()
	if seq == 0 || seq > last {
		l.w.Unlock()
		return ErrNotFound
	}
	if !live {
		l.w.Unlock()
		return ErrDeleted
	}
	var rec [recHeaderSize + deleteBodySz]byte
	putRecHeader(rec[:], recDelete, 0, deleteBodySz)
	le.PutUint64(rec[recHeaderSize:], seq)
	sealRecord(rec[:], rec[recHeaderSize:])
	seg, off, err := l.writeLocked(rec[:], nil)
	if err != nil {
		l.w.Unlock()
		return err
	}
	o := &op{kind: opDelete, seq: seq, record: true}
	l.noteRecordLocked(o, seg, off+int64(len(rec)))
	l.enqueue(o)
	l.w.Unlock()
	return l.await(o)
}

// PurgeRequest selects what Purge removes, as JetStream's purge does:
// Subject filters by subject (NATS wildcards; "" = all); Seq > 0 removes
// messages below Seq (not Seq itself); Keep > 0 keeps the newest Keep
// matching messages. Seq and Keep are exclusive.
type PurgeRequest struct {
	Subject string
	Seq     uint64
	Keep    uint64
}

// Purge removes the selected messages and returns how many. It writes one
// purge record (the last sequence removed and the filter), durable before
// Purge returns. On a full disk it frees space first (free.go). LastSeq does
// not move back; a purge of everything moves FirstSeq to LastSeq+1. Errors:
// ErrBadRequest, ErrClosed, a write error (ErrNoSpace, ErrIO).
func (l *Log) Purge(req PurgeRequest) (uint64, error) {
	if req.Seq > 0 && req.Keep > 0 {
		return 0, fmt.Errorf("%w: seq and keep are exclusive", ErrBadRequest)
	}
	if len(req.Subject) > 0xffff {
		return 0, fmt.Errorf("%w: subject too long", ErrBadRequest)
	}
	n, err := l.purge(req)
	if errors.Is(err, ErrNoSpace) && l.canFree() {
		n, err = l.removeFreeing(err, purgeSel(req))
	}
	return n, err
}

func (l *Log) purge(req PurgeRequest) (uint64, error) {
	l.w.Lock()
	if err := l.writableLocked(); err != nil {
		l.w.Unlock()
		return 0, err
	}
	l.mu.RLock()
	upTo := l.purgeBoundLocked(req)
	l.mu.RUnlock()
	if upTo == 0 {
		l.w.Unlock()
		return 0, nil
	}
	rec := make([]byte, recHeaderSize+purgeMetaSize+len(req.Subject))
	putRecHeader(rec, recPurge, 0, purgeMetaSize+len(req.Subject))
	le.PutUint64(rec[recHeaderSize:], upTo)
	le.PutUint16(rec[recHeaderSize+8:], uint16(len(req.Subject)))
	copy(rec[recHeaderSize+purgeMetaSize:], req.Subject)
	sealRecord(rec, rec[recHeaderSize:])
	seg, off, err := l.writeLocked(rec, nil)
	if err != nil {
		l.w.Unlock()
		return 0, err
	}
	unmark := l.markPurge(req.Subject, upTo) // its removals need no tombstones
	o := &op{kind: opPurge, seq: upTo, subject: req.Subject, record: true}
	l.noteRecordLocked(o, seg, off+int64(len(rec)))
	l.enqueue(o)
	l.w.Unlock()
	err = l.await(o)
	unmark()
	return o.n, err
}

// purgeBoundLocked turns a request into the last sequence to remove, over
// the messages visible now (0: nothing to do). Recording the bound, not the
// request, makes replay remove exactly what this purge removed.
func (l *Log) purgeBoundLocked(req PurgeRequest) uint64 {
	x := &l.mu.idx
	switch {
	case req.Seq > 0:
		return min(req.Seq-1, x.last)
	case req.Keep == 0:
		return x.last
	}
	// Keep the newest Keep matching messages.
	if req.Subject != "" && req.Subject != ">" && !subject.HasWildcard(req.Subject) {
		id, ok := x.subjects[req.Subject]
		if !ok {
			return 0
		}
		s := x.subjs[id].seqs
		if uint64(len(s)) <= req.Keep {
			return 0
		}
		return s[uint64(len(s))-req.Keep-1]
	}
	kept := uint64(0)
	for i := len(x.ents) - 1; i >= 0; i-- {
		e := &x.ents[i]
		if !e.live || !subject.Matches(req.Subject, x.subjs[e.subj].name) {
			continue
		}
		if kept == req.Keep {
			return x.base + uint64(i)
		}
		kept++
	}
	return 0
}

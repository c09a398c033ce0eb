package log

import (
	"errors"
	"fmt"

	"github.com/bargemq/barge/codec"
)

// Publish checks of a replicated commit (Commit.Checks): Nats-Msg-Id
// dedup, expected last sequence / subject sequence / message id, and
// rollups. ApplyCommit decides them in apply (raft) order from the log's
// contents and the commit's own timestamp, never a local clock, so every
// replica decides alike, restarted or not:
//
//   - dedup: a commit is a duplicate when the newest live message carrying
//     the same Nats-Msg-Id header was stored at most DupWindow ns before
//     the commit's timestamp (max(Commit.Time, the last timestamp)). A
//     deleted or purged original no longer deduplicates. The ids are held
//     in a table loaded from the log the first time a commit needs it
//     (the newest messages within that commit's window) and kept up to
//     date by every commit after.
//   - the expected last subject sequence and last message id see every
//     earlier commit (a barrier makes the batch so far visible first).
//   - a rollup purges the subject (or the stream) below the new message
//     once it is committed, as R1 does after its fsync.

// Rollup is a commit's Nats-Rollup.
type Rollup uint8

// Rollup kinds (format: stored in raft commit entries).
const (
	RollupNone    Rollup = 0
	RollupSubject Rollup = 1 // purge the message's subject below it
	RollupAll     Rollup = 2 // purge the whole stream below it
)

// Checks are the order-dependent publish checks a commit asks for.
type Checks struct {
	// DupWindow > 0 turns on dedup by the header's Nats-Msg-Id within this
	// many nanoseconds (ErrDupMsgID, with the original's sequence).
	DupWindow int64
	// CheckSubjSeq: the newest sequence on SubjFilter ("" means the
	// message's subject; wildcards allowed) must be SubjSeq (0: none).
	CheckSubjSeq bool
	SubjSeq      uint64
	SubjFilter   string
	// CheckLastMsgID: the last message's Nats-Msg-Id must be LastMsgID
	// ("" when it has none or is deleted).
	CheckLastMsgID bool
	LastMsgID      string
	Rollup         Rollup
}

var (
	// ErrDupMsgID: ApplyCommit found the commit's Nats-Msg-Id within the
	// duplicate window; the returned sequence is the original's.
	ErrDupMsgID = errors.New("log: duplicate message id")
	// ErrLastMsgID: the expected last message id did not match.
	ErrLastMsgID = errors.New("log: wrong last message id")
)

// CheckError is a failed expected-value check (Err is ErrLastSeq or
// ErrLastMsgID) with the value the log actually had.
type CheckError struct {
	Err   error
	Seq   uint64 // the actual last (subject) sequence, for ErrLastSeq
	MsgID string // the actual last message id, for ErrLastMsgID
}

func (e *CheckError) Error() string {
	if errors.Is(e.Err, ErrLastMsgID) {
		return fmt.Sprintf("%v: last is %q", e.Err, e.MsgID)
	}
	return fmt.Sprintf("%v: last is %d", e.Err, e.Seq)
}

// Unwrap returns Err.
func (e *CheckError) Unwrap() error { return e.Err }

// hdrMsgID is the header name dedup reads (ADR-4's Nats-Msg-Id).
const hdrMsgID = "Nats-Msg-Id"

// msgIDTable maps Nats-Msg-Id values to the newest message that carries
// them, for dedup; a FIFO in timestamp order drives expiry. rep.mu guards
// it.
type msgIDTable struct {
	loaded bool
	ids    map[string]msgIDRec
	order  []msgIDOrder
	head   int
}

type msgIDRec struct {
	seq uint64
	ts  int64
}

type msgIDOrder struct {
	id  string
	seq uint64
	ts  int64
}

func (t *msgIDTable) add(id string, seq uint64, ts int64) {
	if t.ids == nil {
		t.ids = make(map[string]msgIDRec)
	}
	t.ids[id] = msgIDRec{seq, ts}
	t.order = append(t.order, msgIDOrder{id, seq, ts})
}

// expire forgets ids stored before cutoff (unix ns).
func (t *msgIDTable) expire(cutoff int64) {
	for t.head < len(t.order) && t.order[t.head].ts < cutoff {
		o := t.order[t.head]
		if r, ok := t.ids[o.id]; ok && r.seq == o.seq {
			delete(t.ids, o.id)
		}
		t.order[t.head] = msgIDOrder{}
		t.head++
	}
	if t.head > 1024 && t.head*2 > len(t.order) {
		n := copy(t.order, t.order[t.head:])
		clear(t.order[n:])
		t.order, t.head = t.order[:n], 0
	}
}

// checksLocked decides c's checks against the log as of every earlier
// Apply call, at commit timestamp ts. It returns the original sequence
// with ErrDupMsgID, a *CheckError, or a barrier's storage error. rep.mu
// held, Log.w not.
func (l *Log) checksLocked(c *Commit) (uint64, error) {
	ch := &c.Checks
	rs := &l.rep
	needID := ch.DupWindow > 0 && len(c.Hdr) > 0
	var id string
	if needID {
		id = headerValue(c.Hdr, hdrMsgID)
		needID = id != ""
	}
	if !needID && !ch.CheckSubjSeq && !ch.CheckLastMsgID && !c.CheckLastSeq {
		return 0, nil
	}
	if ch.CheckSubjSeq || ch.CheckLastMsgID || (needID && !rs.mu.msgIDs.loaded) {
		// Make the batch so far visible to the index the checks read.
		if err := l.barrierLocked(); err != nil {
			return 0, err
		}
	}
	l.w.Lock()
	ts, last := max(c.Time, l.w.lastTs), l.w.nextSeq-1
	l.w.Unlock()
	if needID {
		t := &rs.mu.msgIDs
		if !t.loaded {
			l.loadMsgIDsLocked(ts - ch.DupWindow)
		}
		t.expire(ts - ch.DupWindow)
		if r, ok := t.ids[id]; ok && l.liveLocked(r.seq) {
			return r.seq, ErrDupMsgID
		}
	}
	if c.CheckLastSeq && last != c.LastSeq {
		return 0, &CheckError{Err: ErrLastSeq, Seq: last}
	}
	if ch.CheckSubjSeq {
		filter := ch.SubjFilter
		if filter == "" {
			filter = c.Subject
		}
		got, _ := l.LastSeqForSubject(filter)
		if got != ch.SubjSeq {
			return 0, &CheckError{Err: ErrLastSeq, Seq: got}
		}
	}
	if ch.CheckLastMsgID {
		if got := l.msgIDOf(last); got != ch.LastMsgID {
			return 0, &CheckError{Err: ErrLastMsgID, MsgID: got}
		}
	}
	return 0, nil
}

// noteMsgIDLocked records a committed message's Nats-Msg-Id once the table
// is loaded (before, loading finds it in the log). rep.mu held.
func (l *Log) noteMsgIDLocked(hdr []byte, seq uint64, ts int64) {
	t := &l.rep.mu.msgIDs
	if !t.loaded || len(hdr) == 0 {
		return
	}
	if id := headerValue(hdr, hdrMsgID); id != "" {
		t.add(id, seq, ts)
	}
}

// liveLocked reports whether seq is a stored message: written and not yet
// visible, or visible and not removed. rep.mu held.
func (l *Log) liveLocked(seq uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if seq > l.mu.idx.last {
		return true
	}
	e := l.mu.idx.get(seq)
	return e != nil && e.live
}

// loadMsgIDsLocked fills the dedup table from the live messages stored at
// or after cutoff, newest first until the first older one. The batch so
// far must be visible (barrier). rep.mu held.
func (l *Log) loadMsgIDsLocked(cutoff int64) {
	t := &l.rep.mu.msgIDs
	t.loaded = true
	l.mu.RLock()
	first, last := l.mu.idx.firstSeq(), l.mu.idx.last
	l.mu.RUnlock()
	var found []msgIDOrder
	var sm StoredMsg
	for seq := last; seq >= first && seq > 0; seq-- {
		if err := l.LoadMsg(seq, &sm); err != nil {
			continue
		}
		if sm.Time < cutoff {
			break
		}
		if id := headerValue(sm.Hdr, hdrMsgID); id != "" {
			found = append(found, msgIDOrder{id, seq, sm.Time})
		}
	}
	for i := len(found) - 1; i >= 0; i-- {
		t.add(found[i].id, found[i].seq, found[i].ts)
	}
}

// msgIDOf is message seq's Nats-Msg-Id ("" when it has none or is not
// stored).
func (l *Log) msgIDOf(seq uint64) string {
	var sm StoredMsg
	if seq == 0 || l.LoadMsg(seq, &sm) != nil {
		return ""
	}
	return headerValue(sm.Hdr, hdrMsgID)
}

// rollupLocked purges below message seq as c's rollup asks, once the
// commit is visible. rep.mu held.
func (l *Log) rollupLocked(c *Commit, seq uint64) error {
	var req PurgeRequest
	switch c.Checks.Rollup {
	case RollupSubject:
		req = PurgeRequest{Subject: c.Subject, Seq: seq}
	case RollupAll:
		req = PurgeRequest{Seq: seq}
	default:
		return nil
	}
	if err := l.barrierLocked(); err != nil {
		return err
	}
	_, err := l.Purge(req)
	return err
}

// headerValue returns the value of the first header named key in a NATS
// header block, read as codec.HeaderValue reads it (and so as the R1
// publish path does); "" when absent.
func headerValue(hdr []byte, key string) string {
	v, _ := codec.HeaderValue(hdr, key)
	return string(v)
}

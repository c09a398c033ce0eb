package log

import (
	"errors"
	"fmt"
)

// Which messages a stream may store is not the log's business: the
// publish rules (JetStream's duplicate window, expected-value headers,
// rollups...) live above it, in a Checker (Options.Checker). The log's part
// is to ask the Checker about every message in log order, at the one point
// where the answer cannot be overtaken by another message, and to do what
// the answer says:
//
//   - a local log asks in Appender.Commit/CommitAsync, a replica log in
//     ApplyCommit/ApplyInline (raft order); both under the writer lock,
//     after the log's own checks (writable, DiscardNew) and just before the
//     message is given its sequence and its commit record is written;
//   - a refusal (*CheckError) is returned as it is: nothing is written and
//     the sequence goes to the next message. raft carries it back to the
//     proposer in the entry's result; neither the log nor raft reads it;
//   - an Action is performed right after the message, in log order, with
//     the message's own group commit (a rollup's purge);
//   - a payload the Checker sets (View.SetPayload) is stored instead of
//     the message's own (a counter's total), in the same record forms the
//     message would have had, so recovery reads it like any other; with
//     it, a header block it sets (View.SetHeader) replaces the message's
//     (a sourced counter's Nats-Counter-Sources);
//   - Truncate tells the Checker that messages it accepted were rolled back
//     after a write failure, Reset that the log was (re)opened.
//
// The Checker sees the log through a View: what has been written (LastSeq,
// its config) and what has been applied to the index (Applied, Live,
// subject queries). Between the two sit the messages written but not yet
// applied (waiting for their group commit). On the replica path the log
// can wait for them (View.CanSettle): a Checker that needs an answer the
// pending messages could still change (a limit they will trigger may
// remove a message) returns ErrUnsettled and is asked again, once, after
// they are applied. A local log never waits: it must not block a
// publisher's event loop, and it has no peer to agree with.

// Checker decides, in log order, whether each message may be stored. The
// log calls its methods only under its writer lock, one at a time, so an
// implementation needs no lock of its own for state only these methods
// touch.
type Checker interface {
	// Check decides m, which is about to be stored as sequence m.Seq at
	// m.Time. nil: store it (the Checker may count it as stored: a write
	// failure that loses it is reported through Truncate); the Action is
	// performed right after it. A *CheckError: refuse it. ErrUnsettled,
	// only when v.CanSettle(): ask again once every written message is
	// applied. v is valid only during the call.
	Check(v View, m CheckMsg) (Action, error)
	// Truncate says that no message after sequence last is stored: they
	// were lost to a write failure, and their sequences will be given
	// again.
	Truncate(last uint64)
	// Reset says that the log was opened (its contents may be anything:
	// recovered, installed from a snapshot): forget what was learned; v
	// reads what the log holds (for a Checker that rebuilds its state
	// now), during the call only.
	Reset(v View)
}

// CheckMsg is the message a Checker decides.
type CheckMsg struct {
	Subject string
	Hdr     []byte // the header block as it is stored; nil when none
	Size    int64  // payload bytes
	Seq     uint64 // the sequence it gets if stored
	// Time is its timestamp (unix ns): the local clock for a local log,
	// the proposer's for a replica, raised to the previous message's.
	Time int64
}

// Action is what the log does right after a message the Checker accepted,
// in log order (format: none; a purge it causes is an ordinary purge
// record).
type Action uint8

const (
	ActNone         Action = iota
	ActPurgeSubject        // purge the message's subject below it
	ActPurgeAll            // purge every message below it
)

// CheckError is a Checker's refusal. Its fields mean what the Checker
// says; the log and raft carry them unread.
type CheckError struct {
	Code uint32
	Seq  uint64
	Text string
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("log: message refused (check %d, seq %d): %s", e.Code, e.Seq, e.Text)
}

// ErrUnsettled is Check's request to be asked again once every written
// message is applied (see View.CanSettle).
var ErrUnsettled = errors.New("log: check needs the written messages applied")

// View is a Checker's read access to the log during Check. It reads the
// writer's state (held by the caller) and the index (taking the reader
// lock), so it must not be kept.
type View struct {
	l      *Log
	settle bool
	out    *checkOut // what SetPayload, SetHeader and SetPurgeFilter set
}

// checkOut is what a Checker set through its View besides its answer.
type checkOut struct {
	body      []byte // non-nil: the payload to store instead
	buf       []byte // body's reused storage
	hdr       []byte // non-nil (with body only): the header block to store instead
	hbuf      []byte // hdr's reused storage
	filter    string // with hasFilter: what ActPurgeSubject purges
	hasFilter bool
}

// purgeSubject is what ActPurgeSubject purges for a message on subject.
func (o *checkOut) purgeSubject(subject string) string {
	if o.hasFilter {
		return o.filter
	}
	return subject
}

// SetPayload replaces the payload of the message being checked with p (a
// JetStream counter's value, computed in log order), when the Checker
// accepts it. Only a message whose payload fits one record (not chunked)
// can have it replaced: a chunked one is refused with ErrBadRequest. The
// log stores p as if it had come with the message; p is not retained
// past the call that stores it.
func (v View) SetPayload(p []byte) {
	if v.out != nil {
		v.out.body = append(v.out.buf[:0], p...)
		v.out.buf = v.out.body[:0]
		if v.out.body == nil {
			v.out.body = []byte{}
		}
	}
}

// SetHeader replaces the header block of the message being checked with h
// (a JetStream counter's Nats-Counter-Sources, computed in log order),
// when the Checker accepts it. It goes with SetPayload only: a header set
// without a payload refuses the message with ErrBadRequest. h is not
// retained past the call that stores it.
func (v View) SetHeader(h []byte) {
	if v.out != nil {
		v.out.hdr = append(v.out.hbuf[:0], h...)
		v.out.hbuf = v.out.hdr[:0]
		if v.out.hdr == nil {
			v.out.hdr = []byte{}
		}
	}
}

// SetPurgeFilter makes ActPurgeSubject, if the Checker answers it, purge
// the messages on filter (a subject or wildcard filter, not empty) below
// the message instead of those on the message's own subject (a JetStream
// schedule's message purging the schedule).
func (v View) SetPurgeFilter(filter string) {
	if v.out != nil && filter != "" {
		v.out.filter, v.out.hasFilter = filter, true
	}
}

// LastSeq is the last sequence written: the message before the one being
// checked, applied or not.
func (v View) LastSeq() uint64 { return v.l.w.nextSeq - 1 }

// LastTime is the timestamp of the last message written (unix ns; 0 for
// a log that never held one).
func (v View) LastTime() int64 { return v.l.w.lastTs }

// Rules is Config.Rules as of this point of the log.
func (v View) Rules() string { return v.l.w.cfg.Rules }

// CanSettle reports whether Check may return ErrUnsettled.
func (v View) CanSettle() bool { return v.settle }

// Applied is the last sequence applied to the index: the queries below
// see messages up to it. Messages after it, up to LastSeq, are written and
// waiting for their group commit.
func (v View) Applied() uint64 {
	v.l.mu.RLock()
	defer v.l.mu.RUnlock()
	return v.l.mu.idx.last
}

// Live reports whether message seq is stored: written and not yet
// applied, or applied and not removed since.
func (v View) Live(seq uint64) bool {
	v.l.mu.RLock()
	defer v.l.mu.RUnlock()
	if seq > v.l.mu.idx.last {
		return seq < v.l.w.nextSeq
	}
	e := v.l.mu.idx.get(seq)
	return e != nil && e.live
}

// LastSeqForSubject is the newest applied live sequence whose subject
// matches filter, or 0.
func (v View) LastSeqForSubject(filter string) uint64 {
	seq, _ := v.l.LastSeqForSubject(filter)
	return seq
}

// SubjectMsgs counts the applied live messages on the literal subject.
func (v View) SubjectMsgs(subject string) int64 {
	v.l.mu.RLock()
	defer v.l.mu.RUnlock()
	x := &v.l.mu.idx
	if id, ok := x.subjects[subject]; ok {
		return int64(len(x.subjs[id].seqs))
	}
	return 0
}

// SeqAtTime is the first applied live sequence stored at or after ts
// (unix ns), or Applied()+1.
func (v View) SeqAtTime(ts int64) uint64 {
	v.l.mu.RLock()
	defer v.l.mu.RUnlock()
	return v.l.mu.idx.seqAtTime(ts)
}

// LoadMsg is Log.LoadMsg (applied messages).
func (v View) LoadMsg(seq uint64, sm *StoredMsg) error { return v.l.LoadMsg(seq, sm) }

// LoadNext is Log.LoadNext over every subject (applied messages).
func (v View) LoadNext(seq uint64, sm *StoredMsg) (uint64, error) { return v.l.LoadNext(seq, "", sm) }

// checkLocked asks the Checker about the message about to be seq at ts
// (ActNone, nil without one), and returns what the Checker set through its
// View: valid while l.w is held (l.w.ck, kept so no message allocates).
// settle: the caller can wait for the written messages (ErrUnsettled may
// come back). l.w held.
func (l *Log) checkLocked(subject string, hdr []byte, size int64, seq uint64, ts int64, settle bool) (Action, *checkOut, error) {
	out := &l.w.ck
	out.body, out.hdr, out.filter, out.hasFilter = nil, nil, "", false
	ck := l.opts.Checker
	if ck == nil {
		return ActNone, out, nil
	}
	if len(hdr) == 0 {
		hdr = nil
	}
	act, err := ck.Check(View{l: l, settle: settle, out: out}, CheckMsg{Subject: subject, Hdr: hdr, Size: size, Seq: seq, Time: ts})
	if errors.Is(err, ErrUnsettled) && !settle {
		return ActNone, out, fmt.Errorf("%w: checker asked to settle where the log cannot wait", ErrBadRequest)
	}
	if err == nil && out.hdr != nil && out.body == nil {
		l.truncateCheckerLocked(seq - 1)
		return ActNone, out, fmt.Errorf("%w: a header is replaced only with the payload", ErrBadRequest)
	}
	return act, out, err
}

// truncateCheckerLocked tells the Checker that nothing after last is
// stored. l.w held.
func (l *Log) truncateCheckerLocked(last uint64) {
	if ck := l.opts.Checker; ck != nil {
		ck.Truncate(last)
	}
}

// actionLocked writes the purge record a Checker's Action asks for after
// message seq on subject and returns its op, to be queued right behind the
// message's (nil for ActNone). The purge removes what is below seq when it
// is applied, in queue order, so it sees every message written before it.
// l.w held.
func (l *Log) actionLocked(act Action, subject string, seq uint64) (*op, error) {
	var filter string
	switch act {
	case ActNone:
		return nil, nil
	case ActPurgeSubject:
		filter = subject
	case ActPurgeAll:
	default:
		return nil, fmt.Errorf("%w: unknown check action %d", ErrBadRequest, act)
	}
	if seq <= 1 {
		return nil, nil
	}
	n := recHeaderSize + purgeMetaSize + len(filter)
	var buf [recHeaderSize + purgeMetaSize + 256]byte
	var rec []byte
	if n <= len(buf) {
		rec = buf[:n]
	} else {
		rec = make([]byte, n)
	}
	putRecHeader(rec, recPurge, 0, purgeMetaSize+len(filter))
	le.PutUint64(rec[recHeaderSize:], seq-1)
	le.PutUint16(rec[recHeaderSize+8:], uint16(len(filter)))
	copy(rec[recHeaderSize+purgeMetaSize:], filter)
	sealRecord(rec, rec[recHeaderSize:])
	seg, off, err := l.writeLocked(rec, nil)
	if err != nil {
		return nil, err
	}
	o := &op{kind: opPurge, seq: seq - 1, subject: filter, record: true, mark: filter != ""}
	l.noteRecordLocked(o, seg, off+int64(len(rec)))
	return o, nil
}

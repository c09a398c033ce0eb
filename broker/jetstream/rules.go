package jetstream

import (
	"encoding/binary"
	"math/big"
	"strconv"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// The publish rules.
//
// Every rule a stream applies to a published message is decided here, by
// one publishRules per stream, which is the stream log's log.Checker: the
// log asks it about each message in log order, under the log's writer
// lock, just before the message gets its sequence, on the local path
// (Appender.CommitAsync, R1) and on every replica's apply path
// (ApplyCommit/ApplyInline, raft order). In the order they are decided
// (the one publishes had before, close to nats-server's):
//
//	header block over 64 KiB             10097
//	Nats-TTL invalid                     10165
//	Nats-TTL (per-message TTL disabled)  10166
//	Nats-Incr rules (counter.go)         10168-10171
//	Nats-Schedule rules (schedule.go)    10188-10212 (and 10166)
//	malformed expected-sequence header   10003 / 10193
//	sealed stream                        10109
//	Nats-Batch-Id (atomic publish off)   10174
//	  (on: the batch rules, rules_batch.go)
//	Nats-Expected-Stream                 10060
//	max_msg_size (headers + payload)     10054
//	Nats-Rollup not allowed / invalid    10111 (a source's copy may roll
//	                                     up without allow_rollup, as in
//	                                     nats-server)
//	Nats-Msg-Id within duplicate_window  a PubAck {"duplicate": true} with the original's sequence
//	Nats-Expected-Last-Sequence          10071 with the last sequence
//	Nats-Expected-Last-Subject-Sequence  10071 with the subject's last sequence
//	  (-Subject: another subject or filter instead of the message's own)
//	Nats-Expected-Last-Msg-Id            10070 with the last message's id
//	discard_new_per_subject              10077 "maximum messages per subject exceeded"
//	Nats-Incr total (counter.go)         the new body (View.SetPayload)
//	Nats-Rollup sub / all                an Action: the log purges the
//	                                     subject / the stream below the message
//
// The first group depends only on the config and the message, so the
// publish path also runs it early (precheck: before a refused body is
// stored, or proposed); the decision that counts is the one in log order.
// The log's own limits (max_msgs / max_bytes with discard new) are the
// log's, decided on the same two paths.
//
// # Determinism
//
// A replica decides a message from these inputs only: the message (subject,
// header, size), its sequence and timestamp (the proposer's clock, raised
// to the previous message's: never the replica's own clock), the rules'
// config (ruleConfig, carried in log.Config.Rules, which changes through
// the raft log at one point of it), the log's contents, and this state:
//
//   - ids: the Nats-Msg-Id of every message stored within the duplicate
//     window of the newest timestamp, with its sequence and timestamp;
//   - pending: the messages accepted and not yet applied to the log's
//     index (written, waiting for their group commit), with their
//     subjects and ids.
//
// Both are functions of the log. A dedup decision reads only the ids of
// messages still stored (View.Live) within the window of the message's
// own timestamp. At Reset (every Open of the log: a restart, a snapshot
// install) ids are rebuilt from the headers of the stored messages within
// the window of the last timestamp: all of those the decision can read,
// since the next timestamp is no lower; a replica that never stopped also
// holds ids of removed messages, which Live filters out. The table is
// reloaded from the log when the window grows. A replica that stopped has nothing
// pending at Open; one that did not has pending messages only between
// two group commits, and raft gives each replica its own batches, so
// which messages are pending when a message is decided differs between
// replicas. A rule therefore reads the log as of every written message
// being applied: where pending messages could still change the answer
// (applied, they may make the log's limits remove the message a rule
// reads, pending or not) the rule asks the log to apply them first
// (log.ErrUnsettled: a dedup hit, any expected last subject sequence).
// Where they cannot, pending messages count as what they will be:
// Nats-Expected-Last-Msg-Id reads the newest message (no limit removes
// the newest; a delete is applied synchronously on replicas), and discard
// new per subject counts pending messages (under discard new the limits
// remove nothing). So a replica that restarted decides every later message
// exactly as one that did not, and every replica decides as every other
// (TestRulesRestartParity: copies with different batches, one restarted).
//
// Per-message TTL: a message's expiry is its timestamp plus its Nats-TTL,
// the same on every replica; the rules hand it to the stream's ttlIndex as
// they accept the message (and rebuild it at Reset), and only the leader
// removes expired messages, through the log like any delete (ttl.go).
//
// Outside the guarantee: max_age removes messages by each node's own
// clock (on a stream without TTLs or markers: one with them has its max_age
// applied by the leader like a TTL), so a rule reading a message that
// expires at that moment may differ. A restarted replica reopens its log with the stream's current
// definition and raft re-applies the entries after its applied marker
// under it: an entry decided before a config entry that the marker does
// not cover is decided again with the newer rules (the limits have the
// same window; the log keeps no config record). A local (R1) log never
// waits for its pending messages (the checks run on the publisher's event
// loop), so a rule racing a limit that those messages trigger is decided
// as if they were applied without it. A deleted or purged original no
// longer deduplicates (nats-server forgets ids on a purge, not on a
// delete: barge forgets both, which is what a restarted nats-server does
// too).

// checkDuplicate is the refusal code of a duplicate (log.CheckError.Seq is
// the original's sequence). Every other code is the jsapi.ErrCode of the
// answer, with Text its argument.
const checkDuplicate uint32 = 1

// ruleConfig is what the rules read of a stream's config.
type ruleConfig struct {
	window         int64 // duplicate_window (ns); 0: no dedup
	maxMsgSize     int64 // max_msg_size, headers and payload; <= 0: none
	maxPerSubj     int64 // max_msgs_per_subject under discard_new_per_subject; 0: off
	sealed         bool
	allowRollup    bool
	allowAtomic    bool // allow_atomic: Nats-Batch-Id messages (rules_batch.go)
	allowTTL       bool // allow_msg_ttl (or subject_delete_marker_ttl)
	allowCounter   bool // allow_msg_counter (counter.go)
	allowSchedules bool // allow_msg_schedules (schedule.go)
	// restoring stores every message as it comes: a replicated stream's
	// restore writes the archive's messages, decided when first stored
	// (restore_repl.go).
	restoring bool
}

// rulesOf is cfg's ruleConfig.
func rulesOf(cfg *jsapi.StreamConfig) ruleConfig {
	rc := ruleConfig{window: int64(cfg.Duplicates), maxMsgSize: int64(cfg.MaxMsgSize), sealed: cfg.Sealed,
		allowRollup: cfg.AllowRollup && !cfg.DenyPurge, allowAtomic: cfg.AllowAtomicPublish, allowTTL: cfg.AllowMsgTTL || cfg.SubjectDeleteMarkerTTL > 0, allowCounter: cfg.AllowMsgCounter,
		allowSchedules: cfg.AllowMsgSchedules}
	if cfg.DiscardNewPer && cfg.MaxMsgsPer > 0 {
		rc.maxPerSubj = cfg.MaxMsgsPer
	}
	if cfg.Mirror != nil {
		// A mirror stores what its origin stored, as nats-server's: no
		// dedup, and a rollup applies.
		rc.window, rc.allowRollup = 0, true
	}
	return rc
}

// Encoded ruleConfig, log.Config.Rules (format: stored in raft config
// entries): version u8 (1) | flags u8 (bit 0 sealed, bit 1 allow rollup,
// bit 2 allow msg TTL, bit 3 allow msg counter, bit 4 allow msg
// schedules, bit 5 restoring, bit 7 allow atomic) |
// window i64 | max msg size i64 | max msgs per subject i64.
const (
	rulesVersion = 1
	rulesSize    = 2 + 3*8
)

func (rc ruleConfig) encode() string {
	var b [rulesSize]byte
	b[0] = rulesVersion
	if rc.sealed {
		b[1] |= 1
	}
	if rc.allowRollup {
		b[1] |= 2
	}
	if rc.allowTTL {
		b[1] |= 4
	}
	if rc.allowCounter {
		b[1] |= 8
	}
	if rc.allowSchedules {
		b[1] |= 16
	}
	if rc.allowAtomic {
		b[1] |= 0x80
	}
	if rc.restoring {
		b[1] |= 32
	}
	binary.LittleEndian.PutUint64(b[2:], uint64(rc.window))
	binary.LittleEndian.PutUint64(b[10:], uint64(rc.maxMsgSize))
	binary.LittleEndian.PutUint64(b[18:], uint64(rc.maxPerSubj))
	return string(b[:])
}

// decodeRules reads an encoded ruleConfig; "" (a log without rules) and
// anything unknown decode as no rules.
func decodeRules(s string) ruleConfig {
	if len(s) != rulesSize || s[0] != rulesVersion {
		return ruleConfig{}
	}
	u := func(i int) int64 { return int64(binary.LittleEndian.Uint64([]byte(s[i : i+8]))) }
	return ruleConfig{sealed: s[1]&1 != 0, allowRollup: s[1]&2 != 0, allowAtomic: s[1]&0x80 != 0, allowTTL: s[1]&4 != 0, allowCounter: s[1]&8 != 0, allowSchedules: s[1]&16 != 0, restoring: s[1]&32 != 0, window: u(2), maxMsgSize: u(10), maxPerSubj: u(18)}
}

// pubHeaders are the JetStream headers of a message: views into its
// header block (valid while it is).
type pubHeaders struct {
	msgID          []byte
	expStream      []byte
	expLastMsgID   []byte
	expSubjSeqSubj []byte
	rollup         []byte
	expLastSeq     uint64
	expSubjSeq     uint64
	hasExpLastSeq  bool
	hasExpSubjSeq  bool
	batch          bool     // Nats-Batch-Id: an atomic batch publish
	sourced        bool     // Nats-Stream-Source: a source's copy
	ttl            int64    // Nats-TTL in seconds (-1: never; 0: none)
	badTTL         bool     // Nats-TTL is not a valid TTL
	incr           *big.Int // Nats-Incr (nil when absent or invalid)
	hasIncr        bool
	sched          schedHeaders // schedule.go
}

// parse reads the JetStream headers of hdr. A malformed number in an
// expected-sequence header is a bad request, a subject without its
// sequence 10193, as in nats-server.
func (h *pubHeaders) parse(hdr []byte) *log.CheckError {
	if v, ok := codec.HeaderValue(hdr, jsapi.HdrTTL); ok {
		h.ttl, ok = parseTTL(v)
		h.badTTL = !ok
	}
	if hasKeyPrefix(hdr, hdrSchedule) { // one scan, not eight
		h.sched.parse(hdr)
	}
	if v, ok := codec.HeaderValue(hdr, jsapi.HdrIncr); ok {
		h.hasIncr = true
		if n, valid := parseIncr(v); valid {
			h.incr = n
		}
	}
	get := func(key string) []byte {
		v, _ := codec.HeaderValue(hdr, key)
		return v
	}
	num := func(key string) (uint64, bool, bool) {
		v, ok := codec.HeaderValue(hdr, key)
		if !ok {
			return 0, false, true
		}
		n, valid := jsapi.ParseUint(v)
		return n, true, valid
	}
	h.msgID = get(jsapi.HdrMsgID)
	h.expStream = get(jsapi.HdrExpectedStream)
	h.expLastMsgID = get(jsapi.HdrExpectedLastMsgID)
	h.rollup = get(jsapi.HdrRollup)
	_, h.batch = codec.HeaderValue(hdr, jsapi.HdrBatchID)
	_, h.sourced = codec.HeaderValue(hdr, jsapi.HdrStreamSource)
	h.expSubjSeqSubj = get(jsapi.HdrExpectedLastSubjSeqSubj)
	var ok bool
	if h.expLastSeq, h.hasExpLastSeq, ok = num(jsapi.HdrExpectedLastSeq); !ok {
		return refusal(jsapi.ErrCodeBadRequest, "")
	}
	if h.expSubjSeq, h.hasExpSubjSeq, ok = num(jsapi.HdrExpectedLastSubjSeq); !ok {
		return refusal(jsapi.ErrCodeBadRequest, "")
	}
	if len(h.expSubjSeqSubj) > 0 && !h.hasExpSubjSeq {
		return refusal(jsapi.ErrCodeStreamExpectedLastSeqPerSubjectInvalid, "")
	}
	return nil
}

// refusal is a refusal with a JetStream error code and its argument.
func refusal(code jsapi.ErrCode, arg string) *log.CheckError {
	return &log.CheckError{Code: uint32(code), Text: arg}
}

// decideStatic decides the rules that depend only on rc, the stream's name
// and the message (hdr, and size: headers and payload), filling h.
func (rc *ruleConfig) decideStatic(name, subj string, hdr []byte, size int64, h *pubHeaders) *log.CheckError {
	if len(hdr) > maxHeaderSize {
		return refusal(jsapi.ErrCodeStreamHeaderExceedsMaximum, "")
	}
	if len(hdr) > 0 {
		if ce := h.parse(hdr); ce != nil {
			return ce
		}
	}
	switch {
	case h.badTTL:
		return refusal(jsapi.ErrCodeMessageTTLInvalid, "")
	case h.ttl != 0 && !rc.allowTTL:
		return refusal(jsapi.ErrCodeMessageTTLDisabled, "")
	case rc.sealed:
		return refusal(jsapi.ErrCodeStreamSealed, "")
	}
	if ce := rc.decideCounter(h, size-int64(len(hdr))); ce != nil {
		return ce
	}
	if ce := rc.decideSchedule(subj, &h.sched, h.rollup); ce != nil {
		return ce
	}
	switch {
	case h.batch && !rc.allowAtomic:
		return refusal(jsapi.ErrCodeAtomicPublishDisabled, "")
	case len(h.expStream) > 0 && string(h.expStream) != name:
		return refusal(jsapi.ErrCodeStreamNotMatch, "")
	case rc.maxMsgSize > 0 && size > rc.maxMsgSize:
		return refusal(jsapi.ErrCodeStreamMessageExceedsMaximum, "")
	case len(h.rollup) > 0 && !rc.allowRollup && !h.sourced:
		return refusal(jsapi.ErrCodeStreamRollupFailed, "rollup not permitted")
	case len(h.rollup) > 0 && string(h.rollup) != jsapi.RollupSubject && string(h.rollup) != jsapi.RollupAll:
		return refusal(jsapi.ErrCodeStreamRollupFailed, "rollup value invalid: "+strconv.Quote(string(h.rollup)))
	}
	return nil
}

// refusalAnswer is what a publisher is told about a refusal: a duplicate's
// original sequence (dup), or an API error.
func refusalAnswer(ce *log.CheckError) (dup bool, seq uint64, apiErr *jsapi.APIError) {
	if ce.Code == checkDuplicate {
		return true, ce.Seq, nil
	}
	if ce.Code == checkSourcedAgain {
		// Only feeds send these (feed.go takes it as stored already).
		return false, 0, jsapi.NewAPIError(jsapi.ErrCodeStreamGeneral, "message sourced already")
	}
	return false, 0, jsapi.NewAPIError(jsapi.ErrCode(ce.Code), ce.Text)
}

// publishRules is one stream's log.Checker (see above). Every field is
// guarded by the stream log's writer lock: the log calls the Checker
// methods only under it.
type publishRules struct {
	name string
	raw  string     // the encoded config cfg was decoded from
	cfg  ruleConfig // as of the message being decided

	// loaded: ids holds every stored id within the window (see load).
	loaded bool
	ids    idTable
	// pending are the accepted messages not yet known applied, in
	// sequence order from head; bySubj counts them per subject.
	pending []pendingMsg
	head    int
	bySubj  map[string]pendingSubj
	pruneAt int
	sm      log.StoredMsg // load scratch
	// srcLast is the newest origin sequence accepted per source (its
	// Nats-Stream-Source key) as far as learnt (rules_source.go).
	srcLast map[string]uint64
	batch   batchRules // the atomic batch being decided (rules_batch.go)
	// ttls learns the accepted messages with a TTL, for the stream's
	// expirer (ttl.go); nil: not tracked.
	ttls *ttlIndex
	// scheds learns the accepted schedules (schedule.go); nil: not tracked.
	scheds *schedIndex
	// counters holds the total of each subject's newest pending counter
	// message (counter.go); body is scratch.
	counters map[string]pendingCounter
	body     []byte
}

// pendingMsg is an accepted message (id: its Nats-Msg-Id, or "").
type pendingMsg struct {
	seq  uint64
	ts   int64
	subj string
	id   string
	// src and srcSeq: a source's copy, its key and origin sequence.
	src    string
	srcSeq uint64
}

// pendingSubj is a subject's pending messages: how many, and the newest.
type pendingSubj struct {
	n    int64
	last uint64
}

// newPublishRules returns the rules of stream name, telling ix (when not
// nil) about the messages with a TTL and the schedules.
func newPublishRules(name string, ix *msgIndexes) *publishRules {
	r := &publishRules{name: name, bySubj: make(map[string]pendingSubj), counters: make(map[string]pendingCounter)}
	if ix != nil {
		r.ttls, r.scheds = &ix.ttls, &ix.scheds
	}
	return r
}

var _ log.Checker = (*publishRules)(nil)

// Check decides m (see the table above).
func (r *publishRules) Check(v log.View, m log.CheckMsg) (log.Action, error) {
	r.configure(v.Rules())
	if r.cfg.restoring {
		return log.ActNone, nil
	}
	var h pubHeaders
	if ce := r.cfg.decideStatic(r.name, m.Subject, m.Hdr, m.Size+int64(len(m.Hdr)), &h); ce != nil {
		return log.ActNone, ce
	}
	if h.batch {
		if ce := r.batch.before(m, &h); ce != nil {
			return log.ActNone, ce
		}
	}
	last := v.LastSeq()
	if r.cfg.window > 0 {
		if !r.loaded {
			r.load(v, m.Time)
		}
		r.ids.expire(m.Time - r.cfg.window)
		if len(h.msgID) > 0 {
			if e, ok := r.ids.m[string(h.msgID)]; ok {
				if v.CanSettle() && v.Applied() < last {
					// The limits the pending messages trigger when they
					// are applied may remove the original (pending or not).
					return log.ActNone, log.ErrUnsettled
				}
				if v.Live(e.seq) && h.batch {
					return log.ActNone, refusal(jsapi.ErrCodeAtomicPublishContainsDuplicate, "")
				}
				if v.Live(e.seq) {
					return log.ActNone, &log.CheckError{Code: checkDuplicate, Seq: e.seq}
				}
			}
		}
	}
	if h.hasExpLastSeq && h.expLastSeq != last {
		return log.ActNone, refusal(jsapi.ErrCodeStreamWrongLastSequence, strconv.FormatUint(last, 10))
	}
	if h.hasExpSubjSeq {
		if v.CanSettle() && v.Applied() < last {
			return log.ActNone, log.ErrUnsettled
		}
		filter := m.Subject
		if len(h.expSubjSeqSubj) > 0 {
			filter = string(h.expSubjSeqSubj)
		}
		if got := r.lastOn(v, filter); got != h.expSubjSeq {
			return log.ActNone, refusal(jsapi.ErrCodeStreamWrongLastSequence, strconv.FormatUint(got, 10))
		}
	}
	if len(h.expLastMsgID) > 0 {
		if got := r.lastMsgID(v, last); got != string(h.expLastMsgID) {
			return log.ActNone, refusal(jsapi.ErrCodeStreamWrongLastMsgID, got)
		}
	}
	srcKey, srcSeq, sourced := sourcedCopy(m.Hdr)
	if sourced {
		if err := r.checkSourced(v, srcKey, srcSeq); err != nil {
			return log.ActNone, err
		}
	}
	if r.cfg.maxPerSubj > 0 {
		r.prune(v)
		if v.SubjectMsgs(m.Subject)+r.bySubj[m.Subject].n >= r.cfg.maxPerSubj {
			return log.ActNone, refusal(jsapi.ErrCodeStreamStoreFailed, jsapi.StoreMaxMsgsPerSubject)
		}
	}
	var total, sources string
	counter := h.incr != nil && r.cfg.allowCounter // a copy into another stream is stored as it came
	if counter {
		var delta string
		var err error
		if total, delta, sources, err = r.counterTotal(v, m, h.incr, sourced); err != nil {
			return log.ActNone, err
		}
		hdr := m.Hdr
		if sources != "" {
			hdr = counterHeader(m.Hdr, delta, sources)
		}
		r.body = counterBody(r.body[:0], total)
		if r.cfg.maxMsgSize > 0 && int64(len(hdr)+len(r.body)) > r.cfg.maxMsgSize {
			return log.ActNone, refusal(jsapi.ErrCodeStreamMessageExceedsMaximum, "")
		}
		if sources != "" {
			v.SetHeader(hdr)
		}
		v.SetPayload(r.body)
	}
	act := log.ActNone
	switch string(h.rollup) {
	case jsapi.RollupSubject:
		act = log.ActPurgeSubject
	case jsapi.RollupAll:
		act = log.ActPurgeAll
	}
	schedule := h.sched.hasPattern && len(h.sched.pattern) > 0
	if schedule {
		act = log.ActPurgeSubject // one schedule per subject
	} else if act == log.ActNone && string(h.sched.next) == scheduleNextPurge && len(h.sched.scheduler) > 0 {
		// A fired one-shot schedule's message purges the schedule, with
		// it (one with a rollup of its own leaves that to the scheduler).
		act = log.ActPurgeSubject
		v.SetPurgeFilter(string(h.sched.scheduler))
	}
	r.accept(v, m, h.msgID)
	if sourced {
		key := string(srcKey)
		r.srcLast[key] = srcSeq
		p := &r.pending[len(r.pending)-1]
		p.src, p.srcSeq = key, srcSeq
	}
	if h.batch {
		r.batch.accept(m, &h)
	}
	if counter {
		r.counters[m.Subject] = pendingCounter{seq: m.Seq, val: total, sources: sources}
	}
	if schedule && r.scheds != nil {
		r.scheds.add(m.Subject, m.Seq, m.Time, &h.sched)
	}
	if r.ttls != nil && r.cfg.allowTTL {
		if h.ttl > 0 {
			r.ttls.add(m.Seq, m.Time+h.ttl*int64(time.Second))
		}
		r.ttls.touch(m.Time)
	}
	return act, nil
}

// Truncate forgets the accepted messages after last (a write failure
// lost them; their sequences are given again).
func (r *publishRules) Truncate(last uint64) {
	for n := len(r.pending); n > r.head && r.pending[n-1].seq > last; n-- {
		r.forget(r.pending[n-1])
		r.pending[n-1] = pendingMsg{}
		r.pending = r.pending[:n-1]
	}
	for subj, cv := range r.counters {
		if cv.seq > last {
			delete(r.counters, subj)
		}
	}
	r.ids.truncate(last)
	clear(r.srcLast) // learnt again from what is left
}

// Reset forgets everything and rebuilds from v: the log was opened.
func (r *publishRules) Reset(v log.View) {
	clear(r.pending)
	r.pending, r.head, r.pruneAt = r.pending[:0], 0, 0
	clear(r.bySubj)
	clear(r.counters)
	r.ids = idTable{}
	clear(r.srcLast)
	r.batch.reset()
	r.raw, r.cfg, r.loaded = "", ruleConfig{}, false
	r.configure(v.Rules())
	if r.cfg.window > 0 {
		// Every id within the window of the last timestamp: the next
		// message's timestamp is no lower, so its expiry leaves what a
		// load at that message would have found.
		r.load(v, v.LastTime())
	}
	if r.ttls != nil {
		r.ttls.reset()
		r.scheds.reset()
		if r.cfg.allowTTL || r.cfg.allowSchedules {
			r.loadTTLs(v)
		}
	}
}

// loadTTLs tells ttls about every stored message with a TTL, and scheds
// about every schedule.
func (r *publishRules) loadTTLs(v log.View) {
	for seq := uint64(0); ; {
		got, err := v.LoadNext(seq, &r.sm)
		if got == 0 {
			return
		}
		seq = got + 1
		if err != nil {
			continue
		}
		if ttl := msgTTL(r.sm.Hdr); ttl > 0 && r.cfg.allowTTL {
			r.ttls.add(got, r.sm.Time+ttl*int64(time.Second))
		}
		if r.cfg.allowSchedules && hasKeyPrefix(r.sm.Hdr, hdrSchedule) {
			var s schedHeaders
			if s.parse(r.sm.Hdr); s.hasPattern && len(s.pattern) > 0 {
				r.scheds.add(r.sm.Subject, got, r.sm.Time, &s)
			}
		}
	}
}

// configure switches to the encoded config raw (View.Rules). A longer
// duplicate window reloads the ids from the log at the next message.
func (r *publishRules) configure(raw string) {
	if raw == r.raw {
		return
	}
	nc := decodeRules(raw)
	if nc.window > r.cfg.window {
		r.loaded = false
	}
	r.raw, r.cfg = raw, nc
}

// load fills ids from the stored messages with timestamps from now minus
// the window, and the pending ones.
func (r *publishRules) load(v log.View, now int64) {
	r.ids = idTable{}
	r.loaded = true
	cutoff := now - r.cfg.window
	for seq := v.SeqAtTime(cutoff); ; {
		got, err := v.LoadNext(seq, &r.sm)
		if got == 0 {
			break
		}
		seq = got + 1
		if err != nil || r.sm.Time < cutoff {
			continue
		}
		if id, ok := codec.HeaderValue(r.sm.Hdr, jsapi.HdrMsgID); ok && len(id) > 0 {
			r.ids.add(string(id), got, r.sm.Time)
		}
	}
	r.prune(v)
	for _, p := range r.pending[r.head:] {
		if p.id != "" {
			r.ids.add(p.id, p.seq, p.ts)
		}
	}
}

// accept records m, accepted.
func (r *publishRules) accept(v log.View, m log.CheckMsg, msgID []byte) {
	var id string
	if len(msgID) > 0 {
		id = string(msgID)
		if r.cfg.window > 0 && r.loaded {
			r.ids.add(id, m.Seq, m.Time)
		}
	}
	r.pending = append(r.pending, pendingMsg{seq: m.Seq, ts: m.Time, subj: m.Subject, id: id})
	ps := r.bySubj[m.Subject]
	ps.n++
	ps.last = m.Seq
	r.bySubj[m.Subject] = ps
	if len(r.pending)-r.head >= max(r.pruneAt, 256) {
		r.prune(v)
		r.pruneAt = 2 * (len(r.pending) - r.head)
	}
}

// prune drops the pending messages the log has applied.
func (r *publishRules) prune(v log.View) {
	if r.head == len(r.pending) {
		return
	}
	applied := v.Applied()
	for r.head < len(r.pending) && r.pending[r.head].seq <= applied {
		r.forget(r.pending[r.head])
		r.pending[r.head] = pendingMsg{}
		r.head++
	}
	if r.head == len(r.pending) {
		r.pending, r.head = r.pending[:0], 0
	} else if r.head > 64 && 2*r.head > len(r.pending) {
		n := copy(r.pending, r.pending[r.head:])
		clear(r.pending[n:])
		r.pending, r.head = r.pending[:n], 0
	}
}

// forget removes p from the per-subject counts.
func (r *publishRules) forget(p pendingMsg) {
	ps := r.bySubj[p.subj]
	if ps.n--; ps.n <= 0 {
		delete(r.bySubj, p.subj)
		delete(r.counters, p.subj)
		return
	}
	r.bySubj[p.subj] = ps
}

// lastOn is the newest sequence on subjects matching filter, pending or
// applied and live (0: none).
func (r *publishRules) lastOn(v log.View, filter string) uint64 {
	r.prune(v)
	best := v.LastSeqForSubject(filter)
	if !subject.HasWildcard(filter) {
		if ps, ok := r.bySubj[filter]; ok && ps.last > best {
			best = ps.last
		}
		return best
	}
	for subj, ps := range r.bySubj {
		if ps.last > best && subject.Matches(filter, subj) {
			best = ps.last
		}
	}
	return best
}

// lastMsgID is the Nats-Msg-Id of message last, the newest ("" when it
// has none, or is not stored).
func (r *publishRules) lastMsgID(v log.View, last uint64) string {
	r.prune(v)
	if n := len(r.pending); n > r.head && r.pending[n-1].seq == last {
		return r.pending[n-1].id
	}
	if last == 0 || v.LoadMsg(last, &r.sm) != nil {
		return ""
	}
	id, _ := codec.HeaderValue(r.sm.Hdr, jsapi.HdrMsgID)
	return string(id)
}

// idTable maps Nats-Msg-Id values to the newest message carrying them; a
// FIFO in timestamp order drives expiry.
type idTable struct {
	m     map[string]idRec
	order []idOrder
	head  int
}

type idRec struct {
	seq uint64
	ts  int64
}

type idOrder struct {
	id  string
	seq uint64
	ts  int64
}

func (t *idTable) add(id string, seq uint64, ts int64) {
	if t.m == nil {
		t.m = make(map[string]idRec)
	}
	t.m[id] = idRec{seq, ts}
	t.order = append(t.order, idOrder{id, seq, ts})
}

// expire forgets ids stored before cutoff (unix ns).
func (t *idTable) expire(cutoff int64) {
	for t.head < len(t.order) && t.order[t.head].ts < cutoff {
		o := t.order[t.head]
		if r, ok := t.m[o.id]; ok && r.seq == o.seq {
			delete(t.m, o.id)
		}
		t.order[t.head] = idOrder{}
		t.head++
	}
	if t.head > 1024 && 2*t.head > len(t.order) {
		n := copy(t.order, t.order[t.head:])
		clear(t.order[n:])
		t.order, t.head = t.order[:n], 0
	}
}

// truncate forgets the ids of messages after last.
func (t *idTable) truncate(last uint64) {
	for n := len(t.order); n > t.head && t.order[n-1].seq > last; n-- {
		o := t.order[n-1]
		if r, ok := t.m[o.id]; ok && r.seq == o.seq {
			delete(t.m, o.id)
		}
		t.order[n-1] = idOrder{}
		t.order = t.order[:n-1]
	}
}

package jetstream

import (
	"container/heap"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Per-message TTL (ADR-43) and subject delete markers (ADR-48).
//
// A stream with allow_msg_ttl stores a message's Nats-TTL header as it
// came; the message expires at its timestamp plus the TTL, which every
// replica computes alike from the stored message. Which messages have a
// TTL is learned by the publish rules (rules.go) as they accept them, in
// log order, on R1 and on every replica, into the stream's ttlIndex; at
// every Open of the log (restart, raft snapshot install) the rules rebuild
// it from the stored headers. The removal itself is an ordinary delete
// made by the stream's leader (R1: the node; replicated: the raft leader,
// so the delete is replicated like any other): the expirer's timer fires
// at the earliest expiry, by the injected clock; a follower whose timer
// fires leaves the work to the leader and looks again a second later.
//
// A stream with allow_msg_ttl or subject_delete_marker_ttl also takes
// max_age over from its log (the log is given no MaxAge): a message with
// Nats-TTL "never" outlives max_age, as in nats-server, and a removal by
// max_age may leave a marker. When the removal takes a subject's only
// message and subject_delete_marker_ttl is set, the leader publishes in
// its place a delete marker: no payload, Nats-Marker-Reason: MaxAge,
// Nats-TTL: the marker TTL, Nats-Rollup: sub (it purges the expired
// message), and Nats-Expected-Last-Subject-Sequence: the expired message's
// sequence, so a message published to the subject in the meantime makes
// the rules refuse the marker (the expired message is then deleted
// instead) rather than have the rollup purge the newer one. A marker
// (Nats-Marker-Reason, or a KV purge, KV-Operation: PURGE) that expires
// leaves no marker. With subject_delete_marker_ttl, a message TTL below it
// counts as the marker TTL (unless max_msgs_per_subject is 1), as
// nats-server raises it; barge does not rewrite the stored header.

// noAge is the max_age walk's answer when no message is stored.
const noAge = 1<<63 - 1

// ttlRetry is how soon a follower, or a leader whose removal failed, looks
// again at expired messages.
const ttlRetry = time.Second

// parseTTL reads a Nats-TTL value as nats-server does: "never" (-1), a Go
// duration of at least a second, or whole seconds; the TTL in seconds, ok
// false when invalid. 0 means none.
func parseTTL(v []byte) (int64, bool) {
	s := string(v)
	if strings.EqualFold(s, "never") {
		return -1, true
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < time.Second {
			return 0, false
		}
		return int64(d / time.Second), true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// msgTTL is the TTL of a stored header block (seconds; 0: none, -1: never).
func msgTTL(hdr []byte) int64 {
	v, ok := codec.HeaderValue(hdr, jsapi.HdrTTL)
	if !ok {
		return 0
	}
	ttl, _ := parseTTL(v)
	return ttl
}

// isMarker reports whether hdr is a delete marker's or a KV purge's.
func isMarker(hdr []byte) bool {
	if v, ok := codec.HeaderValue(hdr, jsapi.HdrMarkerReason); ok && len(v) > 0 {
		return true
	}
	v, _ := codec.HeaderValue(hdr, "KV-Operation")
	return string(v) == "PURGE"
}

// ttlEntry is a message with a TTL: its sequence and when it expires (unix ns).
type ttlEntry struct {
	at  int64
	seq uint64
}

type ttlHeap []ttlEntry

func (h ttlHeap) Len() int           { return len(h) }
func (h ttlHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h ttlHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ttlHeap) Push(x any)        { *h = append(*h, x.(ttlEntry)) }
func (h *ttlHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// ttlIndex is a stream's messages with a TTL, filled by its publish rules
// (under the log's writer lock) and drained by its expirer. mu guards
// every field; it is taken under the log's writer lock and never held
// while calling the log.
type ttlIndex struct {
	mu struct {
		sync.Mutex
		h ttlHeap
		// ex is the stream's expirer once attached (nil before, and after
		// stop); rearmed when an earlier expiry arrives.
		ex *expirer
		// ageWait: the expirer applies max_age (ageAfter, ns) and found no
		// message to wait for; the next one accepted arms it (touch).
		ageWait  bool
		ageAfter int64
	}
}

// touch tells the index that a message stored at ts (unix ns) was
// accepted: an expirer waiting for one to apply max_age to is armed.
func (x *ttlIndex) touch(ts int64) {
	x.mu.Lock()
	if !x.mu.ageWait {
		x.mu.Unlock()
		return
	}
	x.mu.ageWait = false
	ex, at := x.mu.ex, ts+x.mu.ageAfter
	x.mu.Unlock()
	if ex != nil {
		ex.arm(at)
	}
}

// waitAge makes the next accepted message arm the expirer at its
// timestamp plus maxAge (0: stop waiting).
func (x *ttlIndex) waitAge(maxAge int64) {
	x.mu.Lock()
	x.mu.ageWait, x.mu.ageAfter = maxAge > 0, maxAge
	x.mu.Unlock()
}

// add records that message seq expires at at (unix ns).
func (x *ttlIndex) add(seq uint64, at int64) {
	x.mu.Lock()
	heap.Push(&x.mu.h, ttlEntry{at: at, seq: seq})
	ex := x.mu.ex
	x.mu.Unlock()
	if ex != nil {
		ex.arm(at)
	}
}

// reset forgets every entry (the log was opened; the rules refill it).
func (x *ttlIndex) reset() {
	x.mu.Lock()
	x.mu.h = x.mu.h[:0]
	x.mu.Unlock()
}

// next is the earliest expiry, if any.
func (x *ttlIndex) next() (int64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.mu.h) == 0 {
		return 0, false
	}
	return x.mu.h[0].at, true
}

// due removes and returns the entries expiring at or before now.
func (x *ttlIndex) due(now int64) []ttlEntry {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []ttlEntry
	for len(x.mu.h) > 0 && x.mu.h[0].at <= now {
		out = append(out, heap.Pop(&x.mu.h).(ttlEntry))
	}
	return out
}

// expirer removes a stream's expired messages (see above) when its timer
// runs it.
type expirer struct {
	runTimer
	st  *stream
	idx *ttlIndex

	// run's own (run is serialized): ageCursor is the next sequence the
	// max_age walk looks at; sm its scratch; changed that run removed
	// something (consumers recount).
	ageCursor uint64
	sm        log.StoredMsg
	changed   bool
}

// startExpirer attaches an expirer to st's ttl index and arms it.
func (st *stream) startExpirer() {
	if st.ttls == nil {
		return
	}
	ex := &expirer{st: st, idx: st.ttls}
	ex.init(st.e.o.Clock, ex.run)
	st.ttls.mu.Lock()
	st.ttls.mu.ex = ex
	st.ttls.mu.Unlock()
	st.expiry = ex
	ex.arm(st.e.o.Clock.Now().UnixNano())
}

// kickExpirer makes the expirer look now (the config changed).
func (st *stream) kickExpirer() {
	if st.expiry != nil {
		st.expiry.arm(st.e.o.Clock.Now().UnixNano())
	}
}

// stopExpirer stops the expirer for good.
func (st *stream) stopExpirer() {
	if st.expiry != nil {
		st.expiry.stop()
	}
}

// stop detaches the expirer from its index and stops its timer for good.
func (ex *expirer) stop() {
	ex.idx.mu.Lock()
	if ex.idx.mu.ex == ex {
		ex.idx.mu.ex = nil
	}
	ex.idx.mu.Unlock()
	ex.runTimer.stop()
}

// run removes what has expired and returns when to look next. A
// follower removes nothing: it looks again a second later while an
// expired message is still stored (its leader's delete has not reached it,
// or the leader is gone).
func (ex *expirer) run() (int64, bool) {
	st := ex.st
	now := st.e.o.Clock.Now().UnixNano()
	lead := st.leads()
	cfg := st.Config()
	retry := false
	for _, e := range ex.idx.due(now) {
		if err := st.store.Reader().LoadMsg(e.seq, &ex.sm); err != nil {
			continue // removed already
		}
		ttl := msgTTL(ex.sm.Hdr)
		if ttl <= 0 {
			continue
		}
		if at := ex.sm.Time + effectiveTTL(&cfg, ttl); at > now {
			ex.idx.add(e.seq, at) // raised to the marker TTL
			continue
		}
		if !lead || !ex.remove(&cfg, &ex.sm) {
			ex.idx.add(e.seq, now+int64(ttlRetry))
		}
	}
	next, ok := ex.idx.next()
	if cfg.MaxAge > 0 && takesMaxAge(&cfg) {
		// Waiting before the walk: a message accepted during it arms the
		// timer (at worst once too many).
		ex.idx.waitAge(int64(cfg.MaxAge))
		at, r := ex.maxAge(&cfg, now, lead)
		retry = retry || r
		if at != noAge {
			ex.idx.waitAge(0)
			if !ok || at < next {
				next, ok = at, true
			}
		}
	} else {
		ex.idx.waitAge(0)
	}
	if ex.changed {
		ex.changed = false
		st.cons.StreamChanged()
	}
	if retry && (!ok || next > now+int64(ttlRetry)) {
		next, ok = now+int64(ttlRetry), true
	}
	return next, ok
}

// maxAge removes the messages older than max_age (those with Nats-TTL
// "never" excepted) and returns when the next one reaches it (max int64
// when none is stored), and whether a removal failed or, on a follower,
// would have been made.
func (ex *expirer) maxAge(cfg *jsapi.StreamConfig, now int64, lead bool) (int64, bool) {
	r := ex.st.store.Reader()
	cutoff := now - int64(cfg.MaxAge)
	seq := max(ex.ageCursor, r.State().FirstSeq)
	next := int64(noAge)
	failed := false
	for {
		got, err := r.LoadNext(seq, "", &ex.sm)
		if err != nil || got == 0 {
			break
		}
		if ex.sm.Time > cutoff {
			next = ex.sm.Time + int64(cfg.MaxAge)
			break
		}
		if msgTTL(ex.sm.Hdr) >= 0 && (!lead || !ex.remove(cfg, &ex.sm)) {
			failed = true
			break
		}
		seq = got + 1
	}
	ex.ageCursor = seq
	return next, failed
}

// remove deletes sm, expired, or replaces it with a delete marker when it
// is its subject's only message (see above); false when that failed.
func (ex *expirer) remove(cfg *jsapi.StreamConfig, sm *log.StoredMsg) bool {
	st := ex.st
	seq, subj := sm.Seq, sm.Subject
	ok := false
	if cfg.SubjectDeleteMarkerTTL > 0 && !isMarker(sm.Hdr) && st.store.Reader().SubjectsState(subj)[subj].Msgs == 1 {
		ok = ex.placeMarker(cfg, seq, subj)
	} else {
		ok = ex.delete(seq)
	}
	ex.changed = ex.changed || ok
	return ok
}

// delete removes seq; gone already is fine.
func (ex *expirer) delete(seq uint64) bool {
	err := ex.st.store.Delete(seq)
	if err == nil || errors.Is(err, log.ErrDeleted) || errors.Is(err, log.ErrNotFound) {
		return true
	}
	ex.st.e.log.Warn("jetstream: expired message not removed", "stream", ex.st.name, "seq", seq, "err", err)
	return false
}

// placeMarker publishes the delete marker that replaces message seq on
// subj, waiting for the outcome; a marker refused (a newer message on
// subj) or not stored deletes seq instead.
func (ex *expirer) placeMarker(cfg *jsapi.StreamConfig, seq uint64, subj string) bool {
	hdr := markerHeader(cfg.SubjectDeleteMarkerTTL, seq)
	app, err := ex.st.store.Begin(subj, hdr, 0)
	if err != nil {
		ex.st.e.log.Warn("jetstream: delete marker not stored", "stream", ex.st.name, "subject", subj, "err", err)
		return false
	}
	result := make(chan error, 1)
	if _, err := app.End(func(_ uint64, _ int64, err error) { result <- err }); err != nil {
		result <- err
	}
	ctx, cancel := context.WithTimeout(context.Background(), replOpTimeout)
	defer cancel()
	select {
	case err = <-result:
	case <-ctx.Done():
		return false
	}
	if err != nil {
		// Refused (the subject has a newer message: no marker is due), or
		// not storable (a limit): the expired message goes all the same.
		return ex.delete(seq)
	}
	return true
}

// markerHeader is a delete marker's header block.
func markerHeader(ttl time.Duration, expired uint64) []byte {
	b := make([]byte, 0, 160)
	b = append(b, "NATS/1.0\r\n"...)
	b = append(b, jsapi.HdrMarkerReason+": MaxAge\r\n"...)
	b = append(b, jsapi.HdrTTL+": "...)
	b = append(b, ttl.Truncate(time.Second).String()...) // whole seconds, as nats-server writes it
	b = append(b, "\r\n"+jsapi.HdrRollup+": "+jsapi.RollupSubject+"\r\n"...)
	b = append(b, jsapi.HdrExpectedLastSubjSeq+": "...)
	b = strconv.AppendUint(b, expired, 10)
	return append(b, "\r\n\r\n"...)
}

// effectiveTTL is a message TTL of ttl seconds as a duration (ns): at
// least the marker TTL when the stream leaves markers and keeps more than
// one message per subject.
func effectiveTTL(cfg *jsapi.StreamConfig, ttl int64) int64 {
	d := ttl * int64(time.Second)
	if cfg.SubjectDeleteMarkerTTL > 0 && cfg.MaxMsgsPer != 1 && d < int64(cfg.SubjectDeleteMarkerTTL) {
		d = int64(cfg.SubjectDeleteMarkerTTL)
	}
	return d
}

// takesMaxAge reports whether the stream's expirer, not its log, applies
// max_age (see above).
func takesMaxAge(cfg *jsapi.StreamConfig) bool {
	return cfg.AllowMsgTTL || cfg.SubjectDeleteMarkerTTL > 0
}

package jetstream

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// Message schedules (ADR-51).
//
// On a stream with allow_msg_schedules, a message with a Nats-Schedule
// header is a schedule: "@at <RFC 3339 time>" fires once, "@every
// <duration>" (at least 1s) and a cron pattern (cron.go, read in
// Nats-Schedule-Time-Zone) repeat. It is stored on its own subject like
// any message and rolls that subject up (one schedule per subject; barge
// applies the rollup without adding the Nats-Rollup header nats-server
// adds). When it fires, the stream's leader publishes into the stream, on
// Nats-Schedule-Target, the schedule's body and headers (or, with
// Nats-Schedule-Source, the body and headers of that subject's last
// message), without the Nats-Schedule*, Nats-Expected-*, Nats-Msg-Id,
// Nats-TTL and Nats-Rollup headers, with Nats-Scheduler: the schedule's
// subject, Nats-Schedule-Next: the next time (RFC 3339) or "purge", and
// Nats-TTL / Nats-Rollup from Nats-Schedule-TTL / -Rollup. A message with
// Nats-Schedule-Next: purge (a one-shot schedule's, or a client's) purges
// its Nats-Scheduler subject as it is stored, in the same log operation
// (log.View.SetPurgeFilter); one that also rolls its own subject up cannot
// do both at once: the scheduler then purges its schedule right after (a
// crash in between fires it again at the restart), and a client's leaves
// the schedule. Which schedules exist is learned
// by the publish rules in log order (rebuilt from the headers at every log
// open), as the TTLs are (ttl.go); only the leader fires; a follower moves
// its own copy of a repeating schedule on without firing.
//
// A repeating schedule that missed its times while the stream was not
// open fires once, at its next time counted from the open. The target and
// source must lie in the stream's subjects: checked against the config when the message arrives
// (the rules in log order do not carry the subjects).

const (
	hdrSchedule       = "Nats-Schedule"
	hdrScheduleTZ     = "Nats-Schedule-Time-Zone"
	hdrScheduleTTL    = "Nats-Schedule-TTL"
	hdrScheduleRollup = "Nats-Schedule-Rollup"
	hdrScheduleTarget = "Nats-Schedule-Target"
	hdrScheduleSource = "Nats-Schedule-Source"
	hdrScheduler      = "Nats-Scheduler"
	hdrScheduleNext   = "Nats-Schedule-Next"
	scheduleNextPurge = "purge"
)

// msgIndexes are what a stream's publish rules learn, in log order, for
// its timers: the messages with a TTL and the schedules.
type msgIndexes struct {
	ttls   ttlIndex
	scheds schedIndex
}

// parseSchedule reads a Nats-Schedule pattern, with the
// Nats-Schedule-Time-Zone tz when hasTZ, for a schedule stored at ts (unix
// ns): the entry (its first firing, and how it repeats), or the refusal.
func parseSchedule(pattern string, tz []byte, hasTZ bool, ts int64) (schedEntry, jsapi.ErrCode, bool) {
	var loc *time.Location
	if hasTZ {
		var err error
		if len(tz) == 0 {
			return schedEntry{}, jsapi.ErrCodeMessageSchedulesTimeZoneInvalid, false
		}
		if loc, err = time.LoadLocation(string(tz)); err != nil {
			return schedEntry{}, jsapi.ErrCodeMessageSchedulesTimeZoneInvalid, false
		}
	}
	invalid := func() (schedEntry, jsapi.ErrCode, bool) {
		return schedEntry{}, jsapi.ErrCodeMessageSchedulesPatternInvalid, false
	}
	switch {
	case strings.HasPrefix(pattern, "@at "):
		t, err := time.Parse(time.RFC3339, pattern[4:])
		if err != nil || hasTZ {
			return invalid()
		}
		return schedEntry{next: t.UnixNano()}, 0, true
	case strings.HasPrefix(pattern, "@every "):
		d, err := time.ParseDuration(pattern[7:])
		if err != nil || d < time.Second || hasTZ {
			return invalid()
		}
		return schedEntry{next: time.Unix(0, ts).Round(time.Second).Add(d).UnixNano(), every: d}, 0, true
	}
	c, err := parseCron(pattern, loc)
	if err != nil {
		return invalid()
	}
	next, ok := c.next(time.Unix(0, ts))
	if !ok {
		return invalid()
	}
	return schedEntry{next: next.UnixNano(), cron: c}, 0, true
}

// schedHeaders are a message's schedule headers (views into its header
// block).
type schedHeaders struct {
	pattern, target, source, ttl, rollup []byte
	tzName                               []byte
	tz, hasPattern                       bool
	next, scheduler                      []byte
	hasNext                              bool
}

func (s *schedHeaders) parse(hdr []byte) {
	get := func(k string) ([]byte, bool) { return codec.HeaderValue(hdr, k) }
	s.pattern, s.hasPattern = get(hdrSchedule)
	s.tzName, s.tz = get(hdrScheduleTZ)
	s.target, _ = get(hdrScheduleTarget)
	s.source, _ = get(hdrScheduleSource)
	s.ttl, _ = get(hdrScheduleTTL)
	s.rollup, _ = get(hdrScheduleRollup)
	s.next, s.hasNext = get(hdrScheduleNext)
	s.scheduler, _ = get(hdrScheduler)
}

// hasKeyPrefix reports whether a header of hdr has a key starting with
// prefix (ASCII case-insensitively, as codec.HeaderValue compares keys).
func hasKeyPrefix(hdr []byte, prefix string) bool {
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		line := hdr
		if i >= 0 {
			line, hdr = hdr[:i], hdr[i+1:]
		} else {
			hdr = nil
		}
		if len(line) >= len(prefix) && strings.EqualFold(string(line[:len(prefix)]), prefix) {
			return true
		}
	}
	return false
}

// decideSchedule applies the static schedule rules (nats-server's, in its
// order) to a message on subj with headers h, rollup its Nats-Rollup.
func (rc *ruleConfig) decideSchedule(subj string, s *schedHeaders, rollup []byte) *log.CheckError {
	if s.hasPattern && len(s.pattern) > 0 {
		_, code, ok := parseSchedule(string(s.pattern), s.tzName, s.tz, 0)
		switch {
		case !rc.allowSchedules:
			return refusal(jsapi.ErrCodeMessageSchedulesDisabled, "")
		case !ok:
			return refusal(code, "")
		}
		var ttlOK bool
		if len(s.ttl) > 0 {
			_, ttlOK = parseTTL(s.ttl)
		}
		switch {
		case len(s.ttl) > 0 && !ttlOK:
			return refusal(jsapi.ErrCodeMessageSchedulesTTLInvalid, "")
		case len(s.rollup) > 0 && string(s.rollup) != jsapi.RollupSubject:
			return refusal(jsapi.ErrCodeMessageSchedulesRollupInvalid, "")
		case len(s.ttl) > 0 && !rc.allowTTL:
			return refusal(jsapi.ErrCodeMessageTTLDisabled, "")
		case len(s.target) == 0 || !subject.ValidPublish(s.target) || string(s.target) == subj:
			return refusal(jsapi.ErrCodeMessageSchedulesTargetInvalid, "")
		case len(s.source) > 0 && (bytes.Equal(s.source, s.target) || string(s.source) == subj || !subject.ValidPublish(s.source)):
			return refusal(jsapi.ErrCodeMessageSchedulesSourceInvalid, "")
		case len(rollup) > 0 && string(rollup) != jsapi.RollupSubject:
			return refusal(jsapi.ErrCodeMessageSchedulesRollupInvalid, "")
		}
	}
	if s.hasNext && len(s.next) > 0 {
		// A time here is the scheduler's own (a repeating schedule's
		// message): a client may only ask for "purge" (clientSchedule).
		switch {
		case len(s.scheduler) == 0 || string(s.scheduler) == subj || !subject.ValidPublish(s.scheduler):
			return refusal(jsapi.ErrCodeMessageSchedulesSchedulerInvalid, "")
		case !rc.allowSchedules:
			return refusal(jsapi.ErrCodeMessageSchedulesDisabled, "")
		}
	}
	return nil
}

// clientSchedule applies the schedule rules only a client's message
// gets (the publish path's early check; the scheduler's own messages are
// stored through the Store): Nats-Schedule-Next other than "purge" is
// 10212, a target or source outside the stream's subjects (cfg) 10190 /
// 10203.
func clientSchedule(cfg *jsapi.StreamConfig, h *pubHeaders, hdr []byte) *jsapi.APIError {
	if h.sched.hasNext && len(h.sched.next) > 0 && string(h.sched.next) != scheduleNextPurge {
		return jsapi.NewAPIError(jsapi.ErrCodeMessageSchedulesSchedulerInvalid)
	}
	return scheduleInSubjects(cfg, hdr)
}

// scheduleInSubjects checks a schedule's target and source against the
// stream's subjects (cfg), as nats-server does when it arrives.
func scheduleInSubjects(cfg *jsapi.StreamConfig, hdr []byte) *jsapi.APIError {
	var s schedHeaders
	s.parse(hdr)
	if !s.hasPattern || len(s.pattern) == 0 {
		return nil
	}
	in := func(subj []byte) bool {
		for _, f := range cfg.Subjects {
			if subject.Overlap(f, string(subj)) {
				return true
			}
		}
		return false
	}
	if !in(s.target) {
		return jsapi.NewAPIError(jsapi.ErrCodeMessageSchedulesTargetInvalid)
	}
	if len(s.source) > 0 && !in(s.source) {
		return jsapi.NewAPIError(jsapi.ErrCodeMessageSchedulesSourceInvalid)
	}
	return nil
}

// schedEntry is a schedule: its message and when it fires next.
type schedEntry struct {
	seq   uint64
	next  int64
	every time.Duration // an @every schedule's interval
	cron  *cronSpec     // a cron schedule's pattern
}

// repeats reports whether the schedule fires more than once.
func (e *schedEntry) repeats() bool { return e.every > 0 || e.cron != nil }

// schedIndex is a stream's schedules by subject, filled by its publish
// rules (under the log's writer lock) and run by its scheduler. mu guards
// every field; never held while calling the log.
type schedIndex struct {
	mu struct {
		sync.Mutex
		m  map[string]schedEntry
		sc *scheduler // once attached
	}
}

// add records the schedule stored as seq on subj with the headers s, at
// ts.
func (x *schedIndex) add(subj string, seq uint64, ts int64, s *schedHeaders) {
	e, _, ok := parseSchedule(string(s.pattern), s.tzName, s.tz, ts)
	if !ok {
		return
	}
	e.seq = seq
	x.mu.Lock()
	if x.mu.m == nil {
		x.mu.m = make(map[string]schedEntry)
	}
	x.mu.m[subj] = e
	sc := x.mu.sc
	x.mu.Unlock()
	if sc != nil {
		sc.arm(e.next)
	}
}

// reset forgets every schedule (the log was opened; the rules refill it).
func (x *schedIndex) reset() {
	x.mu.Lock()
	clear(x.mu.m)
	x.mu.Unlock()
}

// scheduler fires a stream's schedules (see above). mu guards the timer.
type scheduler struct {
	runTimer
	st      *stream
	idx     *schedIndex
	sm, src log.StoredMsg // run's scratch (run is serialized)
}

// startScheduler attaches a scheduler to st's schedule index.
func (st *stream) startScheduler() {
	if st.scheds == nil {
		return
	}
	sc := &scheduler{st: st, idx: st.scheds}
	sc.init(st.e.o.Clock, sc.run)
	now := st.e.o.Clock.Now().UnixNano()
	st.scheds.mu.Lock()
	st.scheds.mu.sc = sc
	for subj, e := range st.scheds.mu.m {
		// A repeating schedule that missed its time while the stream was
		// not open fires once, a period from now, as in nats-server.
		if e.repeats() && e.next < now {
			e.next = e.nextAfter(now)
			st.scheds.mu.m[subj] = e
		}
	}
	st.scheds.mu.Unlock()
	st.sched = sc
	sc.arm(now)
}

// stopScheduler stops it for good.
func (st *stream) stopScheduler() {
	sc := st.sched
	if sc == nil {
		return
	}
	sc.idx.mu.Lock()
	if sc.idx.mu.sc == sc {
		sc.idx.mu.sc = nil
	}
	sc.idx.mu.Unlock()
	sc.stop()
}

// run fires the due schedules, in subject order, and returns when the
// next one is due.
func (sc *scheduler) run() (int64, bool) {
	st := sc.st
	now := st.e.o.Clock.Now().UnixNano()
	lead := st.leads()
	sc.idx.mu.Lock()
	var due []string
	for subj, e := range sc.idx.mu.m {
		if e.next <= now {
			due = append(due, subj)
		}
	}
	sc.idx.mu.Unlock()
	for _, subj := range due {
		sc.idx.mu.Lock()
		e, ok := sc.idx.mu.m[subj]
		sc.idx.mu.Unlock()
		if !ok || e.next > now {
			continue
		}
		r := st.store.Reader()
		last, _ := r.LastSeqForSubject(subj)
		if last != e.seq || r.LoadMsg(e.seq, &sc.sm) != nil {
			sc.forget(subj, e.seq) // replaced, purged or deleted
			continue
		}
		if !lead {
			if !e.repeats() {
				sc.reschedule(subj, e, now+int64(ttlRetry)) // the leader purges it
			} else {
				sc.reschedule(subj, e, e.fireAfter(now))
			}
			continue
		}
		if err := sc.publish(subj, e, now); err != nil {
			st.e.log.Warn("jetstream: schedule not fired", "stream", st.name, "subject", subj, "err", err)
			sc.reschedule(subj, e, now+int64(ttlRetry))
			continue
		}
		if !e.repeats() {
			sc.forget(subj, e.seq)
			// The message purged the schedule as it was stored, unless it
			// rolls its own subject up (Nats-Schedule-Rollup): then here.
			if _, rolls := codec.HeaderValue(sc.sm.Hdr, hdrScheduleRollup); rolls {
				if _, err := st.store.Purge(log.PurgeRequest{Subject: subj, Seq: e.seq + 1}); err != nil {
					st.e.log.Warn("jetstream: fired schedule not purged", "stream", st.name, "subject", subj, "err", err)
				}
			}
		} else {
			sc.reschedule(subj, e, e.fireAfter(now))
		}
		st.cons.StreamChanged()
	}
	sc.idx.mu.Lock()
	defer sc.idx.mu.Unlock()
	next, ok := int64(0), false
	for _, e := range sc.idx.mu.m {
		if !ok || e.next < next {
			next, ok = e.next, true
		}
	}
	return next, ok
}

// fireAfter is a repeating schedule's next firing once it fired at now:
// one, however many were missed.
func (e *schedEntry) fireAfter(now int64) int64 {
	if e.every > 0 {
		if next := e.next + int64(e.every); next > now {
			return next
		}
	}
	return e.nextAfter(now)
}

// nextAfter is a repeating schedule's first firing after now, counted
// from now (an @every one: a period from now, rounded to the second).
func (e *schedEntry) nextAfter(now int64) int64 {
	if e.cron != nil {
		if t, ok := e.cron.next(time.Unix(0, now)); ok {
			return t.UnixNano()
		}
		return 1<<63 - 1
	}
	return time.Unix(0, now).Round(time.Second).Add(e.every).UnixNano()
}

func (sc *scheduler) forget(subj string, seq uint64) {
	sc.idx.mu.Lock()
	if e, ok := sc.idx.mu.m[subj]; ok && e.seq == seq {
		delete(sc.idx.mu.m, subj)
	}
	sc.idx.mu.Unlock()
}

func (sc *scheduler) reschedule(subj string, e schedEntry, next int64) {
	sc.idx.mu.Lock()
	if cur, ok := sc.idx.mu.m[subj]; ok && cur.seq == e.seq {
		cur.next = next
		sc.idx.mu.m[subj] = cur
	}
	sc.idx.mu.Unlock()
}

// publish stores the message schedule e (sc.sm, on subj) produces now,
// waiting for the outcome.
func (sc *scheduler) publish(subj string, e schedEntry, now int64) error {
	var s schedHeaders
	s.parse(sc.sm.Hdr)
	ttl, rollup, target := string(s.ttl), string(s.rollup), string(s.target)
	body := &sc.sm
	if len(s.source) > 0 {
		r := sc.st.store.Reader()
		if seq, _ := r.LastSeqForSubject(string(s.source)); seq > 0 && r.LoadMsg(seq, &sc.src) == nil {
			body = &sc.src
		}
	}
	payload, err := body.ReadPayload(nil)
	if err != nil {
		return err
	}
	next := scheduleNextPurge
	if e.repeats() {
		next = time.Unix(0, e.fireAfter(now)).UTC().Format(time.RFC3339Nano)
	}
	hdr := producedHeader(body.Hdr, subj, next, ttl, rollup)
	app, err := sc.st.store.Begin(target, hdr, int64(len(payload)))
	if err != nil {
		return err
	}
	if err := app.Write(payload); err != nil {
		app.Abort()
		return err
	}
	result := make(chan error, 1)
	if _, err := app.End(func(_ uint64, _ int64, err error) { result <- err }); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), replOpTimeout)
	defer cancel()
	select {
	case err = <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// producedHeader is the header block of a schedule's message: src's
// headers without the scheduling ones and those that could stop it being
// stored, and the scheduler's.
func producedHeader(src []byte, scheduler, next, ttl, rollup string) []byte {
	b := make([]byte, 0, len(src)+128)
	b = append(b, "NATS/1.0\r\n"...)
	if i := bytes.Index(src, []byte("\r\n")); i >= 0 {
		for _, line := range bytes.Split(src[i+2:], []byte("\r\n")) {
			k, _, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				continue
			}
			key := strings.TrimSpace(string(k))
			switch {
			case strings.HasPrefix(key, "Nats-Schedule"), strings.HasPrefix(key, "Nats-Expected-"),
				key == jsapi.HdrMsgID, key == jsapi.HdrTTL, key == jsapi.HdrRollup:
				continue
			}
			b = append(b, line...)
			b = append(b, "\r\n"...)
		}
	}
	b = codec.AppendHeader(b, hdrScheduler, scheduler)
	b = codec.AppendHeader(b, hdrScheduleNext, next)
	if ttl != "" {
		b = codec.AppendHeader(b, jsapi.HdrTTL, ttl)
	}
	if rollup != "" {
		b = codec.AppendHeader(b, jsapi.HdrRollup, rollup)
	}
	return codec.AppendHeaderEnd(b)
}

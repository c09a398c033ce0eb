package consumer

import (
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// consumer is one consumer of a stream. Its delivery loop (run) is the only
// goroutine that sends messages; acks, pull requests and timers change the
// state under mu and wake the loop through kick.
type consumer struct {
	set     *Set
	name    string
	created time.Time
	// dir is where a durable consumer keeps meta.json and state; "" for a
	// consumer whose state lives only in memory or in the set's Store.
	dir string
	// durable: the state is kept (in dir, or in the set's Store) by the
	// persister; false for state in memory only.
	durable bool

	kick        chan struct{} // wakes the delivery loop (capacity 1)
	stop        chan struct{} // closed to end the loop and the persister
	done        chan struct{} // closed when the loop has returned
	persistKick chan struct{} // wakes the persister (capacity 1)
	persistDone chan struct{} // closed when the persister has returned

	mu struct {
		sync.Mutex
		cfg     jsapi.ConsumerConfig
		filters []string // effective filters; nil = the whole stream
		stopped bool

		// sseq is the stream sequence looked at next for a first delivery.
		sseq uint64
		// dseq is the last consumer (delivery) sequence handed out; dts
		// when (unix ns).
		dseq uint64
		dts  int64
		// ackC/ackS is the ack floor: every delivery up to it is settled.
		ackC, ackS uint64
		ats        int64
		// pending are delivered, unacknowledged messages by stream seq.
		pending map[uint64]*pendingMsg
		// rdq are stream sequences due for redelivery, oldest first.
		rdq []uint64
		// maxed are the stream seqs that ran out of deliveries and are
		// kept (maxdeliver.go), ascending; exceeded are their advisories
		// not yet published.
		maxed    []uint64
		exceeded []exceeded
		// lss are the remaining starting sequences of a last_per_subject
		// consumer, ascending; lssEnd is the stream's last sequence when it
		// was created.
		lss    []uint64
		lssEnd uint64
		// npc counts the messages at or after sseq that match filters
		// (filtered consumers only), up to lastSeen.
		npc, lastSeen uint64

		waiting []*pullRequest // pull requests, oldest first (prioritized: by priority)

		// paused is the pause state last announced (pause.go).
		paused bool
		// The pinned client of a pinned_client consumer (priority.go):
		// its pin id ("" none), group, when it was pinned, and when the
		// pin lapses unless it pulls again.
		pin, pinGroup       string
		pinnedAt, pinExpiry time.Time
		// events are advisories the loop publishes after unlocking.
		events []event

		// Push consumers.
		lastActive time.Time // last sign of interest or a pull request
		noInterest bool      // the last push delivery found no subscriber
		hbAt       time.Time // next idle heartbeat (push)
		pbytes     int64     // flow control: bytes sent since the last reply
		maxpb      int64     // flow control window
		fcid       string    // outstanding flow-control reply subject
		fcsz       int64     // bytes that outstanding request covers

		// timer wakes the loop at timerAt for deadlines (redelivery,
		// expiry, heartbeats, inactivity); scan asks the loop to walk every
		// deadline once.
		timer   broker.Timer
		timerAt time.Time
		scan    bool

		// Persistence: version counts state changes, written is the
		// version last made durable; ackWaiters wait for a version.
		version, written uint64
		ackWaiters       []ackWaiter
		deleteMe         bool // inactive: the loop asks the set to delete it
		// discard: stop without the last state write (the member no
		// longer leads a replicated stream, or the consumer is gone).
		discard bool
	}
}

// pendingMsg is a delivered message waiting for its ack.
type pendingMsg struct {
	cseq     uint64 // consumer sequence of its first delivery
	ts       int64  // last delivery (unix ns)
	dc       uint64 // deliveries so far
	deadline int64  // when it is due for redelivery (unix ns); 0 = queued
}

// ackWaiter is a double-ack reply to send once version is durable.
type ackWaiter struct {
	reply   string
	version uint64
}

// newConsumer builds a consumer (not started) with cfg already validated.
func newConsumer(s *Set, name string, cfg jsapi.ConsumerConfig, created time.Time, persist bool) *consumer {
	c := &consumer{
		set: s, name: name, created: created,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		persistKick: make(chan struct{}, 1), persistDone: make(chan struct{}),
	}
	if persist {
		c.durable = true
		if s.store == nil {
			c.dir = filepath.Join(s.dir, name)
		}
	}
	c.mu.cfg = cfg
	c.mu.pending = make(map[uint64]*pendingMsg)
	c.mu.lastActive = created
	c.mu.scan = true // the first loop pass arms heartbeats and inactivity
	if cfg.FlowControl {
		c.mu.maxpb = FlowControlMaxPending / 16
	}
	c.mu.paused = c.pausedLocked(s.env.Clock.Now())
	return c
}

// initPosition sets where a new consumer starts, from its deliver policy.
func (c *consumer) initPositionLocked(l log.Reader) {
	cfg := &c.mu.cfg
	st := l.State()
	start := max(st.FirstSeq, 1)
	switch cfg.DeliverPolicy {
	case jsapi.DeliverLast:
		start = st.LastSeq
		if fs := c.mu.filters; len(fs) > 0 {
			start = 0
			for _, f := range fs {
				if s, err := l.LastSeqForSubject(f); err == nil && s > start {
					start = s
				}
			}
			if start == 0 {
				start = st.LastSeq + 1
			}
		}
		start = max(start, 1)
	case jsapi.DeliverNew:
		start = st.LastSeq + 1
	case jsapi.DeliverByStartSequence:
		start = cfg.OptStartSeq
	case jsapi.DeliverByStartTime:
		start = l.SeqAtTime(*cfg.OptStartTime)
	case jsapi.DeliverLastPerSubject:
		for _, f := range configFilters(cfg) {
			for _, ss := range l.SubjectsState(f) {
				c.mu.lss = append(c.mu.lss, ss.Last)
			}
		}
		slices.Sort(c.mu.lss)
		c.mu.lssEnd = st.LastSeq
		start = st.LastSeq + 1
		if len(c.mu.lss) > 0 {
			start = c.mu.lss[0]
		}
	}
	c.mu.sseq = start
	c.mu.ackS = start - 1
	c.recountLocked(l)
}

// resumeLocked positions a consumer being reopened (from its state file or
// from the meta shard): where saved left it, or where its deliver policy
// starts when there is no saved state.
func (c *consumer) resumeLocked(l log.Reader, saved *savedState) {
	if saved == nil {
		c.initPositionLocked(l)
		return
	}
	c.restoreLocked(saved)
	c.pruneMaxedLocked(l.State().FirstSeq)
	c.recountLocked(l)
}

// restoreLocked loads saved state into a consumer being reopened.
func (c *consumer) restoreLocked(st *savedState) {
	c.mu.sseq, c.mu.dseq, c.mu.dts = st.next, st.dcseq, st.dts
	c.mu.ackC, c.mu.ackS, c.mu.ats = st.acseq, st.asseq, st.ats
	for _, p := range st.pending {
		// Redelivery is due ack_wait after the last delivery; the loop's
		// first scan queues whatever is overdue.
		dl := c.redeliverAtLocked(time.Unix(0, p.ts), uint64(p.dc))
		c.mu.pending[p.sseq] = &pendingMsg{cseq: p.cseq, ts: p.ts, dc: uint64(p.dc), deadline: max(dl, 1)}
	}
	c.mu.maxed = slices.Clone(st.maxed)
	if st.pin != "" && c.mu.cfg.PriorityPolicy == jsapi.PriorityPinnedClient && slices.Contains(c.mu.cfg.PriorityGroups, st.pinGroup) {
		// The pinned client keeps its pin; its priority_timeout starts
		// again now (the first scan arms the timer).
		c.mu.pin, c.mu.pinGroup = st.pin, st.pinGroup
		c.mu.pinnedAt = time.Unix(0, st.pinnedAt)
		c.mu.pinExpiry = c.now().Add(c.mu.cfg.PinnedTTL)
	}
	c.mu.scan = true
	c.mu.written = 0
}

// start launches the delivery loop and, for durable consumers, the
// persister.
func (c *consumer) start() {
	go c.run()
	if c.durable {
		go c.persistLoop()
	} else {
		close(c.persistDone)
	}
	c.wake()
}

// halt stops the loop and the persister. When wait is set it returns only
// after both are gone and the final state is written (never call it with
// wait from the loop itself). It reports pull requests still waiting, so a
// deleted consumer can tell them.
func (c *consumer) halt(wait bool) []*pullRequest {
	c.mu.Lock()
	if c.mu.stopped {
		c.mu.Unlock()
		return nil
	}
	c.mu.stopped = true
	if c.mu.timer != nil {
		c.mu.timer.Stop()
		c.mu.timer = nil
	}
	w := c.mu.waiting
	c.mu.waiting = nil
	c.mu.Unlock()
	close(c.stop)
	if wait {
		<-c.done
		<-c.persistDone
	}
	return w
}

// wake nudges the delivery loop without blocking.
func (c *consumer) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *consumer) now() time.Time { return c.set.env.Clock.Now() }

// armLocked makes sure the loop wakes by t.
func (c *consumer) armLocked(now, t time.Time) {
	if t.IsZero() || c.mu.stopped || t.UnixNano() == noDeadline {
		return
	}
	if c.mu.timer != nil && !c.mu.timerAt.After(t) {
		return
	}
	if c.mu.timer != nil {
		c.mu.timer.Stop()
	}
	c.mu.timerAt = t
	var tm broker.Timer
	tm = c.set.env.Clock.AfterFunc(t.Sub(now), func() {
		c.mu.Lock()
		if c.mu.timer == tm {
			c.mu.timer = nil
		}
		c.mu.scan = true
		c.mu.Unlock()
		c.wake()
	})
	c.mu.timer = tm
}

// ackWait is how long delivery number dc waits for its ack.
func (c *consumer) ackWaitLocked(dc uint64) time.Duration {
	cfg := &c.mu.cfg
	if n := len(cfg.BackOff); n > 0 {
		i := int(min(dc, uint64(n))) - 1
		return cfg.BackOff[max(i, 0)]
	}
	return cfg.AckWait
}

// isPush reports whether the consumer pushes to a deliver subject.
func (c *consumer) isPushLocked() bool { return c.mu.cfg.DeliverSubject != "" }

// hasInterestLocked reports whether the deliver subject has subscribers.
func (c *consumer) hasInterestLocked() bool {
	r := c.set.env.Server.Sublist().Match([]byte(c.mu.cfg.DeliverSubject))
	return !r.Empty()
}

// markDirtyLocked records a state change for the persister.
func (c *consumer) markDirtyLocked() {
	if !c.durable {
		return
	}
	c.mu.version++
	select {
	case c.persistKick <- struct{}{}:
	default:
	}
}

// info describes the consumer.
func (c *consumer) info() *jsapi.ConsumerInfo {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := c.mu.cfg
	in := &jsapi.ConsumerInfo{
		Stream:        c.set.st.Name(),
		Name:          c.name,
		Created:       c.created.UTC(),
		Config:        &cfg,
		Delivered:     jsapi.SequenceInfo{Consumer: c.mu.dseq, Stream: c.mu.sseq - 1},
		AckFloor:      jsapi.SequenceInfo{Consumer: c.mu.ackC, Stream: c.mu.ackS},
		NumAckPending: len(c.mu.pending),
		NumWaiting:    len(c.mu.waiting),
		NumPending:    c.numPendingLocked(),
		TimeStamp:     now.UTC(),

		PriorityGroups: c.priorityInfoLocked(),
	}
	if c.pausedLocked(now) {
		in.Paused, in.PauseRemaining = true, c.mu.cfg.PauseUntil.Sub(now)
	}
	if c.mu.dts != 0 {
		t := time.Unix(0, c.mu.dts).UTC()
		in.Delivered.Last = &t
	}
	if c.mu.ats != 0 {
		t := time.Unix(0, c.mu.ats).UTC()
		in.AckFloor.Last = &t
	}
	in.NumRedelivered = c.numRedeliveredLocked(c.set.st.Reader().State().FirstSeq)
	if c.isPushLocked() {
		in.PushBound = c.hasInterestLocked()
	}
	return in
}

// numPendingLocked is how many matching messages are left to deliver for
// the first time.
func (c *consumer) numPendingLocked() uint64 {
	l := c.set.st.Reader()
	if c.mu.filters != nil || len(c.mu.lss) > 0 {
		return c.mu.npc + uint64(len(c.mu.lss))
	}
	return l.MsgsFrom(c.mu.sseq)
}

// recountLocked recomputes npc for a filtered consumer from scratch.
func (c *consumer) recountLocked(l log.Reader) {
	c.mu.lastSeen = l.State().LastSeq
	if c.mu.filters == nil {
		c.mu.npc = 0
		return
	}
	from := c.mu.sseq
	if len(c.mu.lss) > 0 {
		from = c.mu.lssEnd + 1
	}
	var n uint64
	var sm log.StoredMsg
	for _, f := range c.mu.filters {
		for subj, ss := range l.SubjectsState(f) {
			switch {
			case ss.First >= from:
				n += ss.Msgs
			case ss.Last < from:
			default:
				for s := from; ; s++ {
					m, err := l.LoadNext(s, subj, &sm)
					if err != nil {
						break
					}
					n++
					s = m
				}
			}
		}
	}
	c.mu.npc = n
}

// catchUpLocked counts matching messages committed since lastSeen.
func (c *consumer) catchUpLocked(l log.Reader, sm *log.StoredMsg) {
	last := l.State().LastSeq
	if last <= c.mu.lastSeen {
		return
	}
	from := max(c.mu.lastSeen+1, c.mu.sseq)
	if len(c.mu.lss) > 0 {
		from = max(from, c.mu.lssEnd+1)
	}
	c.mu.lastSeen = last
	if c.mu.filters == nil {
		return
	}
	for s := from; s <= last; {
		m, err := c.loadNextLocked(l, s, sm)
		if err != nil || m > last {
			break
		}
		c.mu.npc++
		s = m + 1
	}
}

// loadNextLocked loads the first message at or after seq that matches the
// consumer's filters.
func (c *consumer) loadNextLocked(l log.Reader, seq uint64, sm *log.StoredMsg) (uint64, error) {
	fs := c.mu.filters
	switch len(fs) {
	case 0:
		return l.LoadNext(seq, "", sm)
	case 1:
		return l.LoadNext(seq, fs[0], sm)
	}
	best := uint64(0)
	for _, f := range fs {
		m, err := l.LoadNext(seq, f, sm)
		if err == nil && (best == 0 || m < best) {
			best = m
		}
	}
	if best == 0 {
		return 0, log.ErrNotFound
	}
	return best, l.LoadMsg(best, sm)
}

// matchesLocked reports whether subj passes the consumer's filters.
func (c *consumer) matchesLocked(subj string) bool {
	if c.mu.filters == nil {
		return true
	}
	for _, f := range c.mu.filters {
		if subject.Matches(f, subj) {
			return true
		}
	}
	return false
}

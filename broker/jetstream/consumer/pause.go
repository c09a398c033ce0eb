package consumer

import (
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// Consumer pause (nats-server 2.11's pause_until).
//
// A consumer whose config has a pause_until in the future delivers
// nothing until then: its pull requests wait (no_wait ones end with 404,
// as when nothing is pending), expire and get their idle heartbeats, a
// push consumer keeps sending its idle heartbeats, and acks are taken. The
// delivery loop's timer wakes it at pause_until. pause_until is set when
// the consumer is created, or by CONSUMER.PAUSE.<stream>.<consumer>
// (Set.Pause, an update of that one field); as in nats-server a create or
// update of an existing consumer keeps its pause_until. It is part of the
// config, so it is kept with the durable's definition (meta.json, or the
// meta shard for a replicated stream) and survives a restart and a change
// of leader. The pause advisory on
// $JS.EVENT.ADVISORY.CONSUMER.PAUSE.<stream>.<consumer> goes out when
// CONSUMER.PAUSE changes pause_until, when a pause ends, and after a
// create or update request that leaves the consumer paused.

// pausedLocked reports whether the consumer is paused at now.
func (c *consumer) pausedLocked(now time.Time) bool {
	p := c.mu.cfg.PauseUntil
	return p != nil && now.Before(*p)
}

// pauseTickLocked announces a pause that ended and returns when the
// current one ends (zero: not paused).
func (c *consumer) pauseTickLocked(now time.Time) time.Time {
	paused := c.pausedLocked(now)
	if c.mu.paused && !paused {
		c.pauseEventLocked(now)
	}
	c.mu.paused = paused
	if !paused {
		return time.Time{}
	}
	return *c.mu.cfg.PauseUntil
}

// pauseChangedLocked announces an update of pause_until (old is the
// previous config's).
func (c *consumer) pauseChangedLocked(now time.Time, old *time.Time) {
	var was, is time.Time
	if old != nil {
		was = *old
	}
	if p := c.mu.cfg.PauseUntil; p != nil {
		is = *p
	}
	if was.Equal(is) {
		return
	}
	c.mu.paused = c.pausedLocked(now)
	c.pauseEventLocked(now)
}

// announcePause publishes the pause advisory after a create or update
// request that leaves the consumer paused, as nats-server does.
func (c *consumer) announcePause() {
	now := c.now()
	c.mu.Lock()
	paused := c.pausedLocked(now)
	if paused {
		c.pauseEventLocked(now)
	}
	c.mu.Unlock()
	if paused {
		c.wake()
	}
}

// pauseEventLocked queues the pause advisory for the current config.
func (c *consumer) pauseEventLocked(now time.Time) {
	var until time.Time
	if p := c.mu.cfg.PauseUntil; p != nil {
		until = *p
	}
	c.eventLocked(jsapi.PreAdvisoryConsumerPause,
		jsapi.AppendConsumerPause(nil, c.set.name, c.name, c.pausedLocked(now), until, now))
}

// PauseState is the answer to a pause request.
type PauseState struct {
	Paused     bool
	PauseUntil time.Time // zero when resumed
	Remaining  time.Duration
}

// Pause sets consumer name's pause_until (CONSUMER.PAUSE.<stream>.
// <consumer>); a zero until resumes it. The change is an update of the
// consumer's config, stored as a create or update would store it.
// ErrCodeConsumerNotFound when there is no such consumer.
func (s *Set) Pause(name string, until time.Time) (PauseState, *jsapi.APIError) {
	c := s.lookup([]byte(name))
	if c == nil {
		return PauseState{}, jsapi.NewAPIError(jsapi.ErrCodeConsumerNotFound)
	}
	c.mu.Lock()
	cfg := c.mu.cfg
	c.mu.Unlock()
	until = until.UTC()
	cfg.PauseUntil = nil
	if !until.IsZero() {
		cfg.PauseUntil = &until
	}
	if _, aerr := s.update(c, &cfg, jsapi.ActionCreateOrUpdate); aerr != nil {
		return PauseState{}, aerr
	}
	st := PauseState{PauseUntil: until}
	if now := s.env.Clock.Now(); now.Before(until) {
		st.Paused, st.Remaining = true, until.Sub(now)
	}
	return st, nil
}

// event is an advisory waiting to be published.
type event struct {
	subject string
	body    []byte
}

// eventLocked queues an advisory (prefix + "<stream>.<consumer>") for the
// delivery loop to publish once it has let go of the mutex.
func (c *consumer) eventLocked(prefix string, body []byte) {
	c.mu.events = append(c.mu.events, event{subject: prefix + c.set.name + "." + c.name, body: body})
}

// publishEvents publishes the advisories taken from c.mu.events into
// d.events; the delivery loop calls it without the mutex.
func (c *consumer) publishEvents(d *deliverer) {
	for i, e := range d.events {
		c.set.env.Server.Deliver([]byte(e.subject), nil, nil, e.body)
		d.events[i] = event{}
	}
	d.events = d.events[:0]
}

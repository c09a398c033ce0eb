// Package clocktest is a clock.Clock that tests move by hand.
package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/bargemq/barge/clock"
)

// Manual is a clock whose time moves only when the test says: Advance runs
// the timers that fall due, in time order, on the caller's goroutine; Move
// changes the time without running any, and Fire runs those due at the
// current time. Safe for concurrent use.
type Manual struct {
	mu struct {
		sync.Mutex
		now    time.Time
		timers []*timer // pending, unordered
	}
}

type timer struct {
	c       *Manual
	when    time.Time
	f       func()
	stopped bool // guarded by c.mu
}

var _ clock.Clock = (*Manual)(nil)

// New returns a Manual clock reading start.
func New(start time.Time) *Manual {
	c := &Manual{}
	c.mu.now = start
	return c
}

// Now returns the clock's time.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.now
}

// AfterFunc schedules f for d from now; it runs when Advance or Fire reach
// that time.
func (c *Manual) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, when: c.mu.now.Add(d), f: f}
	c.mu.timers = append(c.mu.timers, t)
	return t
}

// Stop cancels the call; it reports whether the call was still pending.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time forward by d, running every timer that falls due on
// the way, in time order, with Now reading the timer's time while it runs
// (a timer scheduled by one that runs is run too if it is due by the end).
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.mu.now.Add(d)
	for {
		next := c.popDueLocked(target)
		if next == nil {
			break
		}
		if next.when.After(c.mu.now) {
			c.mu.now = next.when
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.mu.now = target
	c.mu.Unlock()
}

// Move changes the time by d without running any timer.
func (c *Manual) Move(d time.Duration) {
	c.mu.Lock()
	c.mu.now = c.mu.now.Add(d)
	c.mu.Unlock()
}

// Fire runs, on the caller's goroutine and in time order, every pending
// timer due at the current time; the time does not change.
func (c *Manual) Fire() {
	c.mu.Lock()
	var due []*timer
	keep := c.mu.timers[:0]
	for _, t := range c.mu.timers {
		switch {
		case t.stopped:
		case !t.when.After(c.mu.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	clear(c.mu.timers[len(keep):])
	c.mu.timers = keep
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].when.Before(due[j].when) })
	for _, t := range due {
		t.f()
	}
}

// popDueLocked removes and returns the earliest pending timer due by
// target, nil if none; c.mu is held.
func (c *Manual) popDueLocked(target time.Time) *timer {
	idx := -1
	for i, t := range c.mu.timers {
		if t.stopped || t.when.After(target) {
			continue
		}
		if idx < 0 || t.when.Before(c.mu.timers[idx].when) {
			idx = i
		}
	}
	if idx < 0 {
		return nil
	}
	t := c.mu.timers[idx]
	c.mu.timers = append(c.mu.timers[:idx], c.mu.timers[idx+1:]...)
	t.stopped = true
	return t
}

package jetstream

import (
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
)

// runTimer runs a stream's timed work (message expiry, schedules) no later
// than each arm asks, one run at a time: an arm that comes during a run
// makes it run again as soon as it ends, and a run returns when it wants
// to run next. mu guards the timer; run is serialized by running, so what
// run alone touches needs no lock.
type runTimer struct {
	clk broker.Clock
	run func() (next int64, ok bool)
	mu  struct {
		sync.Mutex
		timer   Timer
		at      int64 // when timer fires (unix ns)
		running bool  // run is in progress: it rearms when done
		again   bool  // an arm came during run
		closed  bool
	}
}

// Timer is the clock's timer.
type Timer = broker.Timer

// init sets the clock and the work; before the first arm.
func (t *runTimer) init(clk broker.Clock, run func() (int64, bool)) {
	t.clk, t.run = clk, run
}

// arm makes run happen no later than at (unix ns).
func (t *runTimer) arm(at int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.mu.closed:
		return
	case t.mu.running:
		t.mu.again = true
		return
	case t.mu.timer != nil && t.mu.at <= at:
		return
	case t.mu.timer != nil:
		t.mu.timer.Stop()
	}
	t.mu.at = at
	t.mu.timer = t.clk.AfterFunc(time.Duration(max(at-t.clk.Now().UnixNano(), 0)), t.fire)
}

// fire is the timer's callback.
func (t *runTimer) fire() {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return
	}
	t.mu.timer, t.mu.running, t.mu.again = nil, true, false
	t.mu.Unlock()

	next, ok := t.run()

	t.mu.Lock()
	t.mu.running = false
	again := t.mu.again
	t.mu.Unlock()
	if again {
		next, ok = t.clk.Now().UnixNano(), true
	}
	if ok {
		t.arm(next)
	}
}

// stop stops the timer for good; a run in progress finishes.
func (t *runTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.closed = true
	if t.mu.timer != nil {
		t.mu.timer.Stop()
		t.mu.timer = nil
	}
}

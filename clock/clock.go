// Package clock is the time seam every barge component takes: the broker's
// keepalives and stats, the log's max_age expiry, sync interval and write
// retries, JetStream's duplicate window and the consumers' ack_wait and
// heartbeats all read time through a Clock, so a test can substitute one
// it moves by hand (clocktest.Manual) or run them in a testing/synctest
// bubble on System. broker.Clock and log.Clock are this type.
//
// It imports nothing but the standard library, so any package may use it.
package clock

import "time"

// Clock is a source of time and timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a test clock, the
	// goroutine that advances time) once d has elapsed, like
	// time.AfterFunc.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did.
	Stop() bool
}

// System is the wall clock, backed by package time.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

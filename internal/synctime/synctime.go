// Package synctime moves the fake clock of a testing/synctest bubble. Tests
// use it instead of sleeping: inside a bubble, time only passes when every
// goroutine is blocked, so advancing it is instant and deterministic.
package synctime

import (
	"testing/synctest"
	"time"
)

// Advance moves the bubble's clock forward by d, then waits until every
// other goroutine in the bubble is durably blocked, so timers that fired have
// run. Call it only from inside synctest.Test: outside a bubble it would
// really sleep.
func Advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// Pass lets d of the bubble's fake time pass for the calling goroutine
// alone (a sleep inside a bubble), without waiting for the others as
// Advance does, so several goroutines of a bubble may call it at once.
// Call it only from inside synctest.Test.
func Pass(d time.Duration) { time.Sleep(d) }

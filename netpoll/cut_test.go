package netpoll

import (
	"testing"
)

// trimToUnitLocked keeps exactly what completes the unit the socket is in
// the middle of, for each kind of queue head.
func TestTrimToUnit(t *testing.T) {
	st := NewStaging(StagingOptions{Dir: t.TempDir(), Reserve: -1})
	newConn := func() *conn { return &conn{s: &Server{staging: st}} }
	mem := func(c *conn, n, off, end int, unitEnd bool) {
		ch := c.s.chunks.get()
		ch.b = ch.b[:n]
		c.mu.q.push(item{kind: itemMem, ch: ch, off: off, end: end, unitEnd: unitEnd})
		c.mu.mem += int64(n - off)
	}
	spill := func(c *conn, n int64, unitEnd bool) {
		must(t, st.acquire(n))
		c.mu.q.push(item{kind: itemSpill, n: n, unitEnd: unitEnd})
		c.mu.spilled += n
	}
	check := func(t *testing.T, c *conn, wantTold, told bool, items int, mem, spilled int64) {
		t.Helper()
		if told != wantTold || c.mu.q.len() != items || c.mu.mem != mem || c.mu.spilled != spilled {
			t.Fatalf("told %v, %d items, mem %d, spilled %d; want %v, %d, %d, %d",
				told, c.mu.q.len(), c.mu.mem, c.mu.spilled, wantTold, items, mem, spilled)
		}
		c.dropLocked()
		if st.Used() != 0 {
			t.Fatalf("staging counts %d bytes after the queue was dropped", st.Used())
		}
	}

	t.Run("on a boundary", func(t *testing.T) {
		c := newConn()
		mem(c, 100, 0, 100, true)
		spill(c, 500, true)
		check(t, c, true, c.trimToUnitLocked(), 0, 0, 0)
	})
	t.Run("chunk with a unit end", func(t *testing.T) {
		c := newConn()
		c.mu.midUnit = true
		mem(c, 60, 10, 30, false) // the unit ends at 30; the next starts after
		spill(c, 500, true)
		check(t, c, true, c.trimToUnitLocked(), 1, 20, 0)
	})
	t.Run("unit runs into a spill extent", func(t *testing.T) {
		c := newConn()
		c.mu.midUnit = true
		mem(c, 60, 10, 0, false)
		spill(c, 500, true)
		spill(c, 700, true) // a later extent: dropped
		check(t, c, true, c.trimToUnitLocked(), 2, 50, 500)
	})
	t.Run("open stream", func(t *testing.T) {
		c := newConn()
		c.mu.midUnit = true
		sl := &slot{c: c, started: true}
		c.mu.q.push(item{kind: itemSlot, slot: sl})
		spill(c, 500, true)
		check(t, c, false, c.trimToUnitLocked(), 0, 0, 0)
		if !sl.done {
			t.Fatal("dropped slot not marked done")
		}
	})
	t.Run("ended stream", func(t *testing.T) {
		c := newConn()
		c.mu.midUnit = true
		sl := &slot{c: c, started: true, ended: true, done: true}
		must(t, st.acquire(300))
		sl.q.push(item{kind: itemSpill, n: 300})
		c.mu.spilled += 300
		c.mu.q.push(item{kind: itemSlot, slot: sl})
		spill(c, 500, true)
		check(t, c, true, c.trimToUnitLocked(), 1, 0, 300)
	})
}

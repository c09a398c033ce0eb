package clocktest

import (
	"slices"
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	start := time.Unix(1000, 0)
	c := New(start)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+c.Now().Sub(start).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, func() {
		at("a")()
		c.AfterFunc(time.Second, at("b")) // due at 2s: runs in the same Advance
	})
	stopped := c.AfterFunc(2500*time.Millisecond, at("x"))
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports")
	}
	c.Advance(2500 * time.Millisecond)
	if want := []string{"a@1s", "b@2s"}; !slices.Equal(got, want) {
		t.Fatalf("Advance ran %v, want %v", got, want)
	}
	if c.Now() != start.Add(2500*time.Millisecond) {
		t.Fatalf("now %v", c.Now())
	}
	// Move changes the time without running c; Fire runs it.
	c.Move(time.Second)
	if len(got) != 2 {
		t.Fatalf("Move ran a timer: %v", got)
	}
	c.Fire()
	if want := []string{"a@1s", "b@2s", "c@3.5s"}; !slices.Equal(got, want) {
		t.Fatalf("Fire ran %v, want %v", got, want)
	}
	c.Fire()
	if len(got) != 3 {
		t.Fatalf("a timer ran twice: %v", got)
	}
}

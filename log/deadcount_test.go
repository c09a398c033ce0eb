package log

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkMsgsFrom compares msgsFrom with a walk of the index at every
// sequence around the live range, and the per-block counters with the dead
// entries.
func checkMsgsFrom(t *testing.T, x *index, when string) {
	t.Helper()
	if got, want := x.dead.sum(0, ^uint64(0)), uint64(len(x.ents))-x.msgs; got != want {
		t.Fatalf("%s: dead counters sum to %d, index has %d dead entries", when, got, want)
	}
	// from[i] counts the live entries at or after ents[i].
	from := make([]uint64, len(x.ents)+1)
	for i := len(x.ents) - 1; i >= 0; i-- {
		from[i] = from[i+1]
		if x.ents[i].live {
			from[i]++
		}
	}
	for seq := uint64(0); seq <= x.last+2; seq++ {
		want := x.msgs
		if seq > x.base {
			want = from[min(seq-x.base, uint64(len(x.ents)))]
		}
		if got := x.msgsFrom(seq); got != want {
			t.Fatalf("%s: msgsFrom(%d) = %d, want %d (base %d, last %d, msgs %d)", when, seq, got, want, x.base, x.last, x.msgs)
		}
	}
}

// TestMsgsFromCountsDeletedInterior checks the index's count of live
// messages from a sequence (an unfiltered consumer's num_pending) against a
// walk, across block boundaries, as messages are removed at random, the
// front is trimmed, sequences are skipped (placeholders) and the index
// empties and grows again.
func TestMsgsFromCountsDeletedInterior(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := newIndex(FileStorage)
	seq := uint64(0)
	add := func(n int) {
		for range n {
			seq++
			x.add(seq, entry{ts: int64(seq)}, fmt.Sprintf("s.%d", seq%7))
		}
	}
	add(5000)
	checkMsgsFrom(t, &x, "appended")
	for round := range 6 {
		for range 400 {
			x.remove(x.base + r.Uint64N(uint64(len(x.ents))))
		}
		checkMsgsFrom(t, &x, fmt.Sprintf("round %d removals", round))
		// Remove a front run so trimFront drops whole blocks.
		for s := x.base; s < x.base+1500 && x.msgs > 0; s++ {
			x.remove(s)
		}
		checkMsgsFrom(t, &x, fmt.Sprintf("round %d front", round))
		seq += uint64(r.IntN(3000)) // a gap: placeholders
		add(2000)
		checkMsgsFrom(t, &x, fmt.Sprintf("round %d gap", round))
	}
	for x.msgs > 0 {
		x.remove(x.base)
	}
	checkMsgsFrom(t, &x, "emptied")
	add(3000)
	x.remove(seq - 10)
	checkMsgsFrom(t, &x, "refilled")
}

// TestLogMsgsFromAfterDeleteAndPurge checks MsgsFrom on a log through its
// public writes: an interior delete, a purge keeping the newest, a purge
// up to a sequence.
func TestLogMsgsFromAfterDeleteAndPurge(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{}, Options{})
	defer l.Close()
	for i := range 50 {
		if _, _, err := l.AppendMsg(fmt.Sprintf("s.%d", i%2), nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Delete(10); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ seq, want uint64 }{{1, 49}, {4, 46}, {10, 40}, {11, 40}, {50, 1}, {51, 0}} {
		if got := l.MsgsFrom(c.seq); got != c.want {
			t.Errorf("after delete: MsgsFrom(%d) = %d, want %d", c.seq, got, c.want)
		}
	}
	if err := l.Delete(45); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Purge(PurgeRequest{Keep: 30}); err != nil {
		t.Fatal(err)
	}
	// Live: 20..50 without 45 = 30 messages.
	for _, c := range []struct{ seq, want uint64 }{{1, 30}, {20, 30}, {21, 29}, {45, 5}, {46, 5}} {
		if got := l.MsgsFrom(c.seq); got != c.want {
			t.Errorf("after keep: MsgsFrom(%d) = %d, want %d", c.seq, got, c.want)
		}
	}
	if _, err := l.Purge(PurgeRequest{Seq: 40}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ seq, want uint64 }{{1, 10}, {40, 10}, {44, 6}, {45, 5}} {
		if got := l.MsgsFrom(c.seq); got != c.want {
			t.Errorf("after purge seq: MsgsFrom(%d) = %d, want %d", c.seq, got, c.want)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFaultsShort is the short form of the fault run: the stream leader
// cut off from everyone and healed, then a follower, then the leader
// killed -9 and restarted, over 9 s of publishing. No acked message may be
// lost on any replica, none stored out of order, no sequence missing; each
// node catches up after its fault, and the live consumer gets every acked
// message.
func TestFaultsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds barge and runs three processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "barge")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bargemq/barge/cmd/barge").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Bin: bin, Dir: dir, Duration: 9 * time.Second,
		Faults: []string{FaultCutLeader, FaultCutFollower, FaultKill}, CatchUpWait: 20 * time.Second,
		Log: testWriter{t}})
	if err != nil {
		logTails(t, dir)
		t.Fatal(err)
	}
	t.Log(rep)
	if f := rep.Failed(); len(f) > 0 {
		logTails(t, dir)
		t.Fatalf("fault run failed: %v", f)
	}
}

// logTails logs the end of each node's log (the data folder goes with the
// test), leaving out Dragonboat's per-proposal warnings.
func logTails(t *testing.T, dir string) {
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d", i), "barge.log"))
		if err != nil {
			t.Log(err)
			continue
		}
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, "dropped proposal") && !strings.Contains(l, "dropped read index") {
				keep = append(keep, l)
			}
		}
		t.Logf("n%d log, last lines:\n%s", i, strings.Join(keep[max(0, len(keep)-40):], "\n"))
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func TestLongestGap(t *testing.T) {
	base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		ts := make([]time.Time, len(ms))
		for i, m := range ms {
			ts[i] = base.Add(time.Duration(m) * time.Millisecond)
		}
		return ts
	}
	ms := func(m int) time.Time { return base.Add(time.Duration(m) * time.Millisecond) }
	acks := at(0, 100, 200, 2200, 2300, 2400)
	for _, tc := range []struct {
		from, to int
		want     time.Duration
	}{
		{150, 1000, 100 * time.Millisecond}, // the gap still open at 1000 counts where it ends
		{150, 3000, 2000 * time.Millisecond},
		{1000, 3000, 2000 * time.Millisecond}, // the gap began before the window, ended in it
		{2250, 3000, 600 * time.Millisecond},  // no ack after 2400: up to the end
		{2200, 2400, 100 * time.Millisecond},
	} {
		if got := longestGap(acks, ms(tc.from), ms(tc.to)); got != tc.want {
			t.Errorf("(%d, %d]: %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestTally(t *testing.T) {
	acked := map[uint64]uint64{1: 1, 2: 2, 3: 4, 5: 6, 6: 7} // number → acked sequence
	tl := newTally(acked)
	tl.add(1, 1)
	tl.add(2, 2)
	tl.add(3, 4) // unacked number 4 stored at 3
	tl.add(4, 3)
	tl.add(5, 2) // number 2 again
	tl.add(6, 6) // acked at 7
	got := tl.done()
	want := ReplicaCheck{AckedLost: 2, Duplicates: 1, OutOfOrder: 1, Unacked: 1} // 6 misplaced, 5 missing; 2 after 3
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

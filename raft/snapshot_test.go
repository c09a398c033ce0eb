package raft

import (
	"errors"
	"fmt"
	"testing"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/log"
)

// failingSink fails every write the way Dragonboat's chunk sink does when
// the receiver went away: with its sentinel, here wrapped.
type failingSink struct{}

func (failingSink) Write(p []byte) (int, error) {
	return 0, fmt.Errorf("sink: %w", sm.ErrSnapshotStreaming)
}

// TestSnapshotStreamErrorIsSentinel: a snapshot whose receiver goes away
// ends with sm.ErrSnapshotStreaming itself, and a stop with
// sm.ErrSnapshotStopped (Dragonboat compares with ==; any other error made
// its snapshot worker panic, which took a leader down in a fault run), and
// a local failure maps to ErrSnapshotStreaming too (sent again later).
func TestSnapshotStreamErrorIsSentinel(t *testing.T) {
	err := writeSnapshotFiles(failingSink{}, &log.Snapshot{Applied: 7}, nil)
	if !errors.Is(err, sm.ErrSnapshotStreaming) {
		t.Fatalf("write to a failing sink: %v", err)
	}
	for _, c := range []struct{ in, want error }{
		{err, sm.ErrSnapshotStreaming},
		{fmt.Errorf("x: %w", sm.ErrSnapshotStopped), sm.ErrSnapshotStopped},
		{fmt.Errorf("x: %w", sm.ErrSnapshotAborted), sm.ErrSnapshotAborted},
		{errors.New("read segment: input/output error"), sm.ErrSnapshotStreaming},
		{nil, nil},
	} {
		if got := streamError(c.in); got != c.want {
			t.Fatalf("streamError(%v) = %v, want %v itself", c.in, got, c.want)
		}
	}
}

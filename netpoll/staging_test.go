package netpoll

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/bargemq/barge/codec"
)

// smallFS is a SpillFS over the real disk whose files together take at most
// room bytes (then writes fail with ENOSPC, as on a full disk) and whose
// file system reports total bytes of its own and free bytes of free less
// what its files hold (total 0: the real figures).
type smallFS struct {
	OSSpillFS
	room        atomic.Int64
	inUse       atomic.Int64 // written and not yet punched or closed
	free, total int64
}

func (fs *smallFS) Create(dir string) (SpillFile, error) {
	f, err := fs.OSSpillFS.Create(dir)
	if err != nil {
		return nil, err
	}
	return &smallFile{SpillFile: f, fs: fs}, nil
}

func (fs *smallFS) Usage(dir string) (int64, int64, error) {
	if fs.total == 0 {
		return fs.OSSpillFS.Usage(dir)
	}
	return fs.free - fs.inUse.Load(), fs.total, nil
}

type smallFile struct {
	SpillFile
	fs   *smallFS
	live atomic.Int64 // this file's share of fs.inUse
}

func (f *smallFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fs.room.Add(-int64(len(b))) < 0 {
		return 0, &writeError{syscall.ENOSPC}
	}
	f.fs.inUse.Add(int64(len(b)))
	f.live.Add(int64(len(b)))
	return f.SpillFile.WriteAt(b, off)
}

func (f *smallFile) Punch(off, n int64) {
	f.fs.inUse.Add(-n)
	f.live.Add(-n)
	f.SpillFile.Punch(off, n)
}

func (f *smallFile) Close() error {
	f.fs.inUse.Add(-f.live.Swap(0))
	return f.SpillFile.Close()
}

type writeError struct{ errno syscall.Errno }

func (e *writeError) Error() string { return "write spill: " + e.errno.Error() }
func (e *writeError) Unwrap() error { return e.errno }

// writeUntilCut writes records of size bytes to tr until a write fails and
// returns that error and how many records were accepted.
func writeUntilCut(t *testing.T, ts *testSession, size int) (int, error) {
	t.Helper()
	for seq := range 100000 {
		if err := ts.tr.Write(record(1, seq, size-9)); err != nil {
			return seq, err
		}
	}
	t.Fatal("no write failed")
	return 0, nil
}

// expectCutWithErrLine reads the peer's stream to EOF and checks that it is
// whole records, then the -ERR line.
func expectCutWithErrLine(t *testing.T, got []byte, accepted int) {
	t.Helper()
	body, ok := strings.CutSuffix(string(got), slowConsumerLine)
	if !ok {
		t.Fatalf("stream does not end with %q (last bytes %q)", slowConsumerLine, got[max(0, len(got)-40):])
	}
	recs := parseRecords(t, []byte(body))
	for i, r := range recs {
		if r[1] != i {
			t.Fatalf("record %d has seq %d", i, r[1])
		}
	}
	if len(recs) > accepted {
		t.Fatalf("peer got %d records, but only %d were accepted", len(recs), accepted)
	}
}

// A spill write that fails (a full disk) cuts the subscriber as a slow
// consumer: the writer gets ErrSlowConsumer, the peer gets whole messages and
// the -ERR line, and Session.Closed's reason is a slow consumer (counted by
// the broker) that says why.
func TestStagingWriteErrorCutsAsSlowConsumer(t *testing.T) {
	fs := &smallFS{}
	fs.room.Store(1 << 20)
	st := NewStaging(StagingOptions{Dir: t.TempDir(), FS: fs, Reserve: -1})
	h := startServer(t, Options{WriteWatermark: 64 << 10, MaxPending: 1 << 30, Staging: st})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)

	// Records that do not divide the 64 KiB chunks: the cut comes with the
	// socket inside one, which it finishes before the -ERR line.
	accepted, err := writeUntilCut(t, ts, 10000)
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Write that could not be staged: %v, want ErrSlowConsumer", err)
	}
	expectCutWithErrLine(t, readAll(t, nc), accepted)
	reason := ts.waitClosed(t)
	if !errors.Is(reason, codec.ErrSlowConsumer) || !errors.Is(reason, syscall.ENOSPC) {
		t.Fatalf("Closed(%v), want a slow consumer caused by ENOSPC", reason)
	}
	if u := st.Used(); u != 0 {
		t.Fatalf("staging still counts %d bytes after the connection closed", u)
	}
}

// The staging budget is shared: what one connection holds staged is not
// available to another, even on another Server, and it comes back as the
// bytes are read.
func TestStagingBudgetIsShared(t *testing.T) {
	const budget = 1 << 20
	st := NewStaging(StagingOptions{Dir: t.TempDir(), Max: budget, Reserve: -1})
	o := Options{WriteWatermark: 64 << 10, MaxPending: 1 << 30, Staging: st}
	ha, hb := startServer(t, o), startServer(t, o)
	nca, tsa := ha.dial(t)
	_ = nca.SetReadBuffer(32 << 10)
	ncb, tsb := hb.dial(t)
	_ = ncb.SetReadBuffer(32 << 10)

	// a stages about half the budget and stops.
	seq := 0
	for ; st.Used() < budget/2; seq++ {
		must(t, tsa.tr.Write(record(1, seq, 16<<10-9)))
	}
	held := st.Used()
	acceptedB, err := writeUntilCut(t, tsb, 16<<10)
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("b past the shared budget: %v, want ErrSlowConsumer", err)
	}
	if got := tsb.c.stagedBytes(); got != 0 {
		t.Fatalf("b still counts %d staged bytes after its cut", got)
	}
	expectCutWithErrLine(t, readAll(t, ncb), acceptedB)
	if reason := tsb.waitClosed(t); !errors.Is(reason, errStagingBudget) {
		t.Fatalf("b Closed(%v), want the staging budget", reason)
	}
	if u := st.Used(); u != held {
		t.Fatalf("staging counts %d bytes with only a's %d staged", u, held)
	}

	// a reads everything: its bytes come back to the budget.
	want := seq * (16 << 10)
	readN(t, nca, want)
	waitFor(t, "a's staged bytes to be released", func() bool { return st.Used() == 0 })
}

// Staging leaves the file system's reserve (5% of its size by default) to
// everything else: past it a connection is cut, whatever max_staging says.
func TestStagingKeepsDiskReserve(t *testing.T) {
	const mib = 1 << 20
	fs := &smallFS{free: 8 * mib, total: 100 * mib} // reserve: 5 MiB
	fs.room.Store(1 << 40)
	st := NewStaging(StagingOptions{Dir: t.TempDir(), FS: fs})
	h := startServer(t, Options{WriteWatermark: 64 << 10, MaxPending: 1 << 30, Staging: st})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)

	var peak int64
	for seq := 0; ; seq++ {
		if err := ts.tr.Write(record(1, seq, 16<<10-9)); err != nil {
			if !errors.Is(err, ErrSlowConsumer) {
				t.Fatalf("Write: %v, want ErrSlowConsumer", err)
			}
			break
		}
		peak = max(peak, st.Used())
	}
	if peak > 3*mib || peak < 2*mib {
		t.Fatalf("staged %d bytes at most; want just under the 3 MiB above the reserve", peak)
	}
	readAll(t, nc)
	if reason := ts.waitClosed(t); !errors.Is(reason, errStagingDisk) {
		t.Fatalf("Closed(%v), want the disk reserve", reason)
	}
}

// A cut while the socket is in the middle of a large message that is fully
// queued finishes that message, then sends the -ERR line: the peer sees
// whole messages and the reason, never a torn one.
func TestCutFinishesMessageThenErrLine(t *testing.T) {
	st := NewStaging(StagingOptions{Dir: t.TempDir(), Max: 2 << 20, Reserve: -1})
	h := startServer(t, Options{WriteWatermark: 256 << 10, MaxPending: 1 << 30, Staging: st})
	nc, ts := h.dial(t)
	_ = nc.SetReadBuffer(32 << 10)

	accepted := 0
	var err error
	for seq := 0; err == nil; seq++ {
		s, e := ts.tr.BeginStream()
		if e != nil {
			t.Fatalf("BeginStream: %v", e)
		}
		msg := record(1, seq, 1<<20-9)
		for len(msg) > 0 && err == nil {
			n := min(len(msg), 64<<10)
			err = s.Write(msg[:n])
			msg = msg[n:]
		}
		s.End()
		if err == nil {
			accepted++
		}
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Stream.Write past the staging budget: %v, want ErrSlowConsumer", err)
	}
	expectCutWithErrLine(t, readAll(t, nc), accepted)
	if reason := ts.waitClosed(t); !errors.Is(reason, errStagingBudget) {
		t.Fatalf("Closed(%v), want the staging budget", reason)
	}
}

package consumer

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/internal/crashfs"
	"github.com/bargemq/barge/internal/diskfull"
	"github.com/bargemq/barge/log"
)

// durableRoot makes /store durable on mem, as an existing store dir is.
func durableRoot(t *testing.T, mem *log.MemFS) string {
	t.Helper()
	if err := log.MkdirDurable(mem, "/store"); err != nil {
		t.Fatal(err)
	}
	return "/store"
}

// readState decodes the state file of consumer name on fsys; nil if none.
func (e *tenv) readState(fsys log.FS, name string) *savedState {
	e.t.Helper()
	_, st, err := readConsumerDir(fsys, filepath.Join(e.dir, name))
	if err != nil {
		e.t.Fatalf("consumer dir: %v", err)
	}
	return st
}

// TestStateWriteFullDisk: a state write that meets a full disk is reported
// in the log, leaves the last good file (no temporary file, no bytes
// taken), holds back the double ack it would have answered, and is tried
// again until space returns; then the ack is answered and survives a
// restart.
func TestStateWriteFullDisk(t *testing.T) {
	run(t, func(t *testing.T) {
		mem := log.NewMemFS()
		dfs := diskfull.New(mem, -1)
		e := newEnvFS(t, streamCfg(nil), dfs, durableRoot(t, mem))
		for _, d := range []string{"a", "b", "c"} {
			e.pub("s.x", d)
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: time.Minute})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 3})
		got := in.take()
		if len(got) != 3 {
			t.Fatalf("got %d messages", len(got))
		}
		ackIn := e.sub("_INBOX.ack")
		e.ack(got[0].Reply, "+ACK", "_INBOX.ack")
		if len(ackIn.take()) != 1 {
			t.Fatal("no double-ack reply")
		}
		cdir := filepath.Join(e.dir, "D")
		names, _ := mem.List(cdir)
		used := dfs.Used()

		dfs.Fill(0)
		e.ack(got[1].Reply, "+ACK", "_INBOX.ack")
		sleep(5 * time.Second) // several retries, all failing
		if n := len(ackIn.take()); n != 0 {
			t.Fatalf("a double ack was answered while its state could not be written (%d replies)", n)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "consumer: writing state") || !strings.Contains(logs, "no space left on device") {
			t.Fatalf("the failure was not reported: %q", logs)
		}
		if st := e.readState(mem, "D"); st.asseq != 1 || len(st.pending) != 2 {
			t.Fatalf("state on a full disk: %+v", st)
		}
		if now, _ := mem.List(cdir); !slices.Equal(now, names) || dfs.Used() != used {
			t.Fatalf("failed writes left %v (was %v), %d bytes (was %d)", now, names, dfs.Used(), used)
		}
		// The acks are still taken in memory.
		if ci := e.info("D"); ci.AckFloor.Stream != 2 || ci.NumAckPending != 1 {
			t.Fatalf("info on a full disk: %+v", ci)
		}

		dfs.SetCapacity(-1)
		sleep(persistRetryMax)
		if n := len(ackIn.take()); n != 1 {
			t.Fatalf("%d double-ack replies after space returned, want 1", n)
		}
		if st := e.readState(mem, "D"); st.asseq != 2 || len(st.pending) != 1 {
			t.Fatalf("state after space returned: %+v", st)
		}
		e.restart()
		if ci := e.info("D"); ci.AckFloor.Stream != 2 || ci.NumAckPending != 1 || ci.Delivered.Stream != 3 {
			t.Fatalf("after restart: %+v", ci)
		}
	})
}

// TestCrashDuringStateWrites crashes a durable consumer's state writes
// after every file-system operation while messages are delivered, acked,
// nak'd and terminated: every crash finds a state file that verifies, the
// ack floor a crash finds never goes back as the operations go on, and the
// consumer reopens from every image with a consistent state.
func TestCrashDuringStateWrites(t *testing.T) {
	run(t, func(t *testing.T) {
		mem := log.NewMemFS()
		rec := crashfs.New(mem, func(_ string, n int64) int64 { return n / 2 })
		root := durableRoot(t, mem)
		e := newEnvFS(t, streamCfg(nil), rec, root)
		for _, d := range []string{"a", "b", "c", "d", "e", "f"} {
			e.pub("s.x", d)
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: time.Minute})
		synctestWait()
		rec.Record()
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 5})
		got := in.take()
		if len(got) != 5 {
			t.Fatalf("got %d messages", len(got))
		}
		ackIn := e.sub("_INBOX.ack")
		for i, body := range []string{"+ACK", "+ACK", "-NAK", "+TERM", "+ACK"} {
			e.ack(got[i].Reply, body, "_INBOX.ack")
			ackIn.take()
		}
		images := rec.Stop()
		if len(images) < 10 {
			t.Fatalf("only %d operations recorded", len(images))
		}
		var floor uint64
		for _, img := range images {
			st := e.readState(img.FS, "D") // fails the test on a torn file
			if st == nil {
				t.Fatalf("after %s: no state", img.Op)
			}
			if st.asseq < floor {
				t.Fatalf("after %s: ack floor went back from %d to %d", img.Op, floor, st.asseq)
			}
			floor = st.asseq
		}
		if floor != 2 {
			t.Fatalf("last crash finds ack floor %d, want 2", floor)
		}
		for _, img := range images {
			r := newEnvFS(t, streamCfg(nil), img.FS, root)
			ci := r.info("D")
			d, f := ci.Delivered.Stream, ci.AckFloor.Stream
			if d > 5 || f > d || uint64(ci.NumAckPending) > d-f || ci.NumPending != 6-d {
				t.Fatalf("after %s: inconsistent state %+v", img.Op, ci)
			}
			r.closeAll()
		}
	})
}

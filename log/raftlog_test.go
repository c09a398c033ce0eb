package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bargemq/barge/internal/synctime"
)

// raftEnt is a test entry: index i of term, with a cmd of payloadFor(tag).
func raftEnt(i, term uint64, tag string, n int) RaftEntry {
	return RaftEntry{Index: i, Term: term, Type: 2, Key: i * 7, ClientID: 3, SeriesID: 4, RespondedTo: 5,
		Cmd: payloadFor(fmt.Sprint(tag, i), n)}
}

// readAll returns the stored entries [low, high).
func readAll(t testing.TB, l *Log, low, high uint64) []RaftEntry {
	t.Helper()
	var out []RaftEntry
	if err := l.ReadRaftEntries(low, high, func(e RaftEntry) bool { out = append(out, e); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRaft compares the log's stored run with want and its state with st.
func checkRaft(t testing.TB, l *Log, want []RaftEntry, st RaftState) {
	t.Helper()
	first, last := l.RaftRange()
	if len(want) == 0 {
		if last >= first {
			t.Fatalf("range %d..%d, want none", first, last)
		}
	} else if first != want[0].Index || last != want[len(want)-1].Index {
		t.Fatalf("range %d..%d, want %d..%d", first, last, want[0].Index, want[len(want)-1].Index)
	}
	got := readAll(t, l, 0, last+1)
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || g.Key != w.Key || g.ClientID != w.ClientID ||
			g.SeriesID != w.SeriesID || g.RespondedTo != w.RespondedTo || !bytes.Equal(g.Cmd, w.Cmd) {
			t.Fatalf("entry %d differs: %+v", w.Index, g)
		}
	}
	if got, ok := l.RaftState(); !ok || got != st {
		t.Fatalf("state %+v %v, want %+v", got, ok, st)
	}
}

// TestRaftSaveOverwriteReset stores raft entries in a replica log: a
// follower's tail replaced by a new leader's, a snapshot's reset, and a
// reopen after each, over every segment roll.
func TestRaftSaveOverwriteReset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	open := func() *Log {
		return mustOpen(t, dir, Config{}, Options{Replica: true, SegmentSize: 16 << 10, ChunkSize: 4096})
	}
	l := open()
	var want []RaftEntry
	for i := uint64(1); i <= 30; i++ {
		want = append(want, raftEnt(i, 1, "a", int(i*211)%5000))
	}
	st := RaftState{Term: 1, Vote: 2, Commit: 20}
	if err := l.SaveRaft(0, want[:10], nil); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveRaft(0, want[10:], &st); err != nil {
		t.Fatal(err)
	}
	checkRaft(t, l, want, st)
	l.Close()
	l = open()
	checkRaft(t, l, want, st)

	// A new leader replaces entries 26.. with its own (term 2).
	repl := []RaftEntry{raftEnt(26, 2, "b", 300), raftEnt(27, 2, "b", 9000)}
	st = RaftState{Term: 2, Vote: 3, Commit: 25}
	if err := l.SaveRaft(0, repl, &st); err != nil {
		t.Fatal(err)
	}
	want = append(want[:25], repl...)
	checkRaft(t, l, want, st)
	l.Close()
	l = open()
	checkRaft(t, l, want, st)

	// A snapshot at 40 voids everything; entries go on after it.
	after := []RaftEntry{raftEnt(41, 3, "c", 10), raftEnt(42, 3, "c", 20)}
	st = RaftState{Term: 3, Vote: 1, Commit: 40}
	if err := l.SaveRaft(40, after, &st); err != nil {
		t.Fatal(err)
	}
	checkRaft(t, l, after, st)
	l.Close()
	l = open()
	defer l.Close()
	checkRaft(t, l, after, st)
	if err := l.SaveRaft(0, []RaftEntry{raftEnt(5, 1, "x", 1), raftEnt(7, 1, "x", 1)}, nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("gap: %v", err)
	}
}

// chunkCmd is a stored chunk entry cmd as raft's stream shards make it: a
// one-byte Dragonboat header, a kind byte and a 32-byte chunk header, then
// the data.
const chunkDataOff = 1 + 1 + 32

func chunkCmd(data []byte) []byte {
	return append(make([]byte, chunkDataOff), data...)
}

// TestRaftApplyByReference applies chunks and inline messages by reference
// into the entry records: the payload is written once, reads return it,
// and a reopen rebuilds the pending chunks and the messages.
func TestRaftApplyByReference(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	opts := Options{Replica: true, SegmentSize: 1 << 20, ChunkSize: 4096}
	l := mustOpen(t, dir, Config{}, opts)
	big := payloadFor("big", 3*4096+100)
	var ents []RaftEntry
	for i := 0; i*4096 < len(big); i++ {
		ents = append(ents, RaftEntry{Index: uint64(i + 1), Term: 1, Cmd: chunkCmd(big[i*4096 : min((i+1)*4096, len(big))])})
	}
	small := payloadFor("small", 700)
	group := append(make([]byte, 50), small...) // some group entry framing, then the data
	ents = append(ents, RaftEntry{Index: 5, Term: 1, Cmd: group})
	if err := l.SaveRaft(0, ents, &RaftState{Term: 1, Commit: 5}); err != nil {
		t.Fatal(err)
	}
	before := l.State().Segments
	sizeBefore := dirSize(t, OSFS{}, dir)
	c := &Commit{ID: 77, Subject: "big", Size: int64(len(big)), Time: 10}
	for i, e := range ents[:4] {
		data := e.Cmd[chunkDataOff:]
		crc := crc32c(data)
		c.Chunks++
		c.Digest = ChunkDigest(c.Digest, crc)
		if err := l.ApplyChunkAt(77, uint32(i), data, crc, EntryRef{Index: e.Index, Off: chunkDataOff, CmdLen: len(e.Cmd)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.MarkApplied(4, []byte("sm state")); err != nil {
		t.Fatal(err)
	}
	if l.PendingChunks() != 1 {
		t.Fatalf("pending %d", l.PendingChunks())
	}
	l.Close()
	l = mustOpen(t, dir, Config{}, opts)
	if l.Applied() != 4 || l.PendingChunks() != 1 || string(l.AppliedState()) != "sm state" {
		t.Fatalf("after reopen: applied %d, pending %d, state %q", l.Applied(), l.PendingChunks(), l.AppliedState())
	}
	if seq, _, err := l.ApplyCommit(c); err != nil || seq != 1 {
		t.Fatalf("commit: %d %v", seq, err)
	}
	sc := &Commit{ID: 78, Subject: "small", Size: int64(len(small)), Time: 11, Chunks: 1, Digest: ChunkDigest(0, crc32c(small))}
	if seq, _, err := l.ApplyInlineAt(sc, small, crc32c(small), EntryRef{Index: 5, Off: 50, CmdLen: len(group)}); err != nil || seq != 2 {
		t.Fatalf("inline: %d %v", seq, err)
	}
	if err := l.MarkApplied(5, nil); err != nil {
		t.Fatal(err)
	}
	checkMsg(t, l, 1, "big", nil, big)
	checkMsg(t, l, 2, "small", nil, small)
	// Nothing of the payloads was written again: only small records.
	if grew := dirSize(t, OSFS{}, dir) - sizeBefore; grew > 1024 || l.State().Segments != before {
		t.Fatalf("applying wrote %d bytes", grew)
	}
	l.Close()
	l = mustOpen(t, dir, Config{}, opts)
	defer l.Close()
	checkMsg(t, l, 1, "big", nil, big)
	checkMsg(t, l, 2, "small", nil, small)
	// A reference the log cannot resolve falls back to a copy.
	fc := &Commit{ID: 79, Subject: "copied", Size: 5, Time: 12, Chunks: 1, Digest: ChunkDigest(0, crc32c([]byte("hello")))}
	if seq, _, err := l.ApplyInlineAt(fc, []byte("hello"), crc32c([]byte("hello")), EntryRef{Index: 99, CmdLen: 5}); err != nil || seq != 3 {
		t.Fatalf("fallback: %d %v", seq, err)
	}
	if err := l.MarkApplied(6, nil); err != nil {
		t.Fatal(err)
	}
	checkMsg(t, l, 3, "copied", nil, []byte("hello"))
}

// TestRaftCrashBetweenSaveAndApply saves entries (durable), applies them
// without an fsync and takes crash images: the applied index Open reports
// is a marker whose every message survived, every saved entry is there,
// and applying the entries after the marker again gives the same
// sequences.
func TestRaftCrashBetweenSaveAndApply(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			mfs := NewMemFS()
			opts := Options{FS: mfs, Replica: true, SegmentSize: 32 << 10, ChunkSize: 4096}
			l := mustOpen(t, "/r", Config{}, opts)
			var ents []RaftEntry
			apply := func(l *Log, e RaftEntry) uint64 {
				data := e.Cmd[chunkDataOff:]
				crc := crc32c(data)
				c := &Commit{ID: e.Index, Subject: fmt.Sprint("s.", e.Index), Size: int64(len(data)), Time: int64(e.Index),
					Chunks: 1, Digest: ChunkDigest(0, crc)}
				seq, _, err := l.ApplyInlineAt(c, data, crc, EntryRef{Index: e.Index, Off: chunkDataOff, CmdLen: len(e.Cmd)})
				if err != nil {
					t.Fatal(err)
				}
				return seq
			}
			for i := uint64(1); i <= 60; i++ {
				e := RaftEntry{Index: i, Term: 1, Cmd: chunkCmd(payloadFor(fmt.Sprint(i), rng.IntN(3000)))}
				ents = append(ents, e)
				if err := l.SaveRaft(0, []RaftEntry{e}, &RaftState{Term: 1, Commit: i}); err != nil {
					t.Fatal(err)
				}
			}
			var img *MemFS
			applied := uint64(0)
			for applied < 60 {
				n := min(uint64(1+rng.IntN(7)), 60-applied)
				for i := applied + 1; i <= applied+n; i++ {
					if seq := apply(l, ents[i-1]); seq != i {
						t.Fatalf("seq %d for entry %d", seq, i)
					}
				}
				applied += n
				if rng.IntN(3) > 0 {
					if err := l.MarkApplied(applied, nil); err != nil {
						t.Fatal(err)
					}
				}
				if img == nil && applied > 30 {
					img = mfs.CrashClone(func(string, int64) int64 { return 0 })
				}
			}
			l.Close()
			for _, keep := range []func(string, int64) int64{
				func(string, int64) int64 { return 0 },
				func(_ string, n int64) int64 { return rng.Int64N(n + 1) },
			} {
				for _, fs := range []*MemFS{img, mfs.CrashClone(keep)} {
					o := opts
					o.FS = fs
					l := mustOpen(t, "/r", Config{}, o)
					checkRaft(t, l, ents, RaftState{Term: 1, Commit: 60})
					at := l.Applied()
					st := l.State()
					if st.LastSeq != at {
						t.Fatalf("applied %d but last seq %d", at, st.LastSeq)
					}
					for seq := uint64(1); seq <= at; seq++ {
						checkMsg(t, l, seq, fmt.Sprint("s.", seq), nil, ents[seq-1].Cmd[chunkDataOff:])
					}
					for i := at + 1; i <= 60; i++ {
						if seq := apply(l, ents[i-1]); seq != i {
							t.Fatalf("re-applied entry %d got seq %d", i, seq)
						}
					}
					if err := l.MarkApplied(60, nil); err != nil {
						t.Fatal(err)
					}
					l.Close()
				}
			}
		})
	}
}

// TestRaftVoidsCutBatch: the records of a batch whose marker was lost do
// not come back with a later marker, even when applying the entries again
// gives other records (a purge that keeps the last n).
func TestRaftVoidsCutBatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	opts := Options{Replica: true, SegmentSize: 1 << 20, ChunkSize: 4096}
	l := mustOpen(t, dir, Config{}, opts)
	for i := uint64(1); i <= 3; i++ {
		applyMsg(t, l, i, "x", payloadFor("p", 10))
	}
	if err := l.MarkApplied(3, nil); err != nil {
		t.Fatal(err)
	}
	// A batch cut by a crash: a purge keeping one message.
	if _, err := l.ApplyPurge(PurgeRequest{Keep: 1}); err != nil {
		t.Fatal(err)
	}
	l.Close() // no marker: the purge's record follows the last marker
	l = mustOpen(t, dir, Config{}, opts)
	if st := l.State(); l.Applied() != 3 || st.Msgs != 3 {
		t.Fatalf("applied %d, state %+v", l.Applied(), st)
	}
	// Raft applies other entries this time (another history): a message.
	applyMsg(t, l, 4, "x", payloadFor("p", 10))
	if err := l.MarkApplied(4, nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = mustOpen(t, dir, Config{}, opts)
	defer l.Close()
	if st := l.State(); l.Applied() != 4 || st.Msgs != 4 || st.FirstSeq != 1 {
		t.Fatalf("the cut batch came back: applied %d, state %+v", l.Applied(), st)
	}
}

// TestRaftFloorKeepsSegments: a segment goes only once raft's floor is past
// its entries and no live message has a record in it.
func TestRaftFloorKeepsSegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	l := mustOpen(t, dir, Config{MaxMsgs: 2}, Options{Replica: true, SegmentSize: 8 << 10, ChunkSize: 4096})
	defer l.Close()
	for i := uint64(1); i <= 40; i++ {
		e := RaftEntry{Index: i, Term: 1, Cmd: chunkCmd(payloadFor(fmt.Sprint(i), 3000))}
		if err := l.SaveRaft(0, []RaftEntry{e}, &RaftState{Term: 1, Commit: i}); err != nil {
			t.Fatal(err)
		}
		data := e.Cmd[chunkDataOff:]
		c := &Commit{ID: i, Subject: "s", Size: int64(len(data)), Time: 1, Chunks: 1, Digest: ChunkDigest(0, crc32c(data))}
		if _, _, err := l.ApplyInlineAt(c, data, crc32c(data), EntryRef{Index: i, Off: chunkDataOff, CmdLen: len(e.Cmd)}); err != nil {
			t.Fatal(err)
		}
		if err := l.MarkApplied(i, nil); err != nil {
			t.Fatal(err)
		}
	}
	// MaxMsgs 2 leaves the messages of the last segments only, but raft
	// still needs every entry.
	if n := l.State().Segments; n < 15 {
		t.Fatalf("%d segments: entries raft needs were removed", n)
	}
	if got := readAll(t, l, 1, 41); len(got) != 40 {
		t.Fatalf("%d entries readable", len(got))
	}
	l.SetRaftFloor(35)
	if n := l.State().Segments; n > 4 {
		t.Fatalf("%d segments left", n)
	}
	if first, last := l.RaftRange(); first != 36 || last != 40 {
		t.Fatalf("range %d..%d", first, last)
	}
	checkMsg(t, l, 40, "s", nil, payloadFor("40", 3000))
}

// TestRaftRefusesOldLayout: a replica log directory with version-1
// segments (raft entries were kept in Dragonboat's own store) is not
// opened.
func TestRaftRefusesOldLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	l := mustOpen(t, dir, Config{}, Options{})
	if _, _, err := l.AppendMsg("x", nil, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := Open(dir, Config{}, Options{Replica: true}); !errors.Is(err, ErrOldLayout) {
		t.Fatalf("open v1 segments as a replica: %v", err)
	}
}

// TestRaftSaveSyncPolicy: with SyncAlways a SaveRaft survives a crash at
// once; with SyncInterval it is written but not fsynced until the interval
// flusher runs, as R1 messages are.
func TestRaftSaveSyncPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, sync := range []SyncPolicy{SyncAlways, SyncInterval} {
			mfs := NewMemFS()
			o := Options{FS: mfs, Replica: true, Sync: sync, SyncInterval: time.Second}
			l := mustOpen(t, "/r", Config{}, o)
			ents := []RaftEntry{raftEnt(1, 1, "a", 100), raftEnt(2, 1, "a", 200)}
			st := RaftState{Term: 1, Vote: 1, Commit: 2}
			if err := l.SaveRaft(0, ents, &st); err != nil {
				t.Fatal(err)
			}
			lost := func() bool {
				img := mfs.CrashClone(func(string, int64) int64 { return 0 })
				c := mustOpen(t, "/r", Config{}, Options{FS: img, Replica: true})
				defer c.Close()
				var n int
				c.ReadRaftEntries(1, 3, func(RaftEntry) bool { n++; return true })
				return n < 2
			}
			if got := lost(); got != (sync == SyncInterval) {
				t.Fatalf("sync %v: entries lost by a crash right after SaveRaft: %v", sync, got)
			}
			if sync == SyncInterval {
				synctime.Advance(time.Second + time.Millisecond) // the flusher runs
				if lost() {
					t.Fatal("entries lost after the interval flusher ran")
				}
			}
			l.Close()
		}
	})
}

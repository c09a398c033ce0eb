package raft

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

func TestCommitEntryRoundTrip(t *testing.T) {
	for _, c := range []log.Commit{
		{ID: 1, Time: 2, Size: 3, Chunks: 1, Digest: 9, Subject: "a", Hdr: []byte("NATS/1.0\r\n\r\n")},
		{ID: 1, Time: 2, Subject: "a", CheckLastSeq: true, LastSeq: 5},
		{ID: 7, Time: 8, Subject: "kv.x", Hdr: []byte("h"), CheckLastSeq: true, LastSeq: 4, Checks: log.Checks{
			DupWindow: int64(time.Minute), CheckSubjSeq: true, SubjSeq: 3, SubjFilter: "kv.>",
			CheckLastMsgID: true, LastMsgID: "m", Rollup: log.RollupAll}},
		{ID: 7, Subject: "s", Checks: log.Checks{Rollup: log.RollupSubject}},
	} {
		b := appendCommit(nil, &c)
		wantKind := kindCommit
		if c.Checks != (log.Checks{}) {
			wantKind = kindCommitX
		}
		if b[0] != wantKind {
			t.Fatalf("kind %d for %+v", b[0], c)
		}
		var got log.Commit
		if err := parseCommit(b, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Hdr) == 0 && len(c.Hdr) == 0 {
			got.Hdr, c.Hdr = nil, nil
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
		}
		if err := parseCommit(b[:len(b)-1], &got); err == nil {
			t.Fatal("truncated entry parsed")
		}
	}
	// A kind 2 entry with kind 6 flags is malformed.
	b := appendCommit(nil, &log.Commit{ID: 1, Subject: "a"})
	b[33] = flagSubjSeq
	if err := parseCommit(b, new(log.Commit)); err == nil {
		t.Fatal("kind 2 with check flags parsed")
	}
	cfg := log.Config{MaxMsgs: 1, MaxBytes: 2, MaxAge: 3, MaxMsgsPerSubject: 4, MaxMsgSize: 5, Discard: log.DiscardNew, Storage: log.FileStorage}
	got, err := parseConfig(appendConfig(nil, cfg), log.Config{Storage: log.FileStorage})
	if err != nil || got != cfg {
		t.Fatalf("config round trip: %+v %v", got, err)
	}
}

// Dedup, expected subject sequence and message id, rollups, config
// entries and progress reports through a 3-replica shard: every replica
// ends with the same log.
func TestStreamChecksConfigAndProgress(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id, h := range c.hosts {
		s, err := h.StartStreamShard(11, c.addrs, false, c.streamDir(id, 11), StreamOptions{ReportEvery: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		shards[id] = s
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(11) != 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := func(via uint64, subj, hdr string, ch log.Checks) (uint64, error) {
		seq, _, err := shards[via].Publish(ctx, &Message{Subject: subj, Hdr: []byte(hdr), Body: bytesReader([]byte("v")), Size: 1, Checks: ch})
		return seq, err
	}
	dedup := log.Checks{DupWindow: int64(time.Minute)}
	id := "NATS/1.0\r\nNats-Msg-Id: one\r\n\r\n"
	if seq, err := pub(1, "kv.a", id, dedup); err != nil || seq != 1 {
		t.Fatalf("first: %d %v", seq, err)
	}
	if seq, err := pub(2, "kv.a", id, dedup); !errors.Is(err, ErrDuplicate) || seq != 1 {
		t.Fatalf("duplicate via another replica: %d %v", seq, err)
	}
	var ce *log.CheckError
	if _, err := pub(3, "kv.a", "", log.Checks{CheckSubjSeq: true}); !errors.Is(err, ErrLastSeq) || !errors.As(err, &ce) || ce.Seq != 1 {
		t.Fatalf("create of a present key: %v", err)
	}
	if _, err := pub(3, "kv.a", "", log.Checks{CheckLastMsgID: true, LastMsgID: "two"}); !errors.Is(err, ErrLastMsgID) || !errors.As(err, &ce) || ce.MsgID != "one" {
		t.Fatalf("last msg id: %v", err)
	}
	if seq, err := pub(3, "kv.a", "", log.Checks{CheckSubjSeq: true, SubjSeq: 1, Rollup: log.RollupSubject}); err != nil || seq != 2 {
		t.Fatalf("update with rollup: %d %v", seq, err)
	}
	// A config entry: DiscardNew at 1 message refuses the next one everywhere.
	if err := shards[2].UpdateConfig(ctx, log.Config{MaxMsgs: 1, Discard: log.DiscardNew, Storage: log.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub(1, "kv.b", "", log.Checks{}); !errors.Is(err, ErrLimit) {
		t.Fatalf("publish past DiscardNew limit: %v", err)
	}
	for id, s := range shards {
		eventually(t, 10*time.Second, "apply", func() bool {
			v, _ := s.ReadLocal(func(l *log.Log) (any, error) { return l.State(), nil })
			st, _ := v.(log.State)
			return st.Msgs == 1 && st.FirstSeq == 2 && st.LastSeq == 2
		})
		// Every replica hears every replica's reports, lag 0 once idle.
		eventually(t, 10*time.Second, "progress reports", func() bool {
			ps := s.Progress()
			if len(ps) != 3 {
				return false
			}
			for _, p := range ps {
				if p.Lag != 0 || p.Applied == 0 {
					return false
				}
			}
			return true
		})
		_ = id
	}
}

// Concurrent small publishes share batch entries; every message gets its
// own sequence, and a batch entry proposed again (a retry after a timeout
// that had committed) answers each message with its original sequence.
func TestStreamBatchedPublishes(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id := range c.hosts {
		shards[id] = c.startStream(id, 12)
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(12) != 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 300
	seqs := make(chan uint64, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			s := shards[uint64(i%3)+1]
			seq, _, err := s.PublishBytes(ctx, "b", nil, payload(i, 100+i))
			seqs <- seq
			errs <- err
		}()
	}
	seen := map[uint64]bool{}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		seen[<-seqs] = true
	}
	for seq := uint64(1); seq <= n; seq++ {
		if !seen[seq] {
			t.Fatalf("sequence %d not assigned (%d distinct)", seq, len(seen))
		}
	}
	s := shards[1]
	items := []*pubItem{{data: []byte("one")}, {data: []byte("two")}}
	for i, it := range items {
		it.crc = chunking.Checksum(it.data)
		it.c = log.Commit{ID: uint64(9000 + i), Subject: "r", Size: int64(len(it.data)), Chunks: 1, Digest: log.ChunkDigest(0, it.crc)}
	}
	cmd := s.appendGroup(nil, 777, 1, 1, items)
	for round := 0; round < 2; round++ {
		res, err := s.propose(ctx, cmd)
		if err == nil {
			err = splitBatchResult(res, items)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if want := uint64(n + 1 + i); it.res.Value != want || errOf(it.res) != nil {
				t.Fatalf("round %d item %d: %+v (want seq %d)", round, i, it.res, want)
			}
		}
	}
	for _, s := range shards {
		eventually(t, 10*time.Second, "every message on every replica", func() bool { return lastSeq(s) == n+2 })
	}
}

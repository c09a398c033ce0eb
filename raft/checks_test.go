package raft

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

func TestCommitEntryRoundTrip(t *testing.T) {
	for _, c := range []log.Commit{
		{ID: 1, Time: 2, Size: 3, Chunks: 1, Digest: 9, Subject: "a", Hdr: []byte("NATS/1.0\r\n\r\n")},
		{ID: 7, Time: 8, Subject: "kv.x"},
		{ID: 9, Time: 10, Subject: "m", Seq: 1 << 40}, // a mirror's copy
	} {
		b := appendCommit(nil, &c)
		if b[0] != kindCommit {
			t.Fatalf("kind %d", b[0])
		}
		var got log.Commit
		if err := parseCommit(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != c.ID || got.Time != c.Time || got.Size != c.Size || got.Chunks != c.Chunks || got.Digest != c.Digest ||
			got.Subject != c.Subject || string(got.Hdr) != string(c.Hdr) || got.Seq != c.Seq {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
		}
		if err := parseCommit(b[:len(b)-1], &got); err == nil {
			t.Fatal("truncated entry parsed")
		}
	}
	// Entries of earlier versions: a kind 2 with check flags and a kind 6
	// with its check fields parse, the checks skipped.
	old := appendCommit(nil, &log.Commit{ID: 5, Subject: "s", Hdr: []byte("h")})
	old[33] = 1 | 2<<3 // check last seq, rollup all
	var got log.Commit
	if err := parseCommit(old, &got); err != nil || got.ID != 5 || string(got.Hdr) != "h" {
		t.Fatalf("old kind 2: %+v %v", got, err)
	}
	x := append([]byte(nil), old...)
	x[0] = kindCommitX
	x = le.AppendUint64(x, uint64(time.Minute))
	x = le.AppendUint64(x, 3)
	x = le.AppendUint16(x, 4)
	x = append(x, "kv.>"...)
	x = le.AppendUint16(x, 1)
	x = append(x, 'm')
	if err := parseCommit(x, &got); err != nil || got.ID != 5 || got.Subject != "s" || string(got.Hdr) != "h" {
		t.Fatalf("old kind 6: %+v %v", got, err)
	}
	if err := parseCommit(x[:len(x)-1], &got); err == nil {
		t.Fatal("truncated kind 6 parsed")
	}
	bad := append([]byte(nil), old...)
	bad[33] = 1 << 6
	if err := parseCommit(bad, &got); err == nil {
		t.Fatal("unknown flags parsed")
	}
	bad[33] = flagAtSeq // with sequence 0
	if err := parseCommit(bad, &got); err == nil {
		t.Fatal("a commit at sequence 0 parsed")
	}

	cfg := log.Config{MaxMsgs: 1, MaxBytes: 2, MaxAge: 3, MaxMsgsPerSubject: 4, Discard: log.DiscardNew, Storage: log.FileStorage, Rules: "rules"}
	gotCfg, err := parseConfig(appendConfig(nil, cfg), log.Config{Storage: log.FileStorage})
	if err != nil || gotCfg != cfg {
		t.Fatalf("config round trip: %+v %v", gotCfg, err)
	}
	// An earlier version's config entry (no rules) keeps the base's.
	legacy := appendConfig(nil, cfg)[:configSize]
	gotCfg, err = parseConfig(legacy, log.Config{Storage: log.FileStorage, Rules: "base"})
	if err != nil || gotCfg.Rules != "base" || gotCfg.MaxMsgs != 1 {
		t.Fatalf("legacy config: %+v %v", gotCfg, err)
	}
	if _, err := parseConfig(appendConfig(nil, cfg)[:configSize+3], log.Config{}); err == nil {
		t.Fatal("truncated rules parsed")
	}
}

// opaqueChecker is a log.Checker with rules raft knows nothing about:
// "last=N" in the header refuses (code 7, Seq: the last sequence, Text:
// the rules) unless the last sequence is N; "roll" purges the subject
// below; when the rules say "closed" everything is refused (code 9).
type opaqueChecker struct{}

func (opaqueChecker) Check(v log.View, m log.CheckMsg) (log.Action, error) {
	h := string(m.Hdr)
	switch {
	case v.Rules() == "closed":
		return log.ActNone, &log.CheckError{Code: 9, Text: "closed"}
	case strings.HasPrefix(h, "last="):
		if want, _ := strconv.ParseUint(h[5:], 10, 64); want != v.LastSeq() {
			return log.ActNone, &log.CheckError{Code: 7, Seq: v.LastSeq(), Text: "rules:" + v.Rules()}
		}
	case h == "roll":
		return log.ActPurgeSubject, nil
	}
	return log.ActNone, nil
}

func (opaqueChecker) Truncate(uint64) {}
func (opaqueChecker) Reset(log.View)  {}

// A Checker's refusals travel back to the proposer through the entry's
// result as they were made, its rollups purge on every replica, config
// entries change its rules and the limits at one point of the log, and
// progress reports flow: every replica ends with the same log.
func TestStreamChecksConfigAndProgress(t *testing.T) {
	c := newCluster(t, 3, nil)
	shards := map[uint64]*StreamShard{}
	for id, h := range c.hosts {
		s, err := h.StartStreamShard(11, c.addrs, false, c.streamDir(id, 11),
			StreamOptions{ReportEvery: 20 * time.Millisecond, Config: log.Config{Rules: "r1"}, Log: log.Options{Checker: opaqueChecker{}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		shards[id] = s
	}
	eventually(t, 30*time.Second, "a leader", func() bool { return c.leader(11) != 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := func(via uint64, subj, hdr string) (uint64, error) {
		seq, _, err := shards[via].Publish(ctx, &Message{Subject: subj, Hdr: []byte(hdr), Body: bytesReader([]byte("v")), Size: 1})
		return seq, err
	}
	if seq, err := pub(1, "kv.a", ""); err != nil || seq != 1 {
		t.Fatalf("first: %d %v", seq, err)
	}
	var ce *log.CheckError
	if _, err := pub(2, "kv.a", "last=0"); !errors.As(err, &ce) || ce.Code != 7 || ce.Seq != 1 || ce.Text != "rules:r1" {
		t.Fatalf("refusal via another replica: %v", err)
	}
	if seq, err := pub(3, "kv.a", "last=1"); err != nil || seq != 2 {
		t.Fatalf("accepted: %d %v", seq, err)
	}
	if seq, err := pub(2, "kv.a", "roll"); err != nil || seq != 3 {
		t.Fatalf("rollup: %d %v", seq, err)
	}
	// A config entry: new rules, and DiscardNew at 1 message refuses the
	// next one everywhere with the limit named.
	if err := shards[2].UpdateConfig(ctx, log.Config{MaxMsgs: 1, Discard: log.DiscardNew, Storage: log.FileStorage, Rules: "r2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub(1, "kv.b", ""); !errors.Is(err, ErrLimit) || !errors.Is(err, log.ErrMaxMsgs) {
		t.Fatalf("publish past DiscardNew limit: %v", err)
	}
	if err := shards[1].UpdateConfig(ctx, log.Config{Storage: log.FileStorage, Rules: "closed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub(3, "kv.c", ""); !errors.As(err, &ce) || ce.Code != 9 {
		t.Fatalf("closed by the rules: %v", err)
	}
	for _, s := range shards {
		eventually(t, 10*time.Second, "apply", func() bool {
			v, _ := s.ReadLocal(func(l *log.Log) (any, error) { return l.State(), nil })
			st, _ := v.(log.State)
			return st.Msgs == 1 && st.FirstSeq == 3 && st.LastSeq == 3
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

package jetstream

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// allocProbe wraps a stream's rules and, when the log asks about a message
// on subject "probe", measures what deciding it again and again costs in
// allocations (with the sequence moving on each time, as the next
// messages' would), before deciding it for real.
type allocProbe struct {
	*publishRules
	allocs float64
}

func (p *allocProbe) Check(v log.View, m log.CheckMsg) (log.Action, error) {
	if m.Subject == "probe" {
		next := m
		p.allocs = testing.AllocsPerRun(200, func() {
			next.Seq++
			if _, err := p.publishRules.Check(v, next); err != nil {
				panic(err)
			}
		})
	}
	return p.publishRules.Check(v, m)
}

// TestRulesCommonCaseAllocs: deciding a message without headers, or with
// an expected last sequence that holds, allocates nothing; a Nats-Msg-Id
// costs its entry in the duplicate window.
func TestRulesCommonCaseAllocs(t *testing.T) {
	cfg := jsapi.StreamConfig{Name: "S", Duplicates: time.Minute, MaxMsgsPer: -1}
	for _, c := range []struct {
		name string
		hdr  string
		max  float64
	}{
		{"no header", "", 0},
		{"expected last sequence", "NATS/1.0\r\nNats-Expected-Last-Sequence: 3\r\n\r\n", 0},
		{"msg id", "NATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n", 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			probe := &allocProbe{publishRules: newPublishRules("S", nil)}
			l, err := log.Open(t.TempDir(), logConfig(&cfg), log.Options{Checker: probe, Sync: log.SyncInterval})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for range 3 {
				if _, _, err := l.AppendMsg("warm", nil, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := l.AppendMsg("probe", []byte(c.hdr), []byte("x")); err != nil {
				t.Fatal(err)
			}
			t.Logf("%.1f allocations per message", probe.allocs)
			if probe.allocs > c.max {
				t.Fatalf("%.1f allocations per message, want at most %v", probe.allocs, c.max)
			}
		})
	}
}

// TestRulesConfigRoundTrip: the rules' settings survive their encoding in
// log.Config.Rules; an empty or unknown encoding means no rules.
func TestRulesConfigRoundTrip(t *testing.T) {
	rc := ruleConfig{window: int64(time.Minute), maxMsgSize: 100, maxPerSubj: 3, sealed: true, allowRollup: true}
	if got := decodeRules(rc.encode()); got != rc {
		t.Fatalf("round trip: %+v", got)
	}
	for _, f := range []ruleConfig{{allowTTL: true}, {allowCounter: true}, {allowSchedules: true}} {
		if got := decodeRules(f.encode()); got != f {
			t.Fatalf("round trip %+v: %+v", f, got)
		}
	}
	if got := decodeRules(""); got != (ruleConfig{}) {
		t.Fatalf("empty: %+v", got)
	}
	if got := decodeRules("\x09" + rc.encode()[1:]); got != (ruleConfig{}) {
		t.Fatalf("unknown version: %+v", got)
	}
	cfg := jsapi.StreamConfig{Duplicates: time.Second, MaxMsgSize: 10, MaxMsgsPer: 4, DiscardNewPer: true, AllowRollup: true}
	if got := rulesOf(&cfg); got != (ruleConfig{window: int64(time.Second), maxMsgSize: 10, maxPerSubj: 4, allowRollup: true}) {
		t.Fatalf("rulesOf: %+v", got)
	}
	cfg.DiscardNewPer = false
	if got := rulesOf(&cfg); got.maxPerSubj != 0 {
		t.Fatalf("max per subject without discard new per subject: %+v", got)
	}
}

// parityLog is one copy of a stream for TestRulesRestartParity: a replica
// log (decisions at apply, in batches) or a local one (decisions at each
// commit, on an injected clock).
type parityLog struct {
	t       *testing.T
	dir     string
	cfg     jsapi.StreamConfig
	replica bool
	clock   *stepClock
	l       *log.Log
	index   uint64 // raft index of the next ApplySync
}

func (p *parityLog) open() {
	p.t.Helper()
	opts := log.Options{Checker: newPublishRules(p.cfg.Name, nil), Replica: p.replica, Clock: p.clock, Sync: log.SyncInterval}
	l, err := log.Open(p.dir, logConfig(&p.cfg), opts)
	if err != nil {
		p.t.Fatal(err)
	}
	p.l = l
}

func (p *parityLog) restart() {
	p.t.Helper()
	if err := p.l.Close(); err != nil {
		p.t.Fatal(err)
	}
	p.open()
}

// publish stores one message at ts and returns what was decided.
func (p *parityLog) publish(id uint64, subj, hdr string, ts int64) string {
	data := []byte(fmt.Sprint("m", id))
	var seq uint64
	var err error
	if p.replica {
		crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
		c := &log.Commit{ID: id, Time: ts, Subject: subj, Hdr: []byte(hdr), Size: int64(len(data)), Chunks: 1, Digest: log.ChunkDigest(0, crc)}
		seq, _, err = p.l.ApplyInline(c, data, crc)
	} else {
		p.clock.now.Store(ts)
		seq, _, err = p.l.AppendMsg(subj, []byte(hdr), data)
	}
	var ce *log.CheckError
	switch {
	case err == nil:
		return fmt.Sprint("seq ", seq)
	case errors.As(err, &ce):
		return fmt.Sprintf("refused %d %d %q", ce.Code, ce.Seq, ce.Text)
	}
	p.t.Fatalf("publish %d: %v", id, err)
	return ""
}

// remove deletes seq or purges a subject, as an API call would.
func (p *parityLog) remove(seq uint64, subj string) {
	var err error
	switch {
	case p.replica && subj != "":
		_, err = p.l.ApplyPurge(log.PurgeRequest{Subject: subj})
	case p.replica:
		err = p.l.ApplyDelete(seq)
	case subj != "":
		_, err = p.l.Purge(log.PurgeRequest{Subject: subj})
	default:
		err = p.l.Delete(seq)
	}
	if err != nil && !errors.Is(err, log.ErrDeleted) && !errors.Is(err, log.ErrNotFound) {
		p.t.Fatal(err)
	}
}

// sync ends a batch (replica: an ApplySync, which makes it visible).
func (p *parityLog) sync() {
	if p.replica {
		p.index++
		if err := p.l.ApplySync(p.index); err != nil {
			p.t.Fatal(err)
		}
	}
}

// stepClock is a log clock whose time the test sets.
type stepClock struct{ now atomic.Int64 }

func (c *stepClock) Now() time.Time                                { return time.Unix(0, c.now.Load()) }
func (c *stepClock) AfterFunc(d time.Duration, f func()) log.Timer { return time.AfterFunc(d, f) }

// TestRulesRestartParity: two copies of a stream get the same scripted
// publishes (random ids from a small pool, right and wrong expected
// sequences, subject sequences with literal and wildcard filters, last
// msg ids, rollups), deletes and purges, on a timeline that passes the
// duplicate window now and then; one of them is closed and reopened every
// few dozen messages, rebuilding its rules from its log. Every decision
// must be the same. Replica copies apply in batches that end at different
// points in each (messages of a batch are pending when the next one is
// decided, and the limits drop messages as batches apply); local ones
// commit one at a time.
func TestRulesRestartParity(t *testing.T) {
	configs := map[string]struct {
		cfg      jsapi.StreamConfig
		subjects int
	}{
		"limits": {jsapi.StreamConfig{Name: "S", Duplicates: 40 * time.Millisecond, MaxMsgs: 6, MaxMsgsPer: 2, AllowRollup: true}, 4},
		"bytes":  {jsapi.StreamConfig{Name: "S", Duplicates: 60 * time.Millisecond, MaxBytes: 600, MaxMsgsPer: 1, AllowRollup: true}, 3},
		"discard new per subject": {jsapi.StreamConfig{Name: "S", Duplicates: 40 * time.Millisecond, MaxMsgsPer: 2, DiscardNewPer: true,
			Discard: jsapi.DiscardNew, MaxMsgs: -1, MaxBytes: -1, MaxMsgSize: -1}, 40},
	}
	for name, c := range configs {
		cfg := c.cfg
		for _, replica := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s replica=%v", name, replica), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(len(name))))
				var logs [2]*parityLog
				for i := range logs {
					logs[i] = &parityLog{t: t, dir: t.TempDir(), cfg: cfg, replica: replica, clock: &stepClock{}}
					logs[i].open()
					defer func() { logs[i].l.Close() }()
				}
				ts := int64(1_000_000_000)
				stored, refused := 0, 0
				for id := uint64(1); id <= 600; id++ {
					ts += int64(rng.IntN(8)) * int64(time.Millisecond)
					subj := fmt.Sprint("s.", rng.IntN(c.subjects))
					hdr := parityHeader(rng, logs[0].l.LastAssigned())
					var got [2]string
					for i, p := range logs {
						got[i] = p.publish(id, subj, hdr, ts)
					}
					if got[0] != got[1] {
						t.Fatalf("message %d on %s with %q: %s, other copy: %s", id, subj, hdr, got[0], got[1])
					}
					if strings.HasPrefix(got[0], "seq") {
						stored++
					} else {
						refused++
					}
					// Each replica ends its batches where it does (raft hands
					// each its own), so they decide with different messages
					// pending.
					for _, p := range logs {
						if rng.IntN(4) == 0 {
							p.sync()
						}
					}
					if rng.IntN(30) == 0 {
						seq, subj := uint64(1+rng.IntN(int(logs[0].l.LastAssigned()+1))), ""
						if rng.IntN(3) == 0 {
							subj = fmt.Sprint("s.", rng.IntN(c.subjects))
						}
						for _, p := range logs {
							p.remove(seq, subj)
							p.sync() // a replica keeps only what its last marker covers
						}
					}
					if rng.IntN(20) == 0 {
						logs[1].sync()
						logs[1].restart()
					}
				}
				t.Logf("%d stored, %d refused", stored, refused)
				if stored < 50 || refused < 50 {
					t.Fatalf("%d stored, %d refused: the script does not exercise the rules", stored, refused)
				}
			})
		}
	}
}

// parityHeader is a random header block of JetStream rules, last the last
// sequence (so that expected values are right often enough).
func parityHeader(rng *rand.Rand, last uint64) string {
	var b strings.Builder
	add := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	if rng.IntN(2) == 0 {
		add(jsapi.HdrMsgID, fmt.Sprint("id", rng.IntN(10)))
	}
	switch rng.IntN(8) {
	case 0:
		add(jsapi.HdrExpectedLastSeq, fmt.Sprint(last-uint64(rng.IntN(2))))
	case 1:
		add(jsapi.HdrExpectedLastSubjSeq, fmt.Sprint(last-uint64(rng.IntN(4))))
		if rng.IntN(2) == 0 {
			add(jsapi.HdrExpectedLastSubjSeqSubj, []string{"s.*", "s.1", ">"}[rng.IntN(3)])
		}
	case 2:
		add(jsapi.HdrExpectedLastMsgID, fmt.Sprint("id", rng.IntN(10)))
	case 3:
		add(jsapi.HdrRollup, []string{jsapi.RollupSubject, jsapi.RollupAll}[rng.IntN(2)])
	}
	if b.Len() == 0 {
		return ""
	}
	return "NATS/1.0\r\n" + b.String() + "\r\n"
}

// TestRulesSourcedAgain: a copy carrying a Nats-Stream-Source whose origin
// sequence is not above the newest stored for that source (origin,
// filters, destinations, origin identity) is refused (what keeps a
// replicated source free of duplicates across leader changes), before and
// after the log is reopened, other sources unaffected.
func TestRulesSourcedAgain(t *testing.T) {
	cfg := jsapi.StreamConfig{Name: "S", MaxMsgsPer: -1}
	dir := t.TempDir()
	open := func() *log.Log {
		l, err := log.Open(dir, logConfig(&cfg), log.Options{Checker: newPublishRules("S", nil), Sync: log.SyncInterval})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	pub := func(src string) error {
		_, _, err := l.AppendMsg("s.x", []byte("NATS/1.0\r\nNats-Stream-Source: "+src+"\r\n\r\n"), []byte("x"))
		return err
	}
	again := func(src string) {
		t.Helper()
		var ce *log.CheckError
		if err := pub(src); !errors.As(err, &ce) || ce.Code != checkSourcedAgain {
			t.Fatalf("%q: %v, want sourced again", src, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(pub("X 5 > > a.b ID1"))
	must(pub("Y 9 a.* > a.b ID1"))
	must(pub("Y 2 > > a.b ID1")) // another source: another filter
	must(pub("X 1 > > a.b ID2")) // the origin was recreated
	again("X 5 > > a.c ID1")
	again("X 4 > > a.c ID1")
	again("X 1 > > a.c ID2")
	must(l.Close())
	l = open()
	defer l.Close()
	again("Y 9 a.* > a.b ID1")
	again("X 5 > > a.b ID1")
	must(pub("X 6 > > a.b ID1"))
	must(pub("X 2 > > a.b ID2"))
}

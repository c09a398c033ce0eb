package jetstream

import (
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
			probe := &allocProbe{publishRules: newPublishRules("S")}
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

package jetstream

import (
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// TestRulesCounterSources: the rules add up sourced counters the same way
// on a local log and on a replica (the stored headers and bodies are the
// same), across a reopen, with nats-server's refusals: a copy whose body
// could not be read as a counter (10172), a stored Nats-Counter-Sources
// that does not parse (10172).
func TestRulesCounterSources(t *testing.T) {
	cfg := jsapi.StreamConfig{Name: "S", AllowMsgCounter: true, MaxMsgsPer: -1}
	copyHdr := func(origin, seq, total string) string {
		return "NATS/1.0\r\nNats-Incr: " + total + "\r\nNats-Stream-Source: " + origin + " " + seq + " > > " + origin + ".cnt ID\r\n\r\n"
	}
	type step struct {
		subj, hdr, payload string
		want               string // the outcome
		body, incr, srcs   string // what is stored
	}
	before := []step{
		{"agg", copyHdr("A", "1", "7"), "", "seq 1", `{"val":"7"}`, "7", `{"A":{"A.cnt":"7"}}`},
		{"agg", copyHdr("B", "1", "10"), "", "seq 2", `{"val":"17"}`, "10", `{"A":{"A.cnt":"7"},"B":{"B.cnt":"10"}}`},
		{"agg", "NATS/1.0\r\nNats-Incr: 100\r\n\r\n", "", "seq 3", `{"val":"117"}`, "100", `{"A":{"A.cnt":"7"},"B":{"B.cnt":"10"}}`},
		{"agg", copyHdr("A", "2", "5"), "", "seq 4", `{"val":"115"}`, "-2", `{"A":{"A.cnt":"5"},"B":{"B.cnt":"10"}}`},
		{"agg", copyHdr("A", "3", "9"), "x", `refused 10172 0 ""`, "", "", ""},
		{"bad", "NATS/1.0\r\nNats-Incr: 1\r\nNats-Counter-Sources: {\r\n\r\n", "", "seq 5", `{"val":"1"}`, "1", "{"},
		{"bad", "NATS/1.0\r\nNats-Incr: 1\r\n\r\n", "", `refused 10172 0 ""`, "", "", ""},
	}
	after := []step{
		{"agg", copyHdr("B", "2", "15"), "", "seq 6", `{"val":"120"}`, "5", `{"A":{"A.cnt":"5"},"B":{"B.cnt":"15"}}`},
	}
	stored := map[bool][]string{}
	for _, replica := range []bool{false, true} {
		dir := t.TempDir()
		clock := &stepClock{}
		var l *log.Log
		open := func() {
			var err error
			l, err = log.Open(dir, logConfig(&cfg), log.Options{Checker: newPublishRules("S", nil), Replica: replica, Clock: clock, Sync: log.SyncInterval})
			if err != nil {
				t.Fatal(err)
			}
		}
		open()
		var id, index uint64
		run := func(steps []step) {
			for _, s := range steps {
				id++
				data := []byte(s.payload)
				var seq uint64
				var err error
				if replica {
					crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
					c := &log.Commit{ID: id, Time: int64(id), Subject: s.subj, Hdr: []byte(s.hdr), Size: int64(len(data)), Chunks: 1, Digest: log.ChunkDigest(0, crc)}
					seq, _, err = l.ApplyInline(c, data, crc)
					index++
					if err := l.ApplySync(index); err != nil {
						t.Fatal(err)
					}
				} else {
					clock.now.Store(int64(id))
					seq, _, err = l.AppendMsg(s.subj, []byte(s.hdr), data)
				}
				got := fmt.Sprint("seq ", seq)
				var ce *log.CheckError
				if errors.As(err, &ce) {
					got = fmt.Sprintf("refused %d %d %q", ce.Code, ce.Seq, ce.Text)
				} else if err != nil {
					t.Fatalf("replica %v, step %d: %v", replica, id, err)
				}
				if got != s.want {
					t.Fatalf("replica %v, step %d: %s, want %s", replica, id, got, s.want)
				}
				if err != nil {
					continue
				}
				var sm log.StoredMsg
				if err := l.LoadMsg(seq, &sm); err != nil {
					t.Fatal(err)
				}
				body, err := sm.ReadPayload(nil)
				if err != nil {
					t.Fatal(err)
				}
				incr, _ := headerValue(sm.Hdr, jsapi.HdrIncr)
				srcs, _ := headerValue(sm.Hdr, hdrCounterSources)
				if string(body) != s.body || incr != s.incr || srcs != s.srcs {
					t.Fatalf("replica %v, step %d: stored %s, Nats-Incr %q, sources %s; want %s %q %s", replica, id, body, incr, srcs, s.body, s.incr, s.srcs)
				}
				stored[replica] = append(stored[replica], string(sm.Hdr)+string(body))
			}
		}
		run(before)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		open()
		run(after)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(stored[false]) != fmt.Sprint(stored[true]) {
		t.Fatalf("local and replica differ:\n%q\n%q", stored[false], stored[true])
	}
}

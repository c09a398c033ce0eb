package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/cmd/barge/app"
)

// skewClock is the real clock moved forward by a settable offset, shared
// by every server of a test: the duplicate window expires without a wait.
type skewClock struct{ off atomic.Int64 }

func (c *skewClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *skewClock) AfterFunc(d time.Duration, f func()) broker.Timer { return time.AfterFunc(d, f) }

// ruleStep is one publish of TestJSPublishRulesParity. In subj, hdr
// values and want, {p} is the target's subject prefix and {A} / {N} its
// streams' names. want is a part of the answer, the same for every target.
type ruleStep struct {
	subj string
	hdr  map[string]string
	data string
	want string
}

func ok(seq int) string  { return fmt.Sprintf(`"seq":%d}`, seq) }
func dup(seq int) string { return fmt.Sprintf(`"seq":%d,"duplicate":true`, seq) }

// TestJSPublishRulesParity: every publish rule gives the same PubAck or
// error, byte for byte (stream names aside), on an R1 stream of a
// standalone server (the local path), an R1 stream of a cluster (a
// one-member raft shard) and an R3 stream: dedup within the duplicate
// window, its expiry and after a restart, the expected stream, last
// sequence, last subject sequence (with and without the -Subject header,
// literal or wildcard), last msg id, rollups with and without permission,
// discard new per subject, max_msg_size, the header size, a sealed stream.
// A restart is a replica restart: the standalone server, and one member of
// the cluster, through which the later steps are published, so its
// decisions (rebuilt from its log) meet the others' (which never stopped).
// Every R3 replica ends with the same messages as the R1 stream.
func TestJSPublishRulesParity(t *testing.T) {
	clock := &skewClock{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r1dir := t.TempDir()
	r1cfg := func(c *app.Config) { c.StoreDir, c.LogFile, c.Clock = r1dir, r1dir+"/barge.log", clock }
	r1 := startServer(t, r1cfg)

	tune, _, _ := raftMembers(t, 3, func(_ int, c *app.Config) { c.Clock = clock })
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}

	type target struct {
		name   string // subject prefix and stream name suffix
		nc     *nats.Conn
		js     jetstream.JetStream
		a, n   string // stream names
		rep    int
		server func() *app.App
	}
	targets := []*target{
		{name: "r1", rep: 1, server: func() *app.App { return r1 }},
		{name: "rc", rep: 1, server: func() *app.App { return apps[1] }},
		{name: "r3", rep: 3, server: func() *app.App { return apps[1] }},
	}
	connectTo := func(tg *target) {
		tg.nc = connect(t, tg.server())
		var err error
		if tg.js, err = jetstream.New(tg.nc); err != nil {
			t.Fatal(err)
		}
	}
	nConfig := func(tg *target) jetstream.StreamConfig {
		return jetstream.StreamConfig{Name: tg.n, Subjects: []string{tg.name + ".n.>"}, Replicas: tg.rep, AllowDirect: true,
			Discard: jetstream.DiscardNew, MaxMsgsPerSubject: 2, DiscardNewPerSubject: true, MaxMsgSize: 128}
	}
	for _, tg := range targets {
		tg.a, tg.n = "A"+tg.name, "N"+tg.name
		connectTo(tg)
		if _, err := createStream(ctx, t, tg.js, jetstream.StreamConfig{Name: tg.a, Subjects: []string{tg.name + ".a.>"},
			Replicas: tg.rep, AllowRollup: true, Duplicates: time.Minute, AllowDirect: true}); err != nil {
			t.Fatalf("create %s: %v", tg.a, err)
		}
		if _, err := createStream(ctx, t, tg.js, nConfig(tg)); err != nil {
			t.Fatalf("create %s: %v", tg.n, err)
		}
	}

	expand := func(tg *target, s string) string {
		return strings.NewReplacer("{p}", tg.name, "{A}", tg.a, "{N}", tg.n).Replace(s)
	}
	normal := func(tg *target, s string) string {
		return strings.NewReplacer(`"`+tg.a+`"`, `"A"`, `"`+tg.n+`"`, `"N"`).Replace(s)
	}
	step := 0
	run := func(steps ...ruleStep) {
		t.Helper()
		for _, s := range steps {
			step++
			var answers []string
			for _, tg := range targets {
				m := nats.NewMsg(expand(tg, s.subj))
				m.Data = []byte(s.data)
				if m.Data == nil {
					m.Data = []byte(fmt.Sprint("v", step))
				}
				for h, v := range s.hdr {
					m.Header.Set(h, expand(tg, v))
				}
				resp, err := tg.nc.RequestMsg(m, 10*time.Second)
				if err != nil {
					t.Fatalf("step %d %s: %v", step, tg.name, err)
				}
				answers = append(answers, normal(tg, string(resp.Data)))
			}
			for i, a := range answers {
				if a != answers[0] {
					t.Errorf("step %d %s %v:\n %s %s\n %s %s", step, s.subj, s.hdr, targets[0].name, answers[0], targets[i].name, a)
				}
			}
			if !strings.Contains(answers[0], s.want) {
				t.Errorf("step %d %s %v: %s, want %s", step, s.subj, s.hdr, answers[0], s.want)
			}
		}
	}
	id := func(v string) map[string]string { return map[string]string{"Nats-Msg-Id": v} }
	const (
		msgID    = "Nats-Msg-Id"
		expLast  = "Nats-Expected-Last-Sequence"
		expSubj  = "Nats-Expected-Last-Subject-Sequence"
		expSubjS = "Nats-Expected-Last-Subject-Sequence-Subject"
		expID    = "Nats-Expected-Last-Msg-Id"
		expStrm  = "Nats-Expected-Stream"
		rollup   = "Nats-Rollup"
	)
	run(
		ruleStep{subj: "{p}.a.x", hdr: id("m1"), want: ok(1)},
		ruleStep{subj: "{p}.a.x", hdr: id("m1"), want: dup(1)},
		ruleStep{subj: "{p}.a.y", hdr: map[string]string{expSubj: "0"}, want: ok(2)},
		ruleStep{subj: "{p}.a.y", hdr: map[string]string{expSubj: "0"}, want: "wrong last sequence: 2"},
		ruleStep{subj: "{p}.a.x", hdr: map[string]string{expID: "zz"}, want: `"err_code":10070`},
		ruleStep{subj: "{p}.a.x", hdr: map[string]string{msgID: "m2", expLast: "2"}, want: ok(3)},
		ruleStep{subj: "{p}.a.x", hdr: map[string]string{expID: "zz"}, want: "wrong last msg ID: m2"},
		ruleStep{subj: "{p}.a.x", hdr: map[string]string{expID: "m2"}, want: ok(4)},
		ruleStep{subj: "{p}.a.x", hdr: map[string]string{expLast: "9"}, want: "wrong last sequence: 4"},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expSubj: "2", expSubjS: "{p}.a.y"}, want: ok(5)},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expSubj: "3", expSubjS: "{p}.a.*"}, want: "wrong last sequence: 5"},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expSubj: "5", expSubjS: "{p}.a.*"}, want: ok(6)},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expSubj: "x"}, want: `"err_code":10003`},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expSubjS: "{p}.a.z"}, want: `"err_code":10193`},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expStrm: "other"}, want: `"err_code":10060`},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expStrm: "{A}"}, want: ok(7)},
		ruleStep{subj: "{p}.a.x", hdr: map[string]string{rollup: "bogus"}, want: `rollup value invalid: \"bogus\"`},
		ruleStep{subj: "{p}.a.x", hdr: map[string]string{rollup: "sub"}, want: ok(8)}, // purges a.x 1, 3, 4
		ruleStep{subj: "{p}.a.x", hdr: id("m1"), want: ok(9)},                         // its original is gone
		ruleStep{subj: "{p}.a.w", hdr: id("w"), want: ok(10)},
		ruleStep{subj: "{p}.a.w", hdr: id("w"), want: dup(10)},
		ruleStep{subj: "{p}.n.a", want: ok(1)},
		ruleStep{subj: "{p}.n.a", want: ok(2)},
		ruleStep{subj: "{p}.n.a", want: "maximum messages per subject exceeded"},
		ruleStep{subj: "{p}.n.b", want: ok(3)},
		ruleStep{subj: "{p}.n.c", data: strings.Repeat("x", 200), want: `"err_code":10054`},
		ruleStep{subj: "{p}.n.c", hdr: map[string]string{rollup: "sub"}, want: "rollup not permitted"},
		ruleStep{subj: "{p}.n.c", hdr: map[string]string{rollup: "all"}, want: "rollup not permitted"},
		ruleStep{subj: "{p}.n.c", hdr: map[string]string{"Big": strings.Repeat("h", 70<<10)}, want: `"err_code":10097`},
	)

	// The duplicate window passes.
	clock.off.Add(int64(2 * time.Minute))
	run(
		ruleStep{subj: "{p}.a.w", hdr: id("w"), want: ok(11)},
		ruleStep{subj: "{p}.a.w", hdr: id("w"), want: dup(11)},
	)

	// Restart the standalone server and cluster member 2, through which
	// the cluster targets publish.
	stopApp(t, r1)
	r1 = startServer(t, r1cfg)
	stopApp(t, apps[1])
	apps[1] = startClusterNode(t, 1, apps[:1], tune)
	for _, tg := range targets {
		connectTo(tg)
	}
	eventually(t, 30*time.Second, "the restarted member serves its replica", func() bool {
		got, err := directGet(targets[2].nc, targets[2].a, 11)
		return err == nil && strings.Contains(got, "w")
	})
	eventually(t, 30*time.Second, "the one-member stream is back", func() bool {
		_, err := targets[1].js.Stream(ctx, targets[1].a)
		return err == nil
	})
	run(
		ruleStep{subj: "{p}.a.w", hdr: id("w"), want: dup(11)},
		ruleStep{subj: "{p}.a.v", hdr: map[string]string{expID: "w", msgID: "v"}, want: ok(12)},
		ruleStep{subj: "{p}.a.y", hdr: map[string]string{expSubj: "2"}, want: ok(13)},
		ruleStep{subj: "{p}.a.z", hdr: map[string]string{expSubj: "7"}, want: ok(14)},
		ruleStep{subj: "{p}.a.v", hdr: id("v"), want: dup(12)},
		ruleStep{subj: "{p}.n.a", want: "maximum messages per subject exceeded"},
		ruleStep{subj: "{p}.n.d", want: ok(4)},
		ruleStep{subj: "{p}.a.q", hdr: map[string]string{rollup: "all", msgID: "q"}, want: ok(15)},
		ruleStep{subj: "{p}.a.v", hdr: id("v"), want: ok(16)}, // purged by the rollup
	)

	// Sealed: the config change goes through each stream's log.
	for _, tg := range targets {
		cfg := nConfig(tg)
		cfg.Sealed = true
		if _, err := tg.js.UpdateStream(ctx, cfg); err != nil {
			t.Fatalf("seal %s: %v", tg.n, err)
		}
	}
	run(ruleStep{subj: "{p}.n.e", want: `"err_code":10109`})

	// Every R3 replica holds what the R1 stream holds.
	want := make(map[string]string)
	for _, st := range []string{"a", "n"} {
		want[st] = replicaContents(t, targets[0].nc, map[string]string{"a": targets[0].a, "n": targets[0].n}[st], 16)
	}
	for i, a := range apps {
		nc := connect(t, a)
		for st, name := range map[string]string{"a": targets[2].a, "n": targets[2].n} {
			var got string
			eventually(t, 15*time.Second, fmt.Sprintf("replica %d of %s", i+1, name), func() bool {
				got = strings.ReplaceAll(replicaContents(t, nc, name, 16), "r3.", "r1.")
				return got == want[st]
			})
		}
	}
}

// replicaContents lists sequences 1..last of stream as the connected
// server's own log holds them (DIRECT.GET is answered locally): subject,
// Nats-Msg-Id and data, or "-" for none.
func replicaContents(t *testing.T, nc *nats.Conn, stream string, last int) string {
	t.Helper()
	var b strings.Builder
	for seq := 1; seq <= last; seq++ {
		got, err := directGet(nc, stream, seq)
		if err != nil {
			t.Fatalf("direct get %s %d: %v", stream, seq, err)
		}
		fmt.Fprintf(&b, "%d %s\n", seq, got)
	}
	return b.String()
}

// directGet is message seq of stream as "subject id data", or "-".
func directGet(nc *nats.Conn, stream string, seq int) (string, error) {
	m, err := nc.Request("$JS.API.DIRECT.GET."+stream, []byte(fmt.Sprintf(`{"seq":%d}`, seq)), 5*time.Second)
	if err != nil {
		return "", err
	}
	if st := m.Header.Get("Status"); st != "" {
		if st == "404" {
			return "-", nil
		}
		return "", fmt.Errorf("status %s %s", st, m.Header.Get("Description"))
	}
	return fmt.Sprintf("%s %s %s", m.Header.Get("Nats-Subject"), m.Header.Get("Nats-Msg-Id"), m.Data), nil
}

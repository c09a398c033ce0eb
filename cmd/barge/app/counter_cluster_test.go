package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJSCountersReplicated: counters (ADR-49) on an R3 stream, incremented
// through every member at once: each increment is applied in raft order
// to the total, every replica stores the same bodies, the PubAck carries
// the total, and a restarted member agrees.
func TestJSCountersReplicated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tune, _, _ := raftMembers(t, 3, nil)
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	nc := connect(t, apps[0])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "CNT", Subjects: []string{"cnt.>"}, Replicas: 3,
		AllowDirect: true, AllowMsgCounter: true}); err != nil {
		t.Fatal(err)
	}
	const each = 30
	errs := make(chan error, len(apps))
	for _, a := range apps {
		pjs, err := jetstream.New(connect(t, a))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range each {
				m := nats.NewMsg("cnt.x")
				m.Header.Set("Nats-Incr", "2")
				if _, err := pjs.PublishMsgAsync(m); err != nil {
					errs <- err
					return
				}
			}
			select {
			case <-pjs.PublishAsyncComplete():
				errs <- nil
			case <-ctx.Done():
				errs <- ctx.Err()
			}
		}()
	}
	for range apps {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	incrBy := func(nc *nats.Conn, by string) (uint64, string) {
		t.Helper()
		m := nats.NewMsg("cnt.x")
		m.Header.Set("Nats-Incr", by)
		resp, err := nc.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ack struct {
			Seq uint64 `json:"seq"`
			Val string `json:"val"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Val == "" {
			t.Fatalf("ack %s: %v", resp.Data, err)
		}
		return ack.Seq, ack.Val
	}
	total := 2 * each * len(apps)
	seq, val := incrBy(nc, "1")
	if val != fmt.Sprint(total+1) || seq != uint64(total/2+1) {
		t.Fatalf("total %s at %d, want %d at %d", val, seq, total+1, total/2+1)
	}
	// Every replica holds the same sequence of totals: 2, 4, ... and the last.
	want := ""
	for i := 1; i <= total/2; i++ {
		want += fmt.Sprintf("%d cnt.x  {\"val\":\"%d\"}\n", i, 2*i)
	}
	want += fmt.Sprintf("%d cnt.x  {\"val\":\"%d\"}\n", seq, total+1)
	sameEverywhere(t, apps, "CNT", int(seq), want)

	stopApp(t, apps[2])
	apps[2] = startClusterNode(t, 2, apps[:2], tune)
	nc2 := connect(t, apps[2])
	eventually(t, 30*time.Second, "the restarted member serves its replica", func() bool {
		_, err := directGet(nc2, "CNT", 1)
		return err == nil
	})
	if _, got := incrBy(nc2, "-1"); got != fmt.Sprint(total) {
		t.Fatalf("after restart: %s, want %d", got, total)
	}
}

// TestJSCounterSourcesReplicated: an R3 counter stream sourcing two R3
// counter streams (ADR-49) adds them up, and every replica stores the
// same copies: totals, Nats-Incr and Nats-Counter-Sources.
func TestJSCounterSourcesReplicated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tune, _, _ := raftMembers(t, 3, nil)
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	nc := connect(t, apps[0])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A", "B"} {
		if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".cnt"}, Replicas: 3,
			AllowMsgCounter: true}); err != nil {
			t.Fatal(err)
		}
	}
	incrBy := func(subj, by string) {
		t.Helper()
		m := nats.NewMsg(subj)
		m.Header.Set("Nats-Incr", by)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("incr %s: %v", subj, err)
		}
	}
	incrBy("A.cnt", "3")
	incrBy("A.cnt", "4")
	incrBy("B.cnt", "10")
	src := func(name string) *jetstream.StreamSource {
		return &jetstream.StreamSource{Name: name, SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: name + ".cnt", Destination: "agg.cnt"}}}
	}
	if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "AGG", Subjects: []string{"agg.>"}, Replicas: 3,
		AllowDirect: true, AllowMsgCounter: true, Sources: []*jetstream.StreamSource{src("A"), src("B")}}); err != nil {
		t.Fatal(err)
	}
	// contents is AGG's messages 1..n as one member serves them, or ""
	// while it cannot.
	contents := func(nc *nats.Conn, n int) string {
		var b strings.Builder
		for seq := 1; seq <= n; seq++ {
			m, err := nc.Request("$JS.API.DIRECT.GET.AGG", []byte(fmt.Sprintf(`{"seq":%d}`, seq)), 5*time.Second)
			if err != nil || m.Header.Get("Status") != "" {
				return ""
			}
			fmt.Fprintf(&b, "%d %s %s %s\n", seq, m.Data, m.Header.Get("Nats-Incr"), m.Header.Get("Nats-Counter-Sources"))
		}
		return b.String()
	}
	// same waits for every member to serve AGG's n messages alike, the
	// last with body last and sources.
	same := func(n int, last, sources string) {
		t.Helper()
		var first string
		for i, a := range apps {
			anc := connect(t, a)
			var got string
			eventually(t, 30*time.Second, fmt.Sprintf("member %d's AGG", i+1), func() bool {
				got = contents(anc, n)
				return strings.Contains(got, fmt.Sprintf("%d {\"val\":\"%s\"} ", n, last))
			})
			if !strings.HasSuffix(got, " "+sources+"\n") {
				t.Fatalf("member %d: AGG\n%s\nwant sources %s last", i+1, got, sources)
			}
			if i == 0 {
				first = got
			} else if got != first {
				t.Fatalf("member %d: AGG\n%s\nmember 1:\n%s", i+1, got, first)
			}
			anc.Close()
		}
	}
	same(3, "17", `{"A":{"A.cnt":"7"},"B":{"B.cnt":"10"}}`)
	incrBy("A.cnt", "-2")
	same(4, "15", `{"A":{"A.cnt":"5"},"B":{"B.cnt":"10"}}`)
}

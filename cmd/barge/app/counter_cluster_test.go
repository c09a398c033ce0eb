package app_test

import (
	"context"
	"encoding/json"
	"fmt"
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

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bargemq/barge/cmd/barge/app"
)

// TestJSSchedulesReplicated: message schedules (ADR-51) on an R3 stream
// fire once, from the leader, and every replica stores the same produced
// messages and the same purge of a one-shot schedule.
func TestJSSchedulesReplicated(t *testing.T) {
	clock := &jumpClock{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tune, _, _ := raftMembers(t, 3, func(_ int, c *app.Config) { c.Clock = clock })
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	nc := connect(t, apps[1])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "SCH3", Subjects: []string{"sched.>", "out.>"}, Replicas: 3,
		AllowDirect: true, AllowMsgSchedules: true}); err != nil {
		t.Fatal(err)
	}
	pub := func(subj, data string, kv ...string) {
		t.Helper()
		m := nats.NewMsg(subj)
		m.Data = []byte(data)
		for i := 0; i+1 < len(kv); i += 2 {
			m.Header.Set(kv[i], kv[i+1])
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	pub("sched.rep", "tick", "Nats-Schedule", "@every 30s", "Nats-Schedule-Target", "out.rep")
	pub("sched.once", "hello", "Nats-Schedule", "@at "+clock.Now().Add(45*time.Second).UTC().Format(time.RFC3339),
		"Nats-Schedule-Target", "out.once")

	clock.Jump(31 * time.Second)
	sameEverywhere(t, apps, "SCH3", 3, "1 sched.rep  tick\n2 sched.once  hello\n3 out.rep  tick\n")
	clock.Jump(15 * time.Second)
	sameEverywhere(t, apps, "SCH3", 4, "1 sched.rep  tick\n2 -\n3 out.rep  tick\n4 out.once  hello\n")
}

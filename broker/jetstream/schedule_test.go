package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pubCode publishes m and returns the PubAck's err_code (0: stored).
func pubCode(t *testing.T, nc *nats.Conn, m *nats.Msg) int {
	t.Helper()
	resp, err := nc.RequestMsg(m, 5*time.Second)
	must(t, err)
	var ack struct {
		Error *struct {
			Code int `json:"err_code"`
		} `json:"error"`
	}
	must(t, json.Unmarshal(resp.Data, &ack))
	if ack.Error != nil {
		return ack.Error.Code
	}
	return 0
}

func schedMsg(subj string, kv ...string) *nats.Msg {
	m := nats.NewMsg(subj)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Header.Set(kv[i], kv[i+1])
	}
	return m
}

// TestMessageSchedules covers ADR-51 on an R1 stream: nats-server's
// refusals, an @at schedule firing once into its target (headers,
// Nats-Scheduler, Nats-Schedule-Next: purge, Nats-Schedule-TTL) and being
// purged, an @every schedule repeating, and again after a restart.
func TestMessageSchedules(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(t0)
	a := startClocked(t, dir, clk)
	nc := connect(t, a.ClientURL())
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NOS", Subjects: []string{"nos.>"}})
	must(t, err)
	if code := pubCode(t, nc, schedMsg("nos.a", "Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "nos.b")); code != 10188 {
		t.Fatalf("schedule on a plain stream: %d", code)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "BADS", Subjects: []string{"bads"}, AllowMsgSchedules: true, Discard: jetstream.DiscardNew})
	wantJSCode(t, err, 10052)

	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"sched.>", "out.>"}, AllowMsgSchedules: true, AllowMsgTTL: true})
	must(t, err)
	if cfg := s.CachedInfo().Config; !cfg.AllowRollup || cfg.Metadata["_nats.req.level"] != "2" {
		t.Fatalf("config %+v", cfg)
	}
	at := func(d time.Duration) string { return "@at " + t0.Add(d).Format(time.RFC3339) }
	for _, tc := range []struct {
		kv   []string
		code int
	}{
		{[]string{"Nats-Schedule", "@at nope", "Nats-Schedule-Target", "out.x"}, 10189},
		{[]string{"Nats-Schedule", "0 * * * *", "Nats-Schedule-Target", "out.x"}, 10189}, // five fields
		{[]string{"Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "out.x", "Nats-Schedule-Time-Zone", "UTC"}, 10189},
		{[]string{"Nats-Schedule", "@daily", "Nats-Schedule-Target", "out.x", "Nats-Schedule-Time-Zone", "Mars/Olympus"}, 10223},
		{[]string{"Nats-Schedule", "@every 500ms", "Nats-Schedule-Target", "out.x"}, 10189},
		{[]string{"Nats-Schedule", "@every 1s"}, 10190},
		{[]string{"Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "sched.e"}, 10190},
		{[]string{"Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "elsewhere"}, 10190},
		{[]string{"Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "out.x", "Nats-Schedule-TTL", "soon"}, 10191},
		{[]string{"Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "out.x", "Nats-Schedule-Rollup", "all"}, 10192},
		{[]string{"Nats-Schedule", "@every 1s", "Nats-Schedule-Target", "out.x", "Nats-Schedule-Source", "out.x"}, 10203},
		{[]string{"Nats-Schedule-Next", "later", "Nats-Scheduler", "sched.a"}, 10212},
	} {
		if code := pubCode(t, nc, schedMsg("sched.e", tc.kv...)); code != tc.code {
			t.Fatalf("%v: err_code %d, want %d", tc.kv, code, tc.code)
		}
	}

	once := schedMsg("sched.once", "Nats-Schedule", at(10*time.Second), "Nats-Schedule-Target", "out.once",
		"Nats-Schedule-TTL", "5s", "X-Custom", "kept", "Nats-Msg-Id", "m1")
	once.Data = []byte("hello")
	if code := pubCode(t, nc, once); code != 0 {
		t.Fatalf("@at: %d", code)
	}
	if code := pubCode(t, nc, schedMsg("sched.rep", "Nats-Schedule", "@every 5s", "Nats-Schedule-Target", "out.rep")); code != 0 {
		t.Fatalf("@every: %d", code)
	}
	if code := pubCode(t, nc, schedMsg("sched.cron", "Nats-Schedule", "*/10 * * * * *", "Nats-Schedule-Target", "out.cron",
		"Nats-Schedule-Time-Zone", "UTC")); code != 0 {
		t.Fatalf("cron: %d", code)
	}
	count := func(subj string) uint64 {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
		must(t, err)
		return info.State.Subjects[subj]
	}

	clk.Advance(9 * time.Second)
	eventually(t, 5*time.Second, "@every fired once", func() bool { return count("out.rep") == 1 })
	if count("out.once") != 0 {
		t.Fatal("@at fired early")
	}
	clk.Advance(2 * time.Second) // 11s
	var m *jetstream.RawStreamMsg
	eventually(t, 5*time.Second, "@at fired", func() bool {
		m, err = s.GetLastMsgForSubject(ctx, "out.once")
		return err == nil
	})
	if string(m.Data) != "hello" || m.Header.Get("X-Custom") != "kept" || m.Header.Get("Nats-Scheduler") != "sched.once" ||
		m.Header.Get("Nats-Schedule-Next") != "purge" || m.Header.Get("Nats-TTL") != "5s" || m.Header.Get("Nats-Msg-Id") != "" ||
		m.Header.Get("Nats-Schedule") != "" {
		t.Fatalf("produced %q %v", m.Data, m.Header)
	}
	eventually(t, 5*time.Second, "the one-shot schedule purged", func() bool {
		_, err := s.GetLastMsgForSubject(ctx, "sched.once")
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
	// The repeating schedule fired at 5s and 10s, the cron one at 10s.
	eventually(t, 5*time.Second, "@every fired twice", func() bool { return count("out.rep") == 2 && count("out.cron") == 1 })
	rep, err := s.GetLastMsgForSubject(ctx, "out.rep")
	must(t, err)
	if next, err := time.Parse(time.RFC3339Nano, rep.Header.Get("Nats-Schedule-Next")); err != nil || !next.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("Nats-Schedule-Next %q", rep.Header.Get("Nats-Schedule-Next"))
	}
	clk.Advance(6 * time.Second) // 17s: the third firing (15s), the produced one-shot's TTL (16s)
	eventually(t, 5*time.Second, "@every fired thrice, the TTL expired", func() bool {
		return count("out.rep") == 3 && count("out.once") == 0
	})
	if count("sched.rep") != 1 {
		t.Fatal("the repeating schedule was removed")
	}

	// A client's Nats-Schedule-Next: purge removes the schedule it names.
	if code := pubCode(t, nc, schedMsg("sched.client", "Nats-Schedule", "@every 1h", "Nats-Schedule-Target", "out.c")); code != 0 {
		t.Fatalf("schedule: %d", code)
	}
	if code := pubCode(t, nc, schedMsg("out.c", "Nats-Schedule-Next", "purge", "Nats-Scheduler", "sched.client")); code != 0 {
		t.Fatalf("purge: %d", code)
	}
	if _, err := s.GetLastMsgForSubject(ctx, "sched.client"); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("purged schedule: %v", err)
	}

	stop(a)
	a = startClocked(t, dir, clk)
	js = newJS(t, a.ClientURL())
	s, err = js.Stream(ctx, "S")
	must(t, err)
	clk.Advance(5 * time.Second)
	// After the restart at 17s each repeating schedule fires at its next
	// time counted from the restart: the cron one at 20s, @every at 22s.
	eventually(t, 5*time.Second, "@every and cron after a restart", func() bool { return count("out.rep") == 4 && count("out.cron") == 2 })
}

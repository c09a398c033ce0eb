package consumer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServerClock is startServer with JetStream on clk: pauses, pins and
// the pull requests' expiry move only when the test advances it.
func startServerClock(t testing.TB, dir string, clk *clocktest.Manual) *app.App {
	t.Helper()
	cfg := app.Defaults()
	cfg.Port, cfg.HTTPPort = 0, 0
	cfg.StoreDir, cfg.LogFile, cfg.Clock = dir, dir+"/barge.log", clk
	a, err := app.Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { stop(a) })
	return a
}

// noWait fetches what a no_wait pull gets now, acking it.
func noWait(t *testing.T, c jetstream.Consumer, n int) []string {
	t.Helper()
	b, err := c.FetchNoWait(n)
	must(t, err)
	return drain(t, b)
}

// drain reads a batch to its end, acking every message; a 404 or 408 end
// is no error.
func drain(t *testing.T, b jetstream.MessageBatch) []string {
	t.Helper()
	var got []string
	for m := range b.Messages() {
		got = append(got, string(m.Data()))
		must(t, m.Ack())
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		t.Fatalf("fetch: %v", err)
	}
	return got
}

// pauseAdvisory reads the next pause advisory from sub.
func pauseAdvisory(t *testing.T, sub *nats.Subscription) (paused bool, until time.Time) {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	must(t, err)
	var a struct {
		Type       string    `json:"type"`
		Paused     bool      `json:"paused"`
		PauseUntil time.Time `json:"pause_until"`
	}
	if err := json.Unmarshal(m.Data, &a); err != nil || a.Type != "io.nats.jetstream.advisory.v1.consumer_pause" {
		t.Fatalf("advisory %s: %v", m.Data, err)
	}
	return a.Paused, a.PauseUntil
}

// TestJetStreamPauseConsumer: nats.go's PauseConsumer and ResumeConsumer
// against barge on a hand-moved clock: a paused consumer delivers nothing,
// reports paused and pause_remaining, announces the pause, stays paused
// across a restart; resumed it delivers; a consumer created with a
// pause_until announces the pause and delivers once the clock reaches it,
// with a resume advisory.
func TestJetStreamPauseConsumer(t *testing.T) {
	dir := t.TempDir()
	clk := clocktest.New(time.Now().Truncate(time.Millisecond))
	a := startServerClock(t, dir, clk)
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "P", Subjects: []string{"p.>"}})
	must(t, err)
	for i := range 3 {
		_, err := js.Publish(c, "p.x", fmt.Appendf(nil, "m%d", i))
		must(t, err)
	}
	cons, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	must(t, err)
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.P.*")
	must(t, err)
	must(t, nc.Flush())

	until := clk.Now().Add(time.Hour)
	pr, err := js.PauseConsumer(c, "P", "C", until)
	must(t, err)
	if !pr.Paused || !pr.PauseUntil.Equal(until) || pr.PauseRemaining != time.Hour {
		t.Fatalf("pause: %+v", pr)
	}
	if p, u := pauseAdvisory(t, adv); !p || !u.Equal(until) {
		t.Fatalf("pause advisory: paused %v until %v", p, u)
	}
	info, err := cons.Info(c)
	must(t, err)
	if !info.Paused || info.PauseRemaining != time.Hour || info.Config.PauseUntil == nil || !info.Config.PauseUntil.Equal(until) {
		t.Fatalf("info while paused: %+v", info)
	}
	if got := noWait(t, cons, 3); len(got) != 0 {
		t.Fatalf("fetched while paused: %q", got)
	}

	// The pause is in the durable's config: a restart keeps it.
	nc.Close()
	stop(a)
	a = startServerClock(t, dir, clk)
	nc = connect(t, a)
	js = newJS(t, nc)
	s, err = js.Stream(c, "P")
	must(t, err)
	cons, err = s.Consumer(c, "C")
	must(t, err)
	if ci := cons.CachedInfo(); !ci.Paused || !ci.Config.PauseUntil.Equal(until) {
		t.Fatalf("after a restart: paused %v until %v", ci.Paused, ci.Config.PauseUntil)
	}
	if got := noWait(t, cons, 3); len(got) != 0 {
		t.Fatalf("fetched while paused, after a restart: %q", got)
	}
	adv, err = nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.P.*")
	must(t, err)
	must(t, nc.Flush())

	pr, err = s.ResumeConsumer(c, "C")
	must(t, err)
	if pr.Paused || !pr.PauseUntil.IsZero() || pr.PauseRemaining != 0 {
		t.Fatalf("resume: %+v", pr)
	}
	if p, u := pauseAdvisory(t, adv); p || !u.IsZero() {
		t.Fatalf("resume advisory: paused %v until %v", p, u)
	}
	if got := noWait(t, cons, 3); join(got) != "m0 m1 m2" {
		t.Fatalf("after resume: %q", got)
	}
	if _, err := js.PauseConsumer(c, "P", "NOPE", until); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("pause of a missing consumer: %v", err)
	}

	// Created paused: a waiting fetch gets its message once the clock
	// reaches pause_until, and the resume advisory goes out.
	start := clk.Now().Add(5 * time.Second)
	late, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "L", AckPolicy: jetstream.AckExplicitPolicy, PauseUntil: &start})
	must(t, err)
	if ci := late.CachedInfo(); !ci.Paused || ci.PauseRemaining != 5*time.Second {
		t.Fatalf("created paused: %+v", ci)
	}
	if p, u := pauseAdvisory(t, adv); !p || !u.Equal(start) {
		t.Fatalf("advisory of the create: paused %v until %v", p, u)
	}
	b, err := late.Fetch(1, jetstream.FetchMaxWait(9*time.Second))
	must(t, err)
	waitFor(t, "the waiting fetch", func() bool {
		ci, err := late.Info(c)
		return err == nil && ci.NumWaiting == 1
	})
	clk.Advance(5 * time.Second) // the fetch expires at 9 s
	if got := drain(t, b); join(got) != "m0" {
		t.Fatalf("at pause_until: %q", got)
	}
	if p, u := pauseAdvisory(t, adv); p || !u.Equal(start) {
		t.Fatalf("advisory at pause_until: paused %v until %v", p, u)
	}
}

// TestJetStreamPriorityGroups: nats.go's priority-group options against
// barge on a hand-moved clock. overflow: a fetch with min_pending above
// num_pending waits and is served once the stream grows; one below is
// served at once. pinned_client: the first fetcher is pinned (Nats-Pin-Id,
// priority group state in info), another waits as standby; the pin lapses
// after priority_timeout and the standby is pinned; the old client's id is
// refused with 423 (nats.go: ErrPinIDMismatch, which clears its id);
// UnpinConsumer lets the next fetch be pinned anew.
func TestJetStreamPriorityGroups(t *testing.T) {
	clk := clocktest.New(time.Now().Truncate(time.Millisecond))
	a := startServerClock(t, t.TempDir(), clk)
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "G", Subjects: []string{"g.>"}})
	must(t, err)
	publish := func(n int) {
		for range n {
			_, err := js.Publish(c, "g.x", nil)
			must(t, err)
		}
	}
	publish(5)
	over, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "O", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{"jobs"}})
	must(t, err)
	far, err := over.Fetch(1, jetstream.FetchMaxWait(9*time.Second), jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMinPending(6))
	must(t, err)
	waitFor(t, "the min_pending 6 fetch waiting", func() bool {
		ci, err := over.Info(c)
		return err == nil && ci.NumWaiting == 1 && ci.NumAckPending == 0
	})
	near, err := over.Fetch(2, jetstream.FetchMaxWait(9*time.Second), jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMinPending(4))
	must(t, err)
	if got := seqs(t, near); got != "1 2" {
		t.Fatalf("min_pending 4 with 5 pending: %s", got)
	}
	publish(3) // num_pending 6
	if got := seqs(t, far); got != "3" {
		t.Fatalf("min_pending 6 once 6 are pending: %s", got)
	}

	_, err = s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "PIN", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"g"}, PinnedTTL: 3 * time.Second})
	must(t, err)
	first, err := s.Consumer(c, "PIN")
	must(t, err)
	second, err := s.Consumer(c, "PIN")
	must(t, err)
	fetch := func(cons jetstream.Consumer, n int) jetstream.MessageBatch {
		t.Helper()
		b, err := cons.Fetch(n, jetstream.FetchMaxWait(9*time.Second), jetstream.FetchPriorityGroup("g"))
		must(t, err)
		return b
	}
	pin := ""
	for i, m := range msgs(t, fetch(first, 2), 2) {
		if md, _ := m.Metadata(); md.Sequence.Stream != uint64(i+1) || m.Headers().Get("Nats-Pin-Id") == "" {
			t.Fatalf("first fetch, message %d: %+v %v", i, md, m.Headers())
		}
		pin = m.Headers().Get("Nats-Pin-Id")
	}
	standby := fetch(second, 1)
	waitFor(t, "the standby waiting", func() bool {
		ci, err := first.Info(c)
		return err == nil && ci.NumWaiting == 1
	})
	if m := msgs(t, fetch(first, 1), 1)[0]; m.Headers().Get("Nats-Pin-Id") != pin {
		t.Fatalf("pinned client again: %v", m.Headers())
	}
	info, err := first.Info(c)
	must(t, err)
	if len(info.PriorityGroups) != 1 || info.PriorityGroups[0].Group != "g" || info.PriorityGroups[0].PinnedClientID != pin || info.NumWaiting != 1 {
		t.Fatalf("info: %+v waiting %d", info.PriorityGroups, info.NumWaiting)
	}

	// first stops pulling: after priority_timeout the standby is pinned.
	clk.Advance(3 * time.Second)
	m := msgs(t, standby, 1)[0]
	pin2 := m.Headers().Get("Nats-Pin-Id")
	if md, _ := m.Metadata(); md.Sequence.Stream != 4 || pin2 == "" || pin2 == pin {
		t.Fatalf("standby after the timeout: %+v pin %q (old %q)", md, pin2, pin)
	}
	b := fetch(first, 1)
	for m := range b.Messages() {
		t.Fatalf("old pin got %+v", m.Headers())
	}
	if err := b.Error(); !errors.Is(err, jetstream.ErrPinIDMismatch) {
		t.Fatalf("old pin: %v", err)
	}

	// Unpin: first (its id cleared by the 423) is pinned anew.
	must(t, s.UnpinConsumer(c, "PIN", "g"))
	m = msgs(t, fetch(first, 1), 1)[0]
	if pin3 := m.Headers().Get("Nats-Pin-Id"); pin3 == "" || pin3 == pin2 || pin3 == pin {
		t.Fatalf("after unpin: pin %q (before %q)", pin3, pin2)
	}
	var apiErr *jetstream.APIError
	if err := s.UnpinConsumer(c, "PIN", "nope"); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10160 {
		t.Fatalf("unpin of a missing group: %v", err)
	}
}

// msgs reads n messages from b and acks them.
func msgs(t *testing.T, b jetstream.MessageBatch, n int) []jetstream.Msg {
	t.Helper()
	var out []jetstream.Msg
	for m := range b.Messages() {
		must(t, m.Ack())
		out = append(out, m)
		if len(out) == n {
			break
		}
	}
	if len(out) != n {
		t.Fatalf("%d of %d messages: %v", len(out), n, b.Error())
	}
	return out
}

// seqs is the stream sequences of b's messages, acked.
func seqs(t *testing.T, b jetstream.MessageBatch) string {
	t.Helper()
	var out []string
	for m := range b.Messages() {
		md, err := m.Metadata()
		must(t, err)
		must(t, m.Ack())
		out = append(out, fmt.Sprint(md.Sequence.Stream))
	}
	return join(out)
}

// waitFor waits, up to 10 s, for cond (a question to the server).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

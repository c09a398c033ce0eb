package consumer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetchAll fetches up to n messages within wait and acks them.
func fetchAll(t *testing.T, c jetstream.Consumer, n int, wait time.Duration, opts ...jetstream.FetchOpt) []string {
	t.Helper()
	b, err := c.Fetch(n, append(opts, jetstream.FetchMaxWait(wait))...)
	must(t, err)
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

// TestJetStreamPauseConsumer: nats.go's PauseConsumer and ResumeConsumer
// against barge: a paused consumer delivers nothing, reports paused and
// pause_remaining, announces the pause; resumed it delivers; a consumer
// created with pause_until starts delivering at that time.
func TestJetStreamPauseConsumer(t *testing.T) {
	a := startServer(t, "")
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
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.P.C")
	must(t, err)
	must(t, nc.Flush())

	until := time.Now().Add(time.Hour)
	pr, err := js.PauseConsumer(c, "P", "C", until)
	must(t, err)
	if !pr.Paused || !pr.PauseUntil.Equal(until) || pr.PauseRemaining <= 59*time.Minute {
		t.Fatalf("pause: %+v", pr)
	}
	m, err := adv.NextMsg(5 * time.Second)
	must(t, err)
	var pa struct {
		Type       string    `json:"type"`
		Paused     bool      `json:"paused"`
		PauseUntil time.Time `json:"pause_until"`
	}
	if err := json.Unmarshal(m.Data, &pa); err != nil || pa.Type != "io.nats.jetstream.advisory.v1.consumer_pause" || !pa.Paused || !pa.PauseUntil.Equal(until) {
		t.Fatalf("advisory %s: %v", m.Data, err)
	}
	info, err := cons.Info(c)
	must(t, err)
	if !info.Paused || info.PauseRemaining <= 59*time.Minute || info.Config.PauseUntil == nil {
		t.Fatalf("info while paused: %+v", info)
	}
	if got := fetchAll(t, cons, 3, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("fetched while paused: %q", got)
	}
	pr, err = s.ResumeConsumer(c, "C")
	must(t, err)
	if pr.Paused || !pr.PauseUntil.IsZero() {
		t.Fatalf("resume: %+v", pr)
	}
	if got := fetchAll(t, cons, 3, 5*time.Second); join(got) != "m0 m1 m2" {
		t.Fatalf("after resume: %q", got)
	}
	if _, err := js.PauseConsumer(c, "P", "NOPE", until); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("pause of a missing consumer: %v", err)
	}

	// Created paused: the first message comes at pause_until.
	start := time.Now().Add(500 * time.Millisecond)
	late, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "L", AckPolicy: jetstream.AckExplicitPolicy, PauseUntil: &start})
	must(t, err)
	if ci := late.CachedInfo(); !ci.Paused {
		t.Fatalf("created paused: %+v", ci)
	}
	b, err := late.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	must(t, err)
	for range b.Messages() {
		if now := time.Now(); now.Before(start) {
			t.Fatalf("delivered %v before pause_until", start.Sub(now))
		}
	}
}

// TestJetStreamPriorityGroups: nats.go's priority-group options against
// barge. overflow: a fetch with min_pending above num_pending gets nothing,
// one below gets messages. pinned_client: of two consumers of one durable,
// the first to get a message is pinned and gets them all (Nats-Pin-Id);
// once it stops, its pin lapses after priority_timeout and the standby is
// pinned; UnpinConsumer moves the pin.
func TestJetStreamPriorityGroups(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "G", Subjects: []string{"g.>"}})
	must(t, err)
	for i := range 5 {
		_, err := js.Publish(c, "g.x", fmt.Appendf(nil, "m%d", i))
		must(t, err)
	}
	over, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "O", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{"jobs"}})
	must(t, err)
	if got := fetchAll(t, over, 1, 300*time.Millisecond, jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMinPending(6)); len(got) != 0 {
		t.Fatalf("min_pending 6 with 5 pending: %q", got)
	}
	if got := fetchAll(t, over, 2, 5*time.Second, jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMinPending(4)); join(got) != "m0 m1" {
		t.Fatalf("min_pending 4 with 5 pending: %q", got)
	}

	_, err = s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "PIN", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"g"}, PinnedTTL: 3 * time.Second})
	must(t, err)
	first, err := s.Consumer(c, "PIN")
	must(t, err)
	second, err := s.Consumer(c, "PIN")
	must(t, err)
	got1, got2 := make(chan string, 100), make(chan string, 100)
	cc1, err := first.Consume(func(m jetstream.Msg) {
		got1 <- string(m.Data()) + "@" + m.Headers().Get("Nats-Pin-Id")
		_ = m.Ack()
	}, jetstream.PullPriorityGroup("g"), jetstream.PullExpiry(time.Second))
	must(t, err)
	take := func(ch chan string, what string) string {
		t.Helper()
		select {
		case s := <-ch:
			return s
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing", what)
			return ""
		}
	}
	pin := ""
	for i := range 5 {
		m := take(got1, "pinned client")
		d, p, _ := strings.Cut(m, "@")
		if d != fmt.Sprintf("m%d", i) || p == "" || (pin != "" && p != pin) {
			t.Fatalf("pinned client got %q (pin %q)", m, pin)
		}
		pin = p
	}
	cc2, err := second.Consume(func(m jetstream.Msg) {
		got2 <- string(m.Data()) + "@" + m.Headers().Get("Nats-Pin-Id")
		_ = m.Ack()
	}, jetstream.PullPriorityGroup("g"))
	must(t, err)
	defer cc2.Stop()
	_, err = js.Publish(c, "g.x", []byte("m5"))
	must(t, err)
	if m := take(got1, "pinned client with a standby"); m != "m5@"+pin {
		t.Fatalf("pinned client: %q", m)
	}
	info, err := first.Info(c)
	must(t, err)
	if len(info.PriorityGroups) != 1 || info.PriorityGroups[0].PinnedClientID != pin {
		t.Fatalf("info: %+v", info.PriorityGroups)
	}

	// The pinned client goes away: after priority_timeout (3 s) the
	// standby is pinned.
	cc1.Stop()
	<-cc1.Closed()
	_, err = js.Publish(c, "g.x", []byte("m6"))
	must(t, err)
	m := take(got2, "standby after the timeout")
	d, pin2, _ := strings.Cut(m, "@")
	if d != "m6" || pin2 == "" || pin2 == pin {
		t.Fatalf("standby got %q (old pin %q)", m, pin)
	}
	select {
	case m := <-got1:
		t.Fatalf("stopped client got %q", m)
	default:
	}

	// UnpinConsumer: the same client pulls again without its id and is
	// pinned anew.
	must(t, s.UnpinConsumer(c, "PIN", "g"))
	_, err = js.Publish(c, "g.x", []byte("m7"))
	must(t, err)
	m = take(got2, "after unpin")
	if d, p, _ := strings.Cut(m, "@"); d != "m7" || p == "" || p == pin2 {
		t.Fatalf("after unpin: %q (pin before %q)", m, pin2)
	}
	var apiErr *jetstream.APIError
	if err := s.UnpinConsumer(c, "PIN", "nope"); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10160 {
		t.Fatalf("unpin of a missing group: %v", err)
	}
}

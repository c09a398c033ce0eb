package consumer

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// pauseAdv decodes the pause advisories of consumer D received on in.
func pauseAdv(t *testing.T, in *inbox) []jsapi.ConsumerPauseAdvisory {
	t.Helper()
	return pauseAdv2(t, in, "D")
}

// pauseAdv2 decodes the pause advisories of consumer name received on in.
func pauseAdv2(t *testing.T, in *inbox, name string) []jsapi.ConsumerPauseAdvisory {
	t.Helper()
	var out []jsapi.ConsumerPauseAdvisory
	for _, m := range in.take() {
		var a jsapi.ConsumerPauseAdvisory
		if err := json.Unmarshal([]byte(m.Data), &a); err != nil {
			t.Fatalf("advisory %q: %v", m.Data, err)
		}
		if a.Type != jsapi.TypeConsumerPauseAdvisory || a.Stream != "S" || a.Consumer != name || a.ID == "" {
			t.Fatalf("advisory %+v", a)
		}
		out = append(out, a)
	}
	return out
}

// TestPauseUntilHoldsPullDeliveries: a pull consumer created with a
// pause_until in the future delivers nothing until then, while its waiting
// request gets idle heartbeats and a no_wait request ends with 404; info
// reports paused and pause_remaining; at pause_until the waiting request
// gets its messages and the resume advisory goes out.
func TestPauseUntilHoldsPullDeliveries(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		adv := e.sub(jsapi.PreAdvisoryConsumerPause + "S.D")
		until := time.Now().Add(10 * time.Second)
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, PauseUntil: &until})
		if a := pauseAdv(t, adv); len(a) != 1 || !a[0].Paused || !a[0].PauseUntil.Equal(until) {
			t.Fatalf("advisories at create: %+v", a)
		}
		e.pub("s.x", "a")
		e.pub("s.x", "b")
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 2, Expires: 30 * time.Second, Heartbeat: 2 * time.Second})
		nw := e.sub("_INBOX.nw")
		e.next("D", "_INBOX.nw", jsapi.NextRequest{Batch: 1, NoWait: true})
		if got := data(nw.take()); got != "<404>" {
			t.Fatalf("no_wait while paused: %q", got)
		}
		ci := e.info("D")
		if !ci.Paused || ci.PauseRemaining != 10*time.Second || ci.NumPending != 2 || ci.NumWaiting != 1 {
			t.Fatalf("info while paused: paused %v remaining %v pending %d waiting %d", ci.Paused, ci.PauseRemaining, ci.NumPending, ci.NumWaiting)
		}
		if !ci.Config.PauseUntil.Equal(until) || ci.Config.PauseUntil.Location() != time.UTC {
			t.Fatalf("pause_until %v", ci.Config.PauseUntil)
		}
		sleep(9 * time.Second)
		got := in.take()
		for _, m := range got {
			if m.status() != 100 {
				t.Fatalf("while paused: %q", data(got))
			}
		}
		if len(got) != 4 {
			t.Fatalf("heartbeats in 9 s: %d", len(got))
		}
		sleep(time.Second)
		if got := data(noHeartbeats(in.take())); got != "a b" {
			t.Fatalf("at pause_until: %q", got)
		}
		a := pauseAdv(t, adv)
		if len(a) != 1 || a[0].Paused || !a[0].PauseUntil.Equal(until) {
			t.Fatalf("resume advisory: %+v", a)
		}
		if ci := e.info("D"); ci.Paused || ci.PauseRemaining != 0 {
			t.Fatalf("info after the pause: %+v", ci)
		}
	})
}

// TestPauseAPI: Set.Pause pauses a running push consumer (its idle
// heartbeats go on, deliveries stop, acks are taken) and announces it;
// the pause is kept in meta.json across a restart; Set.Pause with a zero
// time resumes at once, with an advisory.
func TestPauseAPI(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		adv := e.sub(jsapi.PreAdvisoryConsumerPause + "S.D")
		push := e.sub("deliver.d")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, DeliverSubject: "deliver.d", Heartbeat: time.Second})
		e.pub("s.x", "a")
		got := push.take()
		if data(got) != "a" {
			t.Fatalf("before the pause: %q", data(got))
		}
		until := time.Now().Add(time.Hour)
		ps, aerr := e.set.Pause("D", until)
		if aerr != nil || !ps.Paused || ps.Remaining != time.Hour || !ps.PauseUntil.Equal(until) {
			t.Fatalf("pause: %+v %v", ps, aerr)
		}
		if a := pauseAdv(t, adv); len(a) != 1 || !a[0].Paused || !a[0].PauseUntil.Equal(until) {
			t.Fatalf("pause advisory: %+v", a)
		}
		e.ack(got[0].Reply, "+ACK", "")
		e.pub("s.x", "b")
		sleep(3500 * time.Millisecond)
		hb := push.take()
		if len(hb) != 3 {
			t.Fatalf("while paused, want 3 heartbeats: %q", data(hb))
		}
		for _, m := range hb {
			if m.status() != 100 {
				t.Fatalf("while paused: %q", data(hb))
			}
		}
		if ci := e.info("D"); !ci.Paused || ci.AckFloor.Stream != 1 || ci.NumPending != 1 {
			t.Fatalf("info while paused: %+v", ci)
		}
		if _, aerr := e.set.Pause("nope", until); aerr == nil || aerr.ErrCode != jsapi.ErrCodeConsumerNotFound {
			t.Fatalf("pause of a missing consumer: %v", aerr)
		}

		e.restart()
		push = e.sub("deliver.d")
		adv = e.sub(jsapi.PreAdvisoryConsumerPause + "S.D")
		if ci := e.info("D"); !ci.Paused || ci.Config.PauseUntil == nil || !ci.Config.PauseUntil.Equal(until) {
			t.Fatalf("after a restart: %+v", ci)
		}
		sleep(1500 * time.Millisecond)
		if got := data(push.take()); got != "<100>" {
			t.Fatalf("after a restart, still paused: %q", got)
		}
		ps, aerr = e.set.Pause("D", time.Time{})
		if aerr != nil || ps.Paused || !ps.PauseUntil.IsZero() || ps.Remaining != 0 {
			t.Fatalf("resume: %+v %v", ps, aerr)
		}
		if got := data(push.take()); got != "b" {
			t.Fatalf("after the resume: %q", got)
		}
		if a := pauseAdv(t, adv); len(a) != 1 || a[0].Paused || !a[0].PauseUntil.IsZero() {
			t.Fatalf("resume advisory: %+v", a)
		}
		if ci := e.info("D"); ci.Paused || ci.Config.PauseUntil != nil {
			t.Fatalf("info after the resume: %+v", ci)
		}
	})
}

// TestPauseByUpdate: as in nats-server, a create or update of an existing
// consumer keeps its pause_until whatever the request says (only the PAUSE
// API changes it), and a request that leaves the consumer paused is
// followed by a pause advisory; a past pause_until at create is kept but
// does not pause.
func TestPauseByUpdate(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		adv := e.sub(jsapi.PreAdvisoryConsumerPause + "S.D")
		cfg := jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit}
		e.create(cfg)
		until := time.Now().Add(time.Minute).In(time.FixedZone("X", 7200))
		cfg.PauseUntil = &until
		if ci := e.create(cfg); ci.Paused || ci.Config.PauseUntil != nil {
			t.Fatalf("update with pause_until: %+v", ci)
		}
		if a := pauseAdv(t, adv); len(a) != 0 {
			t.Fatalf("advisories of an update: %+v", a)
		}

		cfg.Durable = "P"
		adv = e.sub(jsapi.PreAdvisoryConsumerPause + "S.P")
		if ci := e.create(cfg); !ci.Paused || ci.Config.PauseUntil.Location() != time.UTC || !ci.Config.PauseUntil.Equal(until) {
			t.Fatalf("create with pause_until: %+v", ci)
		}
		e.pub("s.x", "a")
		in := e.sub("_INBOX.1")
		e.next("P", "_INBOX.1", jsapi.NextRequest{Batch: 1, Expires: 5 * time.Second})
		sleep(6 * time.Second)
		if got := data(in.take()); got != "<408>" {
			t.Fatalf("request expiring while paused: %q", got)
		}
		cfg.PauseUntil = nil
		cfg.Description = "updated"
		if ci := e.create(cfg); !ci.Paused || !ci.Config.PauseUntil.Equal(until) || ci.Config.Description != "updated" {
			t.Fatalf("update without pause_until: %+v", ci)
		}
		a := pauseAdv2(t, adv, "P")
		if len(a) != 2 || !a[0].Paused || !a[1].Paused {
			t.Fatalf("advisories of the create and the update: %+v", a)
		}

		cfg.Durable = "Q"
		past := time.Now().Add(-time.Minute)
		cfg.PauseUntil = &past
		if ci := e.create(cfg); ci.Paused || ci.Config.PauseUntil == nil {
			t.Fatalf("past pause_until: %+v", ci)
		}
		e.next("Q", "_INBOX.1", jsapi.NextRequest{Batch: 1, Expires: 5 * time.Second})
		if got := data(in.take()); got != "a" {
			t.Fatalf("past pause_until: %q", got)
		}
	})
}

// noHeartbeats drops the idle heartbeats from ms.
func noHeartbeats(ms []rmsg) []rmsg {
	var out []rmsg
	for _, m := range ms {
		if m.status() != 100 {
			out = append(out, m)
		}
	}
	return out
}

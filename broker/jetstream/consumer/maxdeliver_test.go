package consumer

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

const advSubj = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"

// advisories decodes the max-deliveries advisories in ms.
func advisories(t *testing.T, ms []rmsg) []jsapi.DeliveryExceededAdvisory {
	t.Helper()
	var out []jsapi.DeliveryExceededAdvisory
	for _, m := range ms {
		var a jsapi.DeliveryExceededAdvisory
		if err := json.Unmarshal([]byte(m.Data), &a); err != nil {
			t.Fatalf("advisory %q: %v", m.Data, err)
		}
		if m.Subject != "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+a.Stream+"."+a.Consumer {
			t.Fatalf("advisory on %q: %+v", m.Subject, a)
		}
		out = append(out, a)
	}
	return out
}

// wantOneAdvisory checks that adv received exactly one advisory: message
// seq of consumer D of stream S after deliveries.
func wantOneAdvisory(t *testing.T, adv *inbox, seq, deliveries uint64) {
	t.Helper()
	got := advisories(t, adv.take())
	if len(got) != 1 {
		t.Fatalf("%d advisories, want 1: %+v", len(got), got)
	}
	a := got[0]
	if a.Type != jsapi.TypeMaxDeliverAdvisory || a.ID == "" || a.Time.IsZero() || a.Stream != "S" ||
		a.Consumer != "D" || a.StreamSeq != seq || a.Deliveries != deliveries {
		t.Fatalf("advisory %+v", a)
	}
}

// TestMaxDeliverEveryPath: a message of a pull consumer with max_deliver 3
// is delivered exactly 3 times (the ack reply counting 1, 2, 3) whichever
// way its redeliveries come due, then given up with one advisory: it
// leaves pending, the ack floor passes it, num_redelivered still counts it.
func TestMaxDeliverEveryPath(t *testing.T) {
	const aw = time.Second
	for _, tc := range []struct {
		name string
		cfg  func(*jsapi.ConsumerConfig)
		// fail makes delivery m (1-based) fail and lets time pass until it
		// is due again.
		fail func(e *tenv, m rmsg, adv *inbox)
	}{
		{"nak", nil, func(e *tenv, m rmsg, _ *inbox) { e.ack(m.Reply, "-NAK", "") }},
		{"nak delay", nil, func(e *tenv, m rmsg, adv *inbox) {
			e.ack(m.Reply, `-NAK {"delay":500000000}`, "")
			// Still pending until the delay runs out, even the last time.
			if ci := e.info("D"); ci.NumAckPending != 1 || len(adv.take()) != 0 {
				e.t.Fatalf("during the nak delay: %+v", ci)
			}
			sleep(600 * time.Millisecond)
		}},
		{"ack wait", nil, func(e *tenv, _ rmsg, _ *inbox) { sleep(aw + 100*time.Millisecond) }},
		{"backoff", func(c *jsapi.ConsumerConfig) { c.BackOff = []time.Duration{time.Second, 2 * time.Second} },
			func(e *tenv, _ rmsg, _ *inbox) { sleep(2100 * time.Millisecond) }},
		{"nak backoff", func(c *jsapi.ConsumerConfig) { c.BackOff = []time.Duration{time.Second, 2 * time.Second} },
			func(e *tenv, m rmsg, _ *inbox) { e.ack(m.Reply, "-NAK", ""); sleep(2100 * time.Millisecond) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				e := newEnv(t, streamCfg(nil))
				e.pub("s.x", "a")
				e.pub("s.x", "b")
				cfg := jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: aw, MaxDeliver: 3}
				if tc.cfg != nil {
					tc.cfg(&cfg)
				}
				e.create(cfg)
				adv := e.sub(advSubj)
				in := e.sub("_INBOX.1")
				for n := uint64(1); n <= 3; n++ {
					got := e.pull1("D", in)
					if data(got) != "a" || got[0].meta(t).Delivered != n || got[0].meta(t).StreamSeq != 1 {
						t.Fatalf("delivery %d: %q %+v", n, data(got), got)
					}
					if len(adv.take()) != 0 {
						t.Fatalf("advisory before delivery %d failed", n)
					}
					tc.fail(e, got[0], adv)
				}
				synctestWait()
				wantOneAdvisory(t, adv, 1, 3)
				// Given up: b is next, and a never comes again.
				if got := e.pull1("D", in); data(got) != "b" || got[0].meta(t).Delivered != 1 {
					t.Fatalf("after max_deliver: %q", data(got))
				}
				ci := e.info("D")
				if ci.NumAckPending != 1 || ci.NumRedelivered != 1 || ci.AckFloor.Stream != 1 || ci.AckFloor.Consumer != 3 {
					t.Fatalf("info after max_deliver: pending %d redelivered %d floor %+v", ci.NumAckPending, ci.NumRedelivered, ci.AckFloor)
				}
				sleep(10 * time.Second)
				if got := data(e.pull1("D", in)); got != "b" {
					t.Fatalf("only b is redelivered: %q", got)
				}
				if n := len(adv.take()); n != 0 {
					t.Fatalf("%d more advisories", n)
				}
			})
		})
	}
}

// TestMaxDeliverPushNak: a push consumer whose subscriber naks every
// delivery gets max_deliver of them, not an endless stream.
func TestMaxDeliverPushNak(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		adv := e.sub(advSubj)
		e.pub("s.x", "a")
		var count atomic.Uint64
		if _, err := e.srv.SubscribeInternal("push.d", "", func(m *broker.InternalMsg) {
			n := count.Add(1)
			if r, err := jsapi.ParseAckReply(m.Reply); err != nil || r.Delivered != n {
				t.Errorf("delivery %d: ack reply %q (%v)", n, m.Reply, err)
			}
			// A nak from the subscriber's callback, as nats.go's m.Nak().
			go e.ack(string(m.Reply), "-NAK", "")
		}); err != nil {
			t.Fatal(err)
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, DeliverSubject: "push.d", MaxDeliver: 3})
		synctestWait()
		sleep(time.Minute)
		if n := count.Load(); n != 3 {
			t.Fatalf("%d deliveries, want 3", n)
		}
		wantOneAdvisory(t, adv, 1, 3)
	})
}

// TestMaxDeliverRestart: a message with max_deliver-1 deliveries when the
// server stops gets exactly one more after the restart; one with
// max_deliver deliveries is given up when its ack wait runs out; given up,
// it stays given up across another restart, with no second advisory.
func TestMaxDeliverRestart(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", "a")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: time.Second, MaxDeliver: 3})
		in := e.sub("_INBOX.1")
		for n := uint64(1); n <= 2; n++ {
			got := e.pull1("D", in)
			if data(got) != "a" || got[0].meta(t).Delivered != n {
				t.Fatalf("delivery %d: %q", n, data(got))
			}
			e.ack(got[0].Reply, "-NAK", "")
		}
		e.restart()
		adv := e.sub(advSubj)
		in = e.sub("_INBOX.2")
		if ci := e.info("D"); ci.NumAckPending != 1 || ci.NumRedelivered != 1 {
			t.Fatalf("after restart: %+v", ci)
		}
		sleep(1100 * time.Millisecond)
		got := e.pull1("D", in)
		if data(got) != "a" || got[0].meta(t).Delivered != 3 {
			t.Fatalf("after restart: %q", data(got))
		}
		// Stopped again before its ack wait ran out: the last delivery
		// comes back pending and is given up when it runs out.
		e.restart()
		adv = e.sub(advSubj)
		in = e.sub("_INBOX.3")
		if ci := e.info("D"); ci.NumAckPending != 1 {
			t.Fatalf("after the second restart: %+v", ci)
		}
		sleep(1100 * time.Millisecond)
		wantOneAdvisory(t, adv, 1, 3)
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("past max_deliver: %q", got)
		}
		e.restart()
		adv = e.sub(advSubj)
		in = e.sub("_INBOX.4")
		sleep(10 * time.Second)
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("past max_deliver after another restart: %q", got)
		}
		if n := len(adv.take()); n != 0 {
			t.Fatalf("%d advisories after another restart", n)
		}
		if ci := e.info("D"); ci.NumAckPending != 0 || ci.NumRedelivered != 1 || ci.AckFloor.Stream != 1 {
			t.Fatalf("info after another restart: %+v", ci)
		}
	})
}

// TestMaxDeliverLowered: a message queued for redelivery when max_deliver
// is lowered below its deliveries is given up instead of delivered.
func TestMaxDeliverLowered(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", "a")
		cfg := jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, MaxDeliver: 5}
		e.create(cfg)
		adv := e.sub(advSubj)
		in := e.sub("_INBOX.1")
		for range 2 {
			e.ack(e.pull1("D", in)[0].Reply, "-NAK", "")
		}
		synctestWait()
		cfg.MaxDeliver = 2
		e.create(cfg)
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("after lowering max_deliver: %q", got)
		}
		wantOneAdvisory(t, adv, 1, 2)
	})
}

// TestMaxDeliverRetention: under interest and workqueue retention a message
// that ran out of deliveries stays in the stream, as in nats-server (other
// consumers' acks, a restart and its sweep do not remove it); the consumer
// acking it after all lets it go.
func TestMaxDeliverRetention(t *testing.T) {
	for _, rp := range []jsapi.RetentionPolicy{jsapi.InterestPolicy, jsapi.WorkQueuePolicy} {
		t.Run(rp.String(), func(t *testing.T) {
			run(t, func(t *testing.T) {
				e := newEnv(t, streamCfg(func(c *jsapi.StreamConfig) { c.Retention = rp }))
				e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, MaxDeliver: 1, FilterSubject: "s.x"})
				if rp == jsapi.InterestPolicy {
					e.create(jsapi.ConsumerConfig{Durable: "O", AckPolicy: jsapi.AckExplicit, FilterSubject: "s.x"})
				}
				e.pub("s.x", "a")
				in := e.sub("_INBOX.1")
				a := e.pull1("D", in)[0]
				e.ack(a.Reply, "-NAK", "")
				synctestWait()
				if ci := e.info("D"); ci.NumAckPending != 0 || ci.NumRedelivered != 0 {
					t.Fatalf("info with max_deliver 1: %+v", ci)
				}
				if rp == jsapi.InterestPolicy {
					e.ack(e.pull1("O", in)[0].Reply, "+ACK", "")
				}
				synctestWait()
				if e.st.l.State().Msgs != 1 {
					t.Fatal("a message that ran out of deliveries was removed")
				}
				e.restart()
				synctestWait()
				if e.st.l.State().Msgs != 1 {
					t.Fatal("removed after a restart")
				}
				e.ack(a.Reply, "+ACK", "")
				synctestWait()
				if e.st.l.State().Msgs != 0 {
					t.Fatal("kept after the late ack")
				}
			})
		})
	}
}

// TestMaxDeliverReplicatedTakeover: the new leader of a replicated stream
// resumes a message at max_deliver-1 deliveries from the Store, delivers
// it once more and gives it up; the next leader knows it was given up.
func TestMaxDeliverReplicatedTakeover(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.set.Close()
		store := newMemStore()
		lead := func() {
			if e.set != nil {
				if err := e.set.SetActive(false); err != nil {
					t.Fatal(err)
				}
				e.set.Close()
			}
			set, err := NewSet(Env{Server: e.srv.GlobalAccount(), Clock: broker.SystemClock{}, Store: store}, e.st, e.dir)
			if err != nil {
				t.Fatal(err)
			}
			e.set = set
			if err := set.SetActive(true); err != nil {
				t.Fatal(err)
			}
		}
		e.set = nil
		lead()
		e.pub("s.x", "a")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: time.Second, MaxDeliver: 3})
		adv := e.sub(advSubj)
		in := e.sub("_INBOX.1")
		ackIn := e.sub("_INBOX.ack")
		for range 2 {
			// A double nak: answered once the state (2 deliveries) is in the Store.
			e.ack(e.pull1("D", in)[0].Reply, "-NAK", "_INBOX.ack")
			if len(ackIn.take()) != 1 {
				t.Fatal("no reply to the double nak")
			}
		}
		lead()
		sleep(1100 * time.Millisecond)
		got := e.pull1("D", in)
		if data(got) != "a" || got[0].meta(t).Delivered != 3 {
			t.Fatalf("on the new leader: %q", data(got))
		}
		e.ack(got[0].Reply, "-NAK", "_INBOX.ack")
		synctestWait()
		wantOneAdvisory(t, adv, 1, 3)
		if st := store.state(t, "D"); len(st.pending) != 0 || len(st.maxed) != 1 {
			t.Fatalf("replicated state: %+v", st)
		}
		lead()
		sleep(10 * time.Second)
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("on the third leader: %q", got)
		}
		if n := len(adv.take()); n != 0 {
			t.Fatalf("%d more advisories", n)
		}
	})
}

func TestStateMaxedRoundTrip(t *testing.T) {
	st := &savedState{next: 9, pending: []pendingRec{{sseq: 8, cseq: 7, ts: 12, dc: 1}}, maxed: []uint64{3, 5}}
	b := appendState(nil, st)
	if string(b[:8]) != stateMagic2 {
		t.Fatalf("magic %q", b[:8])
	}
	got, err := decodeState(b)
	if err != nil || len(got.pending) != 1 || len(got.maxed) != 2 || got.maxed[1] != 5 {
		t.Fatalf("got %+v, %v", got, err)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, err := decodeState(c); err == nil {
			t.Fatalf("flipped byte %d not detected", i)
		}
	}
	st.maxed = nil
	if b := appendState(nil, st); string(b[:8]) != stateMagic {
		t.Fatalf("without maxed: magic %q", b[:8])
	}
}

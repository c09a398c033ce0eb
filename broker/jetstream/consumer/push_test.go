package consumer

import (
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

func TestDeliverPolicies(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.a", "a1")
		e.pub("s.b", "b1")
		sleep(time.Minute)
		start := time.Now()
		e.pub("s.a", "a2")
		e.pub("s.b", "b2")
		seq3 := uint64(3)
		cases := []struct {
			name string
			cfg  jsapi.ConsumerConfig
			want string
		}{
			{"all", jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverAll}, "a1 b1 a2 b2 n"},
			{"last", jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverLast}, "b2 n"},
			{"lastfiltered", jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverLast, FilterSubject: "s.a"}, "a2"},
			{"new", jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverNew}, "n"},
			{"seq", jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverByStartSequence, OptStartSeq: seq3}, "a2 b2 n"},
			{"time", jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverByStartTime, OptStartTime: &start}, "a2 b2 n"},
			{"lps", jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverLastPerSubject, FilterSubject: "s.*"}, "a2 b2 n"},
			{"filters", jsapi.ConsumerConfig{FilterSubjects: []string{"s.b", "s.n"}}, "b1 b2 n"},
		}
		var inboxes []*inbox
		for _, c := range cases {
			cfg := c.cfg
			cfg.Durable = c.name
			cfg.AckPolicy = jsapi.AckNone
			cfg.DeliverSubject = "push." + c.name
			inboxes = append(inboxes, e.sub(cfg.DeliverSubject))
			e.create(cfg)
		}
		synctestWait()
		e.pub("s.n", "n")
		for i, c := range cases {
			if got := data(inboxes[i].take()); got != c.want {
				t.Errorf("%s: got %q, want %q", c.name, got, c.want)
			}
		}
		if ci := e.info("filters"); ci.NumPending != 0 || ci.Delivered.Consumer != 3 {
			t.Fatalf("filters info %+v", ci)
		}
	})
}

func TestNumPendingFiltered(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		for i := range 10 {
			e.pub([]string{"s.a", "s.b"}[i%2], "m")
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, FilterSubject: "s.a"})
		if ci := e.info("D"); ci.NumPending != 5 {
			t.Fatalf("num_pending %d", ci.NumPending)
		}
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 2})
		got := in.take()
		if got[1].meta(t).Pending != 3 {
			t.Fatalf("pending in reply %d", got[1].meta(t).Pending)
		}
		e.pub("s.a", "m")
		e.pub("s.b", "m")
		synctestWait()
		if ci := e.info("D"); ci.NumPending != 4 {
			t.Fatalf("num_pending after publish %d", ci.NumPending)
		}
	})
}

func TestPushFlowControlAndHeartbeat(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		in := e.sub("push.fc")
		e.create(jsapi.ConsumerConfig{Durable: "P", AckPolicy: jsapi.AckNone, DeliverSubject: "push.fc",
			FlowControl: true, Heartbeat: time.Second})
		big := strings.Repeat("x", 60<<10)
		for range 40 { // 2.4 MiB: more than the 2 MiB starting window
			e.pub("s.x", big)
		}
		got := in.take()
		var fc *rmsg
		n := 0
		for i := range got {
			if got[i].status() == 100 && contains(got[i].Hdr, "FlowControl") {
				fc = &got[i]
			} else if got[i].status() == 0 {
				n++
			}
		}
		if fc == nil || n == 40 {
			t.Fatalf("want a flow-control request and a stall, got %d msgs, fc %v", n, fc != nil)
		}
		e.ack(fc.Reply, "", "")
		got = in.take()
		for _, m := range got {
			if m.status() == 0 {
				n++
			}
		}
		if n != 40 {
			t.Fatalf("after flow-control reply: %d of 40", n)
		}
		// Idle heartbeat with the last sequences.
		sleep(1100 * time.Millisecond)
		hb := in.take()
		if len(hb) == 0 || hb[0].status() != 100 || !contains(hb[0].Hdr, "Nats-Last-Consumer: 40") || !contains(hb[0].Hdr, "Nats-Last-Stream: 40") {
			t.Fatalf("heartbeat %q", hb)
		}
	})
}

func TestPushNoInterestThenSubscribe(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", "a")
		e.create(jsapi.ConsumerConfig{Durable: "P", AckPolicy: jsapi.AckExplicit, DeliverSubject: "push.late"})
		synctestWait()
		if ci := e.info("P"); ci.Delivered.Consumer != 0 || ci.PushBound {
			t.Fatalf("delivered without interest: %+v", ci)
		}
		in := e.sub("push.late")
		sleep(300 * time.Millisecond)
		if got := data(in.take()); got != "a" {
			t.Fatalf("got %q", got)
		}
		if !e.info("P").PushBound {
			t.Fatal("push_bound")
		}
	})
}

func TestEphemeralInactiveThreshold(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		ci := e.create(jsapi.ConsumerConfig{AckPolicy: jsapi.AckExplicit, InactiveThreshold: 2 * time.Second})
		if len(ci.Name) != 8 || ci.Config.Durable != "" {
			t.Fatalf("ephemeral %+v", ci)
		}
		in := e.sub("_INBOX.1")
		e.next(ci.Name, "_INBOX.1", jsapi.NextRequest{Batch: 1, Expires: 1500 * time.Millisecond})
		sleep(1600 * time.Millisecond)
		in.take()
		sleep(time.Second)
		if e.set.Count() != 1 {
			t.Fatal("deleted while recently active")
		}
		sleep(1100 * time.Millisecond)
		if e.set.Count() != 0 {
			t.Fatal("not deleted after inactive threshold")
		}
		// Push ephemeral with default threshold (5s) and no subscriber.
		e.create(jsapi.ConsumerConfig{AckPolicy: jsapi.AckNone, DeliverSubject: "push.gone"})
		sleep(6 * time.Second)
		if e.set.Count() != 0 {
			t.Fatal("push ephemeral not deleted")
		}
	})
}

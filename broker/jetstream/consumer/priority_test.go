package consumer

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// pinOf is the Nats-Pin-Id header of a delivered message ("" if none).
func pinOf(m rmsg) string {
	for _, line := range strings.Split(m.Hdr, "\r\n") {
		if v, ok := strings.CutPrefix(line, jsapi.HdrPinID+": "); ok {
			return v
		}
	}
	return ""
}

// statusLine is the first line of a status message's header.
func statusLine(m rmsg) string {
	line, _, _ := strings.Cut(m.Hdr, "\r\n")
	return line
}

func TestPriorityConfigChecks(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		for _, tc := range []struct {
			name string
			cfg  jsapi.ConsumerConfig
			code jsapi.ErrCode
		}{
			{"push", jsapi.ConsumerConfig{DeliverSubject: "d", PriorityPolicy: jsapi.PriorityOverflow, PriorityGroups: []string{"g"}}, jsapi.ErrCodeConsumerPushWithPriorityGroup},
			{"no group", jsapi.ConsumerConfig{PriorityPolicy: jsapi.PriorityPinnedClient}, jsapi.ErrCodeConsumerPriorityPolicyWithoutGroup},
			{"empty group", jsapi.ConsumerConfig{PriorityPolicy: jsapi.PriorityOverflow, PriorityGroups: []string{"g", ""}}, jsapi.ErrCodeConsumerEmptyGroupName},
			{"bad group", jsapi.ConsumerConfig{PriorityPolicy: jsapi.PriorityOverflow, PriorityGroups: []string{"a.b"}}, jsapi.ErrCodeConsumerInvalidGroupName},
			{"long group", jsapi.ConsumerConfig{PriorityPolicy: jsapi.PriorityOverflow, PriorityGroups: []string{"abcdefghijklmnopq"}}, jsapi.ErrCodeConsumerInvalidGroupName},
			{"groups without policy", jsapi.ConsumerConfig{PriorityGroups: []string{"g"}}, jsapi.ErrCodeConsumerPriorityGroupWithPolicyNone},
			{"timeout without policy", jsapi.ConsumerConfig{PinnedTTL: time.Second}, jsapi.ErrCodeConsumerPinnedTTLWithoutPriority},
		} {
			tc.cfg.Durable, tc.cfg.AckPolicy = "X", jsapi.AckExplicit
			if _, aerr := e.tryCreate(tc.cfg, jsapi.ActionCreate); aerr == nil || aerr.ErrCode != tc.code {
				t.Errorf("%s: %v, want %d", tc.name, aerr, tc.code)
			}
		}
		ci := e.create(jsapi.ConsumerConfig{Durable: "P", AckPolicy: jsapi.AckExplicit, PriorityPolicy: jsapi.PriorityPinnedClient,
			PriorityGroups: []string{"A-z_0/9="}, PinnedTTL: -time.Second})
		if ci.Config.PinnedTTL != 2*time.Minute {
			t.Fatalf("default priority_timeout: %v", ci.Config.PinnedTTL)
		}
		if len(ci.PriorityGroups) != 1 || ci.PriorityGroups[0].Group != "A-z_0/9=" || ci.PriorityGroups[0].PinnedClientID != "" {
			t.Fatalf("priority_groups in info: %+v", ci.PriorityGroups)
		}
	})
}

// TestPriorityRequestChecks: pull requests whose priority fields do not
// fit the consumer's policy are refused with nats-server's 400s.
func TestPriorityRequestChecks(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.create(jsapi.ConsumerConfig{Durable: "N", AckPolicy: jsapi.AckExplicit})
		e.create(jsapi.ConsumerConfig{Durable: "O", AckPolicy: jsapi.AckExplicit, PriorityPolicy: jsapi.PriorityOverflow, PriorityGroups: []string{"g"}})
		in := e.sub("_INBOX.1")
		for _, tc := range []struct {
			cons string
			body string
			want string
		}{
			{"N", `{"batch":1,"min_pending":3}`, "NATS/1.0 400 Bad Request - Not a Overflow Priority consumer"},
			{"O", `{"batch":1,"group":"g","id":"x"}`, "NATS/1.0 400 Bad Request - Not a Pinned Client Priority consumer"},
			{"O", `{"batch":1,"group":"g","priority":10}`, "NATS/1.0 400 Bad Request - Priority must be between 0 and 9"},
			{"O", `{"batch":1}`, "NATS/1.0 400 Bad Request - Priority Group missing"},
			{"O", `3`, "NATS/1.0 400 Bad Request - Priority Group missing"},
			{"O", `{"batch":1,"group":"h"}`, "NATS/1.0 400 Bad Request - Invalid Priority Group"},
		} {
			e.set.Next(tc.cons, []byte("_INBOX.1"), []byte(tc.body))
			got := in.take()
			if len(got) != 1 || statusLine(got[0]) != tc.want {
				t.Errorf("%s %s: %q, want %q", tc.cons, tc.body, got, tc.want)
			}
		}
	})
}

// TestPriorityOverflow: a request with min_pending is served only while
// num_pending reaches it, one with min_ack_pending only while that many
// acks are outstanding; the others wait (a no_wait one ends with 404) and a
// request without conditions is served as usual.
func TestPriorityOverflow(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		for _, d := range []string{"a", "b", "c", "d", "e"} {
			e.pub("s.x", d)
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, PriorityPolicy: jsapi.PriorityOverflow, PriorityGroups: []string{"jobs"}})
		g := func(minPending, minAck int64) jsapi.PriorityGroup {
			return jsapi.PriorityGroup{Group: "jobs", MinPending: minPending, MinAckPending: minAck}
		}
		far := e.sub("_INBOX.far")
		e.next("D", "_INBOX.far", jsapi.NextRequest{Batch: 1, Expires: 5 * time.Second, PriorityGroup: g(6, 0)})
		near := e.sub("_INBOX.near")
		e.next("D", "_INBOX.near", jsapi.NextRequest{Batch: 2, Expires: 5 * time.Second, PriorityGroup: g(4, 0)})
		// num_pending 5, then 4: "near" gets two, "far" nothing.
		if got := data(near.take()); got != "a b" {
			t.Fatalf("min_pending 4: %q", got)
		}
		if got := far.take(); len(got) != 0 {
			t.Fatalf("min_pending 6: %q", data(got))
		}
		nw := e.sub("_INBOX.nw")
		e.next("D", "_INBOX.nw", jsapi.NextRequest{Batch: 1, NoWait: true, PriorityGroup: g(4, 0)})
		if got := data(nw.take()); got != "<404>" {
			t.Fatalf("no_wait, min_pending 4 with 3 pending: %q", got)
		}
		ack := e.sub("_INBOX.ack")
		e.next("D", "_INBOX.ack", jsapi.NextRequest{Batch: 1, Expires: 5 * time.Second, PriorityGroup: g(0, 2)})
		if got := data(ack.take()); got != "c" {
			t.Fatalf("min_ack_pending 2 with 2 unacked: %q", got)
		}
		e.next("D", "_INBOX.ack", jsapi.NextRequest{Batch: 1, Expires: 5 * time.Second, PriorityGroup: g(0, 4)})
		if got := ack.take(); len(got) != 0 {
			t.Fatalf("min_ack_pending 4 with 3 unacked: %q", data(got))
		}
		plain := e.sub("_INBOX.plain")
		e.next("D", "_INBOX.plain", jsapi.NextRequest{Batch: 1, Expires: 5 * time.Second, PriorityGroup: g(0, 0)})
		if got := data(plain.take()); got != "d" {
			t.Fatalf("no conditions: %q", got)
		}
		// Now 4 acks are outstanding: the waiting min_ack_pending 4 takes e.
		e.pub("s.x", "f")
		if got := data(ack.take()); got != "e" {
			t.Fatalf("min_ack_pending 4 once 4 are unacked: %q", got)
		}
		sleep(6 * time.Second)
		if got := data(far.take()); got != "<408>" {
			t.Fatalf("min_pending 6 at expiry: %q", got)
		}
		if ci := e.info("D"); ci.NumPending != 1 || ci.NumAckPending != 5 {
			t.Fatalf("info: pending %d ack pending %d", ci.NumPending, ci.NumAckPending)
		}
	})
}

// TestPriorityPinnedClient walks a pinned_client consumer through its
// states: the first requester is pinned (Nats-Pin-Id, advisory, info),
// another stands by, a wrong id is refused with 423; a pin whose client
// stops pulling lapses after priority_timeout and the standby is pinned
// with a new id; UNPIN drops the pin and a waiting request with the old id
// gets 423 Nats-Wrong-Pin-Id; the pin survives a restart.
func TestPriorityPinnedClient(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		pinned := e.sub(jsapi.PreAdvisoryConsumerPinned + "S.D")
		unpinned := e.sub(jsapi.PreAdvisoryConsumerUnpinned + "S.D")
		for _, d := range []string{"a", "b", "c"} {
			e.pub("s.x", d)
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, PriorityPolicy: jsapi.PriorityPinnedClient,
			PriorityGroups: []string{"g"}, PinnedTTL: 10 * time.Second})
		req := func(inbox, id string, batch int) {
			e.next("D", inbox, jsapi.NextRequest{Batch: batch, Expires: 30 * time.Second, PriorityGroup: jsapi.PriorityGroup{Group: "g", ID: id}})
		}
		a, b, c := e.sub("_INBOX.a"), e.sub("_INBOX.b"), e.sub("_INBOX.c")
		req("_INBOX.a", "", 1)
		got := a.take()
		pin := ""
		if len(got) == 1 {
			pin = pinOf(got[0])
		}
		if data(got) != "a" || pin == "" {
			t.Fatalf("first requester: %q %q", data(got), got)
		}
		if ci := e.info("D"); len(ci.PriorityGroups) != 1 || ci.PriorityGroups[0].PinnedClientID != pin || ci.PriorityGroups[0].PinnedTS.IsZero() {
			t.Fatalf("info: %+v", ci.PriorityGroups)
		}
		var pa jsapi.ConsumerPinnedAdvisory
		if ms := pinned.take(); len(ms) != 1 || json.Unmarshal([]byte(ms[0].Data), &pa) != nil || pa.PinnedClientID != pin || pa.Group != "g" || pa.Type != jsapi.TypeConsumerPinnedAdvisory {
			t.Fatalf("pinned advisory: %q", ms)
		}
		req("_INBOX.b", "", 1) // stands by
		req("_INBOX.a", pin, 1)
		if got := a.take(); data(got) != "b" || pinOf(got[0]) != pin {
			t.Fatalf("pinned client again: %q", got)
		}
		req("_INBOX.c", "other", 1)
		if got := c.take(); len(got) != 1 || statusLine(got[0]) != "NATS/1.0 423 Nats-Pin-Id mismatch" {
			t.Fatalf("wrong pin id: %q", got)
		}
		if got := b.take(); len(got) != 0 {
			t.Fatalf("standby got %q", data(got))
		}

		// a stops pulling: after priority_timeout b is pinned.
		sleep(10 * time.Second)
		var ua jsapi.ConsumerUnpinnedAdvisory
		if ms := unpinned.take(); len(ms) != 1 || json.Unmarshal([]byte(ms[0].Data), &ua) != nil || ua.Reason != "timeout" || ua.Group != "g" {
			t.Fatalf("unpinned advisory: %q", ms)
		}
		got = b.take()
		if data(got) != "c" || pinOf(got[0]) == "" || pinOf(got[0]) == pin {
			t.Fatalf("standby after the timeout: %q", got)
		}
		pin2 := pinOf(got[0])
		req("_INBOX.a", pin, 1)
		if got := a.take(); len(got) != 1 || got[0].status() != 423 {
			t.Fatalf("old pin after the timeout: %q", got)
		}

		// UNPIN: b's waiting request (old id) is ended, a new one is pinned.
		req("_INBOX.b", pin2, 1)
		for _, tc := range []struct {
			group string
			code  jsapi.ErrCode
		}{{"", jsapi.ErrCodeInvalidJSON}, {"a.b", jsapi.ErrCodeConsumerInvalidGroupName}, {"h", jsapi.ErrCodeConsumerInvalidPriorityGroup}} {
			if aerr := e.set.Unpin("D", tc.group); aerr == nil || aerr.ErrCode != tc.code {
				t.Fatalf("unpin %q: %v", tc.group, aerr)
			}
		}
		if aerr := e.set.Unpin("nope", "g"); aerr == nil || aerr.ErrCode != jsapi.ErrCodeConsumerNotFound {
			t.Fatalf("unpin of a missing consumer: %v", aerr)
		}
		if aerr := e.set.Unpin("D", "g"); aerr != nil {
			t.Fatal(aerr)
		}
		if ms := unpinned.take(); len(ms) != 1 || !strings.Contains(ms[0].Data, `"reason":"admin"`) {
			t.Fatalf("unpin advisory: %q", ms)
		}
		if ci := e.info("D"); ci.PriorityGroups[0].PinnedClientID != "" {
			t.Fatalf("info after unpin: %+v", ci.PriorityGroups)
		}
		req("_INBOX.c", "", 1)
		e.pub("s.x", "d")
		if got := b.take(); len(got) != 1 || statusLine(got[0]) != "NATS/1.0 423 Nats-Wrong-Pin-Id" || !contains(got[0].Hdr, "Nats-Pending-Messages: 1") {
			t.Fatalf("waiting request with the old pin: %q", got)
		}
		got = c.take()
		if data(got) != "d" || pinOf(got[0]) == "" || pinOf(got[0]) == pin2 {
			t.Fatalf("after unpin: %q", got)
		}
		pin3 := pinOf(got[0])

		e.restart()
		if ci := e.info("D"); ci.PriorityGroups[0].PinnedClientID != pin3 {
			t.Fatalf("pin after a restart: %+v", ci.PriorityGroups)
		}
		c = e.sub("_INBOX.c")
		b = e.sub("_INBOX.b")
		e.pub("s.x", "e")
		req("_INBOX.b", "", 1)
		req("_INBOX.c", pin3, 1)
		if got := c.take(); data(got) != "e" || pinOf(got[0]) != pin3 {
			t.Fatalf("pinned client after a restart: %q", got)
		}
		if got := b.take(); len(got) != 0 {
			t.Fatalf("standby after a restart: %q", got)
		}
	})
}

// TestPriorityPrioritized: waiting requests are served lowest priority
// first, in arrival order within a priority.
func TestPriorityPrioritized(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, PriorityPolicy: jsapi.PriorityPrioritized, PriorityGroups: []string{"g"}})
		var ins []*inbox
		for i, p := range []int{5, 1, 3, 1} {
			subj := "_INBOX." + string(rune('a'+i))
			ins = append(ins, e.sub(subj))
			e.next("D", subj, jsapi.NextRequest{Batch: 1, Expires: time.Minute, PriorityGroup: jsapi.PriorityGroup{Group: "g", Priority: p}})
		}
		synctestWait()
		var order []string
		for _, d := range []string{"m1", "m2", "m3", "m4"} {
			e.pub("s.x", d)
			for i, in := range ins {
				for _, m := range in.take() {
					order = append(order, string(rune('a'+i))+"="+m.Data)
				}
			}
		}
		if got := strings.Join(order, " "); got != "b=m1 d=m2 c=m3 a=m4" {
			t.Fatalf("order: %s", got)
		}
	})
}

// TestReplicatedPauseAndPin: the pause and the pin of a replicated
// stream's durable are in the Store, so the member that takes over the
// leadership keeps both.
func TestReplicatedPauseAndPin(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.set.Close()
		store := newMemStore()
		newSet := func() *Set {
			set, err := NewSet(Env{Server: e.srv.GlobalAccount(), Clock: broker.SystemClock{}, Store: store}, e.st, e.dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := set.SetActive(true); err != nil {
				t.Fatal(err)
			}
			return set
		}
		e.set = newSet()
		e.pub("s.x", "a")
		e.pub("s.x", "b")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, PriorityPolicy: jsapi.PriorityPinnedClient, PriorityGroups: []string{"g"}})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 1, Expires: time.Minute, PriorityGroup: jsapi.PriorityGroup{Group: "g"}})
		got := in.take()
		if data(got) != "a" {
			t.Fatalf("first: %q", data(got))
		}
		pin := pinOf(got[0])
		until := time.Now().Add(time.Hour)
		if _, aerr := e.set.Pause("D", until); aerr != nil {
			t.Fatal(aerr)
		}
		sleep(100 * time.Millisecond) // a state write (every 20 ms at most)
		if err := e.set.SetActive(false); err != nil {
			t.Fatal(err)
		}
		e.set.Close()
		e.set = newSet()
		ci := e.info("D")
		if !ci.Paused || !ci.Config.PauseUntil.Equal(until) || ci.PriorityGroups[0].PinnedClientID != pin {
			t.Fatalf("on the new leader: paused %v until %v pin %+v", ci.Paused, ci.Config.PauseUntil, ci.PriorityGroups)
		}
		if _, aerr := e.set.Pause("D", time.Time{}); aerr != nil {
			t.Fatal(aerr)
		}
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 1, Expires: time.Minute, PriorityGroup: jsapi.PriorityGroup{Group: "g", ID: pin}})
		if got := in.take(); data(got) != "b" || pinOf(got[0]) != pin {
			t.Fatalf("pinned client on the new leader: %q", got)
		}
	})
}

func TestStatePinRoundTrip(t *testing.T) {
	for _, maxed := range [][]uint64{nil, {3, 9}} {
		st := &savedState{next: 9, dcseq: 7, dsseq: 8, pending: []pendingRec{{sseq: 5, cseq: 4, ts: 11, dc: 2}},
			maxed: maxed, pin: "PINID", pinGroup: "grp", pinnedAt: 12345}
		b := appendState(nil, st)
		if string(b[:8]) != stateMagic3 {
			t.Fatalf("magic %q", b[:8])
		}
		got, err := decodeState(b)
		if err != nil || got.pin != "PINID" || got.pinGroup != "grp" || got.pinnedAt != 12345 || len(got.maxed) != len(maxed) || len(got.pending) != 1 {
			t.Fatalf("got %+v, %v", got, err)
		}
		for i := range b {
			c := append([]byte(nil), b...)
			c[i] ^= 0x40
			if _, err := decodeState(c); err == nil {
				t.Fatalf("flipped byte %d not detected", i)
			}
		}
		if _, err := decodeState(b[:len(b)-1]); err == nil {
			t.Fatal("truncation not detected")
		}
	}
}

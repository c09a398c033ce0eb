package consumer

import (
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// pull1 asks for one message and returns what came.
func (e *tenv) pull1(name string, in *inbox) []rmsg {
	e.next(name, in.subject, jsapi.NextRequest{Batch: 1, NoWait: true})
	return in.take()
}

func TestAckWaitRedeliveryAndMaxDeliver(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", "a")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: time.Second, MaxDeliver: 2})
		in := e.sub("_INBOX.1")
		if got := data(e.pull1("D", in)); got != "a" {
			t.Fatalf("first: %q", got)
		}
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("before ack wait: %q", got)
		}
		sleep(1100 * time.Millisecond)
		got := e.pull1("D", in)
		if data(got) != "a" || got[0].meta(t).Delivered != 2 || got[0].meta(t).ConsumerSeq != 2 {
			t.Fatalf("redelivery: %q", got)
		}
		if ci := e.info("D"); ci.NumRedelivered != 1 || ci.NumAckPending != 1 {
			t.Fatalf("info %+v", ci)
		}
		sleep(1100 * time.Millisecond)
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("past max_deliver: %q", got)
		}
		if ci := e.info("D"); ci.NumAckPending != 0 || ci.AckFloor.Stream != 1 {
			t.Fatalf("info after max deliver %+v", ci)
		}
	})
}

func TestBackoff(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", "a")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit,
			BackOff: []time.Duration{time.Second, 3 * time.Second}})
		in := e.sub("_INBOX.1")
		e.pull1("D", in)
		sleep(1100 * time.Millisecond)
		if got := data(e.pull1("D", in)); got != "a" {
			t.Fatalf("after first backoff: %q", got)
		}
		sleep(2 * time.Second)
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("second backoff is 3s: %q", got)
		}
		sleep(1100 * time.Millisecond)
		if got := e.pull1("D", in); data(got) != "a" || got[0].meta(t).Delivered != 3 {
			t.Fatalf("third delivery: %q", got)
		}
	})
}

func TestNakProgressTerm(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", "a")
		e.pub("s.x", "b")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: 10 * time.Second})
		in := e.sub("_INBOX.1")
		a := e.pull1("D", in)[0]
		e.ack(a.Reply, "-NAK", "")
		synctestWait()
		if got := e.pull1("D", in); data(got) != "a" || got[0].meta(t).Delivered != 2 {
			t.Fatalf("nak redelivers first: %q", got)
		}
		a = e.pull1("D", in)[0] // b
		if a.Data != "b" {
			t.Fatalf("got %q", a.Data)
		}
		e.ack(a.Reply, `-NAK {"delay":2000000000}`, "")
		synctestWait()
		if got := data(e.pull1("D", in)); got != "<404>" {
			t.Fatalf("delayed nak: %q", got)
		}
		sleep(2100 * time.Millisecond)
		b := e.pull1("D", in)
		if data(b) != "b" {
			t.Fatalf("after nak delay: %q", data(b))
		}
		// +WPI pushes the deadline out.
		sleep(8 * time.Second)
		e.ack(b[0].Reply, "+WPI", "")
		sleep(5 * time.Second)
		if got := data(e.pull1("D", in)); got != "a" { // a's ack wait ran out, b's was extended
			t.Fatalf("after wpi: %q", got)
		}
		e.ack(b[0].Reply, "+TERM reason", "")
		synctestWait()
		if ci := e.info("D"); ci.NumAckPending != 1 {
			t.Fatalf("term: %+v", ci)
		}
	})
}

func TestAckAllAndAckNone(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		for range 4 {
			e.pub("s.x", "m")
		}
		e.create(jsapi.ConsumerConfig{Durable: "A", AckPolicy: jsapi.AckAll})
		e.create(jsapi.ConsumerConfig{Durable: "N", AckPolicy: jsapi.AckNone})
		in := e.sub("_INBOX.1")
		e.next("A", "_INBOX.1", jsapi.NextRequest{Batch: 4})
		got := in.take()
		if len(got) != 4 {
			t.Fatalf("got %d", len(got))
		}
		e.ack(got[2].Reply, "+ACK", "")
		synctestWait()
		if ci := e.info("A"); ci.NumAckPending != 1 || ci.AckFloor.Stream != 3 || ci.AckFloor.Consumer != 3 {
			t.Fatalf("ack all: %+v", ci)
		}
		e.next("N", "_INBOX.1", jsapi.NextRequest{Batch: 4})
		if len(in.take()) != 4 {
			t.Fatal("ack none batch")
		}
		if ci := e.info("N"); ci.NumAckPending != 0 || ci.AckFloor.Stream != 4 || ci.NumPending != 0 {
			t.Fatalf("ack none: %+v", ci)
		}
	})
}

func TestMaxAckPendingAndNext(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		for range 3 {
			e.pub("s.x", "m")
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, MaxAckPending: 1})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 3, Expires: time.Second})
		got := in.take()
		if len(got) != 1 {
			t.Fatalf("max ack pending: %d", len(got))
		}
		// +NXT acks and asks for one more.
		e.ack(got[0].Reply, "+NXT", "_INBOX.1")
		got = in.take()
		if len(got) != 1 || got[0].meta(t).StreamSeq != 2 {
			t.Fatalf("after ack the waiting request gets the next: %q", got)
		}
		e.ack(got[0].Reply, "+NXT", "_INBOX.1")
		got = in.take()
		// One goes to the first request, none left for the +NXT one until expiry.
		if len(got) != 1 || got[0].meta(t).StreamSeq != 3 {
			t.Fatalf("third: %q", got)
		}
	})
}

func TestHeadersOnly(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pubHdr("s.x", "NATS/1.0\r\nK: v\r\n\r\n", "hello")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckNone, HeadersOnly: true})
		in := e.sub("_INBOX.1")
		got := e.pull1("D", in)
		if len(got) < 1 || got[0].Data != "" || !contains(got[0].Hdr, "Nats-Msg-Size: 5") || !contains(got[0].Hdr, "K: v") {
			t.Fatalf("got %q", got)
		}
	})
}

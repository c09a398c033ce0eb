package consumer

import (
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

func TestPullBatchAckAndInfo(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		for _, d := range []string{"a", "b", "c"} {
			e.pub("s.x", d)
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 2, Expires: time.Second})
		got := in.take()
		if data(got) != "a b" {
			t.Fatalf("got %q", data(got))
		}
		if got[0].Subject != "s.x" {
			t.Fatalf("delivered under %q, want the stored subject", got[0].Subject)
		}
		m := got[1].meta(t)
		if m.Delivered != 1 || m.StreamSeq != 2 || m.ConsumerSeq != 2 || m.Pending != 1 || string(m.Consumer) != "D" || string(m.Stream) != "S" {
			t.Fatalf("meta %+v", m)
		}
		ci := e.info("D")
		if ci.NumAckPending != 2 || ci.NumPending != 1 || ci.Delivered.Consumer != 2 || ci.Delivered.Stream != 2 || ci.AckFloor.Stream != 0 {
			t.Fatalf("info %+v", ci)
		}
		e.ack(got[0].Reply, "+ACK", "")
		synctestWait()
		ci = e.info("D")
		if ci.NumAckPending != 1 || ci.AckFloor.Stream != 1 || ci.AckFloor.Consumer != 1 {
			t.Fatalf("after ack: %+v", ci)
		}
		// Double ack: the reply comes once the state is durable.
		ackIn := e.sub("_INBOX.ack")
		e.ack(got[1].Reply, "+ACK", "_INBOX.ack")
		if n := len(ackIn.take()); n != 1 {
			t.Fatalf("double ack replies: %d", n)
		}
		ci = e.info("D")
		if ci.NumAckPending != 0 || ci.AckFloor.Stream != 2 {
			t.Fatalf("after acks: %+v", ci)
		}
	})
}

func TestPullStatuses(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, MaxWaiting: 1})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 1, NoWait: true})
		if got := data(in.take()); got != "<404>" {
			t.Fatalf("no_wait on empty: %q", got)
		}
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 5, Expires: time.Second})
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 5, Expires: time.Second})
		if got := data(in.take()); got != "<409>" {
			t.Fatalf("max waiting: %q", got)
		}
		sleep(1100 * time.Millisecond)
		got := in.take()
		if data(got) != "<408>" || !contains(got[0].Hdr, "Nats-Pending-Messages: 5") {
			t.Fatalf("expiry: %q", got)
		}
		// A message arriving while a request waits is delivered to it.
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 2, Expires: time.Second, Heartbeat: 200 * time.Millisecond})
		sleep(250 * time.Millisecond)
		if got := in.take(); len(got) != 1 || got[0].status() != 100 {
			t.Fatalf("heartbeat: %q", got)
		}
		e.pub("s.x", "late")
		if got := data(in.take()); got != "late" {
			t.Fatalf("late: %q", got)
		}
		// Unknown consumer: no responders.
		e.next("nope", "_INBOX.1", jsapi.NextRequest{Batch: 1})
		if got := data(in.take()); got != "<503>" {
			t.Fatalf("unknown: %q", got)
		}
		// Bad request.
		e.set.Next("D", []byte("_INBOX.2"), []byte(`{"batch":`))
		bad := e.sub("_INBOX.2")
		e.set.Next("D", []byte("_INBOX.2"), []byte(`{"batch":`))
		if got := data(bad.take()); got != "<400>" {
			t.Fatalf("bad: %q", got)
		}
	})
}

func TestPullMaxBytes(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", string(make([]byte, 100)))
		e.pub("s.x", string(make([]byte, 100)))
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 10, MaxBytes: 50, Expires: time.Second})
		got := in.take()
		if len(got) != 1 || got[0].status() != 409 || !contains(got[0].Hdr, "Message Size Exceeds MaxBytes") {
			t.Fatalf("got %q", got)
		}
		// Room for exactly one message: it is delivered and the request ends.
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 10, MaxBytes: 250, Expires: time.Second})
		got = in.take()
		if len(got) != 2 || got[0].status() != 0 || got[1].status() != 409 {
			t.Fatalf("got %q", data(got))
		}
		sz := len(got[0].Subject) + len(got[0].Reply) + len(got[0].Data)
		if sz > 250 {
			t.Fatalf("delivered %d bytes past max_bytes", sz)
		}
	})
}

func TestNoWaitEndsAfterMessages(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.pub("s.x", "a")
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckNone})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 5, NoWait: true})
		if got := data(in.take()); got != "a <404>" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestPullOnPushConsumer(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.create(jsapi.ConsumerConfig{Durable: "P", DeliverSubject: "push.p", AckPolicy: jsapi.AckExplicit})
		in := e.sub("_INBOX.1")
		e.next("P", "_INBOX.1", jsapi.NextRequest{Batch: 1})
		if got := in.take(); len(got) != 1 || got[0].status() != 409 {
			t.Fatalf("got %q", got)
		}
	})
}

package consumer

import (
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

func TestInterestRetention(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(func(c *jsapi.StreamConfig) { c.Retention = jsapi.InterestPolicy }))
		e.pub("s.x", "nobody")
		synctestWait()
		if st := e.st.l.State(); st.Msgs != 0 {
			t.Fatalf("message without interest kept: %+v", st)
		}
		e.create(jsapi.ConsumerConfig{Durable: "A", AckPolicy: jsapi.AckExplicit})
		e.create(jsapi.ConsumerConfig{Durable: "B", AckPolicy: jsapi.AckExplicit})
		e.pub("s.x", "m")
		in := e.sub("_INBOX.1")
		e.next("A", "_INBOX.1", jsapi.NextRequest{Batch: 1})
		e.next("B", "_INBOX.1", jsapi.NextRequest{Batch: 1})
		got := in.take()
		if len(got) != 2 {
			t.Fatalf("got %d", len(got))
		}
		e.ack(got[0].Reply, "+ACK", "")
		synctestWait()
		if e.st.l.State().Msgs != 1 {
			t.Fatal("removed before every consumer acked")
		}
		e.ack(got[1].Reply, "+ACK", "")
		synctestWait()
		if e.st.l.State().Msgs != 0 {
			t.Fatal("not removed after every consumer acked")
		}
		// Deleting the only consumer that still needs a message removes it.
		e.pub("s.x", "m2")
		if err := e.set.Delete("B"); err != nil {
			t.Fatal(err)
		}
		synctestWait()
		if e.st.l.State().Msgs != 1 {
			t.Fatal("A still needs it")
		}
		if err := e.set.Delete("A"); err != nil {
			t.Fatal(err)
		}
		synctestWait()
		if e.st.l.State().Msgs != 0 {
			t.Fatal("kept after last interested consumer was deleted")
		}
	})
}

func TestWorkQueueRetention(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(func(c *jsapi.StreamConfig) { c.Retention = jsapi.WorkQueuePolicy }))
		e.pub("s.x", "job")
		synctestWait()
		if e.st.l.State().Msgs != 1 {
			t.Fatal("workqueue message removed without a consumer")
		}
		e.create(jsapi.ConsumerConfig{Durable: "W", AckPolicy: jsapi.AckExplicit, FilterSubject: "s.x"})
		for _, c := range []struct {
			cfg  jsapi.ConsumerConfig
			code jsapi.ErrCode
		}{
			{jsapi.ConsumerConfig{Durable: "X", AckPolicy: jsapi.AckExplicit, FilterSubject: "s.*"}, jsapi.ErrCodeConsumerWQConsumerNotUnique},
			{jsapi.ConsumerConfig{Durable: "Y", AckPolicy: jsapi.AckExplicit}, jsapi.ErrCodeConsumerWQConsumerNotUnique},
			{jsapi.ConsumerConfig{Durable: "Z", AckPolicy: jsapi.AckAll, FilterSubject: "s.z"}, jsapi.ErrCodeConsumerWQRequiresExplicitAck},
			{jsapi.ConsumerConfig{Durable: "Z", AckPolicy: jsapi.AckExplicit, FilterSubject: "s.z", DeliverPolicy: jsapi.DeliverNew}, jsapi.ErrCodeConsumerWQConsumerNotDeliverAll},
			{jsapi.ConsumerConfig{Durable: "Z", AckPolicy: jsapi.AckNone, FilterSubject: "s.z"}, jsapi.ErrCodeConsumerPullRequiresAck},
		} {
			if _, err := e.tryCreate(c.cfg, jsapi.ActionCreateOrUpdate); err == nil || err.ErrCode != c.code {
				t.Errorf("%+v: got %v, want %d", c.cfg, err, c.code)
			}
		}
		in := e.sub("_INBOX.1")
		e.next("W", "_INBOX.1", jsapi.NextRequest{Batch: 1, Expires: time.Second})
		got := in.take()
		e.ack(got[0].Reply, "+ACK", "")
		synctestWait()
		if e.st.l.State().Msgs != 0 {
			t.Fatal("acked work item kept")
		}
	})
}

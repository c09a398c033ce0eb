package consumer

import (
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

func TestCreateErrors(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		now := time.Now()
		cases := []struct {
			name             string
			req              jsapi.CreateConsumerRequest
			subjName, filter string
			code             jsapi.ErrCode
		}{
			{"stream mismatch", jsapi.CreateConsumerRequest{Stream: "X"}, "", "", jsapi.ErrCodeStreamMismatch},
			{"durable in legacy ephemeral", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{Durable: "D"}}, "", "", jsapi.ErrCodeConsumerEphemeralWithDurableName},
			{"durable mismatch", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{Durable: "D"}}, "E", "", jsapi.ErrCodeConsumerDurableNameNotMatchSubject},
			{"filter mismatch", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{FilterSubject: "s.a"}}, "E", "s.b", jsapi.ErrCodeConsumerCreateFilterSubjectMismatch},
			{"bad durable", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{Durable: "a.b"}}, "", "", jsapi.ErrCodeConsumerEphemeralWithDurableName},
			{"wildcard deliver", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverSubject: "d.*"}}, "", "", jsapi.ErrCodeConsumerDeliverToWildcards},
			{"deliver cycle", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverSubject: "s.loop"}}, "", "", jsapi.ErrCodeConsumerDeliverCycle},
			{"hb on pull", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{Heartbeat: time.Second}}, "", "", jsapi.ErrCodeConsumerHBRequiresPush},
			{"fc on pull", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{FlowControl: true}}, "", "", jsapi.ErrCodeConsumerFCRequiresPush},
			{"fc without hb", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverSubject: "d", FlowControl: true}}, "", "", jsapi.ErrCodeConsumerWithFlowControlNeedsHB},
			{"small hb", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverSubject: "d", Heartbeat: time.Millisecond}}, "", "", jsapi.ErrCodeConsumerSmallHeartbeat},
			{"max waiting push", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverSubject: "d", MaxWaiting: 3}}, "", "", jsapi.ErrCodeConsumerPushMaxWaiting},
			{"filter outside stream", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{FilterSubject: "t.x"}}, "", "", jsapi.ErrCodeConsumerFilterNotSubset},
			{"both filters", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{FilterSubject: "s.a", FilterSubjects: []string{"s.b"}}}, "", "", jsapi.ErrCodeConsumerDuplicateFilterSubjects},
			{"overlapping filters", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{FilterSubjects: []string{"s.*", "s.b"}}}, "", "", jsapi.ErrCodeConsumerOverlappingSubjectFilters},
			{"empty filter", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{FilterSubjects: []string{""}}}, "", "", jsapi.ErrCodeConsumerEmptyFilter},
			{"start seq with all", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{OptStartSeq: 3}}, "", "", jsapi.ErrCodeConsumerInvalidPolicy},
			{"by seq without seq", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverByStartSequence}}, "", "", jsapi.ErrCodeConsumerInvalidPolicy},
			{"by time with seq", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverByStartTime, OptStartTime: &now, OptStartSeq: 1}}, "", "", jsapi.ErrCodeConsumerInvalidPolicy},
			{"lps without filter", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverPolicy: jsapi.DeliverLastPerSubject}}, "", "", jsapi.ErrCodeConsumerInvalidPolicy},
			{"backoff vs max deliver", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{AckPolicy: jsapi.AckExplicit, MaxDeliver: 1, BackOff: []time.Duration{time.Second, time.Second}}}, "", "", jsapi.ErrCodeConsumerMaxDeliverBackoff},
			{"replicas", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{Replicas: 3}}, "", "", jsapi.ErrCodeConsumerReplicasExceedsStream},
			{"max ack pending ack none push", jsapi.CreateConsumerRequest{Config: jsapi.ConsumerConfig{DeliverSubject: "d", MaxAckPending: 5}}, "", "", jsapi.ErrCodeConsumerMaxPendingAckPolicyRequired},
		}
		for _, c := range cases {
			if c.req.Stream == "" {
				c.req.Stream = "S"
			}
			_, err := e.set.Create(&c.req, c.subjName, c.filter)
			if err == nil || err.ErrCode != c.code {
				t.Errorf("%s: got %v, want %d", c.name, err, c.code)
			}
		}
		if e.set.Count() != 0 {
			t.Fatalf("a failed create left a consumer: %v", e.set.Names())
		}
	})
}

func TestCreateDefaultsAndActions(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		ci := e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit})
		c := ci.Config
		if c.AckWait != 30*time.Second || c.MaxDeliver != -1 || c.MaxAckPending != 1000 || c.MaxWaiting != 512 || c.Name != "D" || c.InactiveThreshold != 0 {
			t.Fatalf("defaults %+v", c)
		}
		if _, err := e.tryCreate(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit}, jsapi.ActionCreate); err != nil {
			t.Fatalf("create with the same config: %v", err)
		}
		if _, err := e.tryCreate(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, Description: "x"}, jsapi.ActionCreate); err == nil || err.ErrCode != jsapi.ErrCodeConsumerAlreadyExists {
			t.Fatalf("create over a different config: %v", err)
		}
		if _, err := e.tryCreate(jsapi.ConsumerConfig{Durable: "N", AckPolicy: jsapi.AckExplicit}, jsapi.ActionUpdate); err == nil || err.ErrCode != jsapi.ErrCodeConsumerDoesNotExist {
			t.Fatalf("update of a missing consumer: %v", err)
		}
		in, err := e.tryCreate(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, MaxAckPending: 5, FilterSubject: "s.a"}, jsapi.ActionUpdate)
		if err != nil || in.Config.MaxAckPending != 5 || in.Config.FilterSubject != "s.a" {
			t.Fatalf("update: %+v %v", in, err)
		}
		if _, err := e.tryCreate(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckAll}, jsapi.ActionUpdate); err == nil || err.ErrCode != jsapi.ErrCodeConsumerCreate {
			t.Fatalf("ack policy change: %v", err)
		}
		e2 := e.create(jsapi.ConsumerConfig{AckPolicy: jsapi.AckExplicit})
		if e2.Config.InactiveThreshold != 5*time.Second {
			t.Fatalf("ephemeral default threshold: %v", e2.Config.InactiveThreshold)
		}
		if names := e.set.Names(); len(names) != 2 || len(e.set.List()) != 2 {
			t.Fatalf("names %v", names)
		}
		if err := e.set.Delete("nope"); err == nil || err.ErrCode != jsapi.ErrCodeConsumerNotFound {
			t.Fatalf("delete missing: %v", err)
		}
		if _, err := e.set.Info("nope"); err == nil || err.ErrCode != jsapi.ErrCodeConsumerNotFound {
			t.Fatalf("info missing: %v", err)
		}
		in2 := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 1, Expires: time.Minute})
		synctestWait()
		if err := e.set.Delete("D"); err != nil {
			t.Fatal(err)
		}
		if got := in2.take(); len(got) != 1 || got[0].status() != 409 || !contains(got[0].Hdr, "Consumer Deleted") {
			t.Fatalf("waiting request on delete: %q", got)
		}
	})
}

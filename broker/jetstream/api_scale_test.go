package jetstream_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// manySubjects returns n distinct literal subjects of a realistic length
// (60k of them make a create request of about 1.6 MiB).
func manySubjects(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s.region%d.item", prefix, i)
	}
	return s
}

// TestStreamCreateManySubjects: a stream with 60k subjects is created in
// well under a few seconds (the overlap checks were pairwise: 57 s of CPU),
// and the overlap checks against it and within a config still hold.
func TestStreamCreateManySubjects(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)
	subjects := manySubjects("orders", 60000)
	start := time.Now()
	_, err := js.AddStream(&nats.StreamConfig{Name: "BIG", Subjects: subjects}, nats.MaxWait(time.Minute))
	must(t, err)
	took := time.Since(start)
	t.Logf("create with %d subjects: %v", len(subjects), took)
	if took > 10*time.Second {
		t.Fatalf("create with %d subjects took %v", len(subjects), took)
	}
	for _, subj := range []string{"orders.region59999.item", "orders.*.item", "orders.region7.*", "orders.>", ">", "*.region3.item"} {
		_, err := js.AddStream(&nats.StreamConfig{Name: "OTHER", Subjects: []string{subj}, NoAck: subj == ">" || subj[0] == '*'})
		wantCode(t, err, 10065)
	}
	for _, subj := range []string{"orders.region1.other", "orders.*", "orders.region1.item.more", "orders.*.thing.>"} {
		_, err := js.AddStream(&nats.StreamConfig{Name: "OK" + fmt.Sprint(len(subj)), Subjects: []string{subj}})
		if err != nil {
			t.Fatalf("%q beside the big stream: %v", subj, err)
		}
	}
	// An update of the big stream is checked against the others, not itself.
	cfg := nats.StreamConfig{Name: "BIG", Subjects: append(subjects[:len(subjects):len(subjects)], "orders.extra.x.y")}
	_, err = js.UpdateStream(&cfg)
	must(t, err)
	cfg.Subjects = append(cfg.Subjects, "orders.region1.other")
	_, err = js.UpdateStream(&cfg)
	wantCode(t, err, 10065)
	// Within one config.
	_, err = js.AddStream(&nats.StreamConfig{Name: "SELF", Subjects: []string{"s.a.b", "s.c", "s.*.b"}})
	wantCode(t, err, 10052)
	if !strings.Contains(err.Error(), `subject "s.a.b" overlaps with "s.*.b"`) {
		t.Fatalf("overlap within a config: %v", err)
	}
	// A publish to the big stream's last subject is captured by it.
	ack, err := js.Publish("orders.region59999.item", []byte("x"))
	must(t, err)
	if ack.Stream != "BIG" {
		t.Fatalf("ack %+v", ack)
	}
}

// TestAPISlowCreateDoesNotStallOthers: while a create with many subjects is
// being served, another client's STREAM.INFO and STREAM.NAMES are answered
// at once (they used to queue behind it on the one API worker: 52.6 s for
// `nats stream ls`).
func TestAPISlowCreateDoesNotStallOthers(t *testing.T) {
	a := startServer(t, "", nil)
	nc1 := connect(t, a.ClientURL())
	nc2, js2 := legacy(t, a)
	_, err := js2.AddStream(&nats.StreamConfig{Name: "SMALL", Subjects: []string{"small"}})
	must(t, err)

	cfg, err := json.Marshal(&nats.StreamConfig{Name: "SLOW", Subjects: manySubjects("slow", 100000),
		Retention: nats.LimitsPolicy, Storage: nats.FileStorage, Replicas: 1})
	must(t, err)
	created := make(chan *nats.Msg, 1)
	sub, err := nc1.Subscribe("created.inbox", func(m *nats.Msg) { created <- m })
	must(t, err)
	defer sub.Unsubscribe()
	must(t, nc1.PublishRequest("$JS.API.STREAM.CREATE.SLOW", "created.inbox", cfg))
	// When the server has answered the PING behind it, the create has
	// been read and queued: it is being served from now on.
	must(t, nc1.Flush())

	for _, req := range []string{"$JS.API.STREAM.INFO.SMALL", "$JS.API.STREAM.NAMES", "$JS.API.INFO"} {
		m, err := nc2.Request(req, nil, 10*time.Second)
		must(t, err)
		if strings.Contains(string(m.Data), `"error"`) {
			t.Fatalf("%s: %s", req, m.Data)
		}
		select {
		case m := <-created:
			t.Fatalf("the slow create (%d bytes) was answered before %s: %.200s", len(cfg), req, m.Data)
		default:
		}
	}
	select {
	case m := <-created:
		if !strings.Contains(string(m.Data), `"did_create":true`) {
			t.Fatalf("create: %.300s", m.Data)
		}
	case <-time.After(time.Minute):
		t.Fatal("the slow create was not answered")
	}
}

// TestAPIStreamRequestsKeepOrder: requests about one stream sent without
// waiting for answers are served in order (create, update, consumer
// create, info), while the lanes of different streams are independent.
func TestAPIStreamRequestsKeepOrder(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	replies := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe("order.>", replies)
	must(t, err)
	defer sub.Unsubscribe()
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("ORD%d", i)
		create, _ := json.Marshal(&nats.StreamConfig{Name: name, Subjects: []string{name}, Storage: nats.FileStorage, Replicas: 1})
		update, _ := json.Marshal(&nats.StreamConfig{Name: name, Subjects: []string{name}, Storage: nats.FileStorage, Replicas: 1, MaxMsgs: 10})
		cons, _ := json.Marshal(map[string]any{"stream_name": name, "config": map[string]any{"durable_name": "D", "ack_policy": "explicit"}})
		must(t, nc.PublishRequest("$JS.API.STREAM.CREATE."+name, "order."+name+".1", create))
		must(t, nc.PublishRequest("$JS.API.STREAM.UPDATE."+name, "order."+name+".2", update))
		must(t, nc.PublishRequest("$JS.API.CONSUMER.DURABLE.CREATE."+name+".D", "order."+name+".3", cons))
		must(t, nc.PublishRequest("$JS.API.STREAM.INFO."+name, "order."+name+".4", nil))
	}
	must(t, nc.Flush())
	for i := 0; i < 32; i++ {
		select {
		case m := <-replies:
			if strings.Contains(string(m.Data), `"error"`) {
				t.Fatalf("%s: %s", m.Subject, m.Data)
			}
			if strings.HasSuffix(m.Subject, ".4") && !strings.Contains(string(m.Data), `"max_msgs":10`) {
				t.Fatalf("info before the update: %s", m.Data)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of 32 replies", i)
		}
	}
}

// TestAPIRequestOverLimit: an API request over the internal message limit
// (8 MiB) is answered with a clear error, not left to time out with "no
// responders"; one over the old 1 MiB limit is served.
func TestAPIRequestOverLimit(t *testing.T) {
	a := startServer(t, "", nil)
	nc, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "HUGE", Subjects: []string{"huge"}, Description: strings.Repeat("d", 9<<20)})
	wantCode(t, err, 10003)
	if !strings.Contains(err.Error(), "exceeds the JetStream API limit") {
		t.Fatalf("error %v", err)
	}
	m, err := nc.Request("$JS.API.STREAM.NAMES", make([]byte, 9<<20), 10*time.Second)
	must(t, err)
	if !strings.Contains(string(m.Data), `"err_code":10003`) {
		t.Fatalf("names: %s", m.Data)
	}
	_, err = js.StreamInfo("HUGE")
	wantCode(t, err, 10059)
	// Over the old 1 MiB limit: taken.
	subjects := manySubjects("mid", 50000)
	if b, _ := json.Marshal(subjects); len(b) <= 1<<20 {
		t.Fatalf("request of %d bytes", len(b))
	}
	_, err = js.AddStream(&nats.StreamConfig{Name: "MID", Subjects: subjects})
	must(t, err)
}

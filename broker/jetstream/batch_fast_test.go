package jetstream_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// TestFastBatchPublisher: orbit.go's FastPublisher (what `nats bench js
// pub fast` runs) fills a stream through the flow-controlled protocol:
// every Add returns under the flow window, Commit's PubAck names the
// batch, its size and the last sequence, and Close commits a second batch
// by end-of-batch. File and memory streams.
func TestFastBatchPublisher(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, storage := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		name := "FB" + storage.String()
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: storage, AllowBatchPublish: true})
		must(t, err)
		var mu sync.Mutex
		var asyncErrs []error
		fp, err := jetstreamext.NewFastPublisher(js, jetstreamext.FastPublishFlowControl{Flow: 100, MaxOutstandingAcks: 2},
			jetstreamext.WithFastPublisherErrorHandler(func(err error) {
				mu.Lock()
				asyncErrs = append(asyncErrs, err)
				mu.Unlock()
			}))
		must(t, err)
		const n = 2000
		for i := 1; i < n; i++ {
			ack, err := fp.Add(name+".x", []byte(strconv.Itoa(i)))
			if err != nil {
				t.Fatalf("%s: add %d: %v", name, i, err)
			}
			if ack.BatchSequence != uint64(i) {
				t.Fatalf("%s: add %d: %+v", name, i, ack)
			}
		}
		ack, err := fp.Commit(ctx, name+".x", []byte("last"))
		must(t, err)
		if ack.Stream != name || ack.Sequence != n || ack.BatchSize != n || ack.BatchID == "" {
			t.Fatalf("%s: commit ack %+v", name, ack)
		}
		if got := streamMsgs(t, s); got != n {
			t.Fatalf("%s: %d messages, want %d", name, got, n)
		}
		m, err := s.GetMsg(ctx, 1500)
		must(t, err)
		if string(m.Data) != "1500" {
			t.Fatalf("%s: message 1500 %q", name, m.Data)
		}

		// A second batch ended by Close (commit by end-of-batch).
		fp, err = jetstreamext.NewFastPublisher(js)
		must(t, err)
		for i := 0; i < 10; i++ {
			_, err := fp.Add(name+".y", []byte("y"))
			must(t, err)
		}
		ack, err = fp.Close(ctx)
		must(t, err)
		if ack.Sequence != n+10 || ack.BatchSize != 10 {
			t.Fatalf("%s: close ack %+v", name, ack)
		}
		mu.Lock()
		if len(asyncErrs) > 0 {
			t.Fatalf("%s: async errors %v", name, asyncErrs)
		}
		mu.Unlock()
	}
}

// TestFastBatchErrors: nats-server's answers to fast-batch messages that
// cannot be taken: a stream without allow_batched 10205, a malformed reply
// pattern 10206, an unknown batch 10208; under gap "fail" a refused
// message ends the batch with an error flow message and the PubAck of what
// was stored; a gap is reported.
func TestFastBatchErrors(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "FP", Subjects: []string{"fp.>"}})
	must(t, err)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FE", Subjects: []string{"fe.>"}, AllowBatchPublish: true})
	must(t, err)

	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox + ".>")
	must(t, err)
	next := func() map[string]any {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		must(t, err)
		var v map[string]any
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("reply %q", m.Data)
		}
		return v
	}
	code := func(v map[string]any) int {
		e, _ := v["error"].(map[string]any)
		c, _ := e["err_code"].(float64)
		return int(c)
	}
	pub := func(subj, id string, seq, op int, hdr ...string) {
		t.Helper()
		m := nats.NewMsg(subj)
		m.Data = []byte("d")
		m.Reply = inbox + "." + id + ".10.fail." + strconv.Itoa(seq) + "." + strconv.Itoa(op) + ".$FI"
		for i := 0; i+1 < len(hdr); i += 2 {
			m.Header.Set(hdr[i], hdr[i+1])
		}
		must(t, nc.PublishMsg(m))
	}
	pub("fp.a", "b0", 1, 0)
	if v := next(); code(v) != 10205 {
		t.Fatalf("plain stream: %v", v)
	}
	bad := nats.NewMsg("fe.a")
	bad.Reply = inbox + ".x.$FI"
	must(t, nc.PublishMsg(bad))
	if v := next(); code(v) != 10206 {
		t.Fatalf("bad pattern: %v", v)
	}
	pub("fe.a", "nobatch", 5, 1)
	if v := next(); code(v) != 10208 {
		t.Fatalf("unknown batch: %v", v)
	}

	// b1: two messages, a refused third (wrong expected last sequence).
	pub("fe.a", "b1", 1, 0)
	if v := next(); v["type"] != "ack" || v["seq"] != 0.0 {
		t.Fatalf("first flow ack %v", v)
	}
	pub("fe.a", "b1", 2, 1)
	pub("fe.a", "b1", 3, 1, "Nats-Expected-Last-Sequence", "99")
	var gotErr, gotAck bool
	for !gotAck {
		v := next()
		switch {
		case v["type"] == "err":
			gotErr = code(v) == 10071 && v["seq"] == 3.0
		case v["type"] == "ack":
		case v["type"] == nil:
			if v["batch"] != "b1" || v["count"] != 2.0 || v["seq"] != 2.0 {
				t.Fatalf("PubAck after the refusal %v", v)
			}
			gotAck = true
		}
	}
	if !gotErr {
		t.Fatal("no error flow message for the refused message")
	}
	// b2: a gap under "fail" ends the batch.
	pub("fe.a", "b2", 1, 0)
	next()
	pub("fe.a", "b2", 3, 1)
	if v := next(); v["type"] != "gap" || v["last_seq"] != 2.0 || v["seq"] != 3.0 {
		t.Fatalf("gap %v", v)
	}
	if v := next(); v["batch"] != "b2" || v["count"] != 1.0 || v["seq"] != 3.0 {
		t.Fatalf("PubAck after the gap %v", v)
	}
	if n := streamMsgs(t, s); n != 3 {
		t.Fatalf("%d messages, want 3", n)
	}
}

// TestAtomicBatchPublishMsgBatch: orbit.go's PublishMsgBatch (the atomic
// batch client) commits a batch and gets the batch PubAck.
func TestAtomicBatchPublishMsgBatch(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	s := atomicStream(t, nc, "AO", jetstream.FileStorage)
	js, err := jetstream.New(nc)
	must(t, err)
	var msgs []*nats.Msg
	for i := 0; i < 50; i++ {
		m := nats.NewMsg("AO." + strconv.Itoa(i%3))
		m.Data = []byte(strings.Repeat("m", i))
		msgs = append(msgs, m)
	}
	ack, err := jetstreamext.PublishMsgBatch(context.Background(), js, msgs)
	must(t, err)
	if ack.Stream != "AO" || ack.Sequence != 50 || ack.BatchSize != 50 {
		t.Fatalf("ack %+v", ack)
	}
	if n := streamMsgs(t, s); n != 50 {
		t.Fatalf("%d messages", n)
	}
}

package jetstream_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestLegacyStreamLifecycle drives STREAM.CREATE/INFO/UPDATE/NAMES/LIST/
// DELETE through nats.go's JetStreamContext, and the error codes of each.
func TestLegacyStreamLifecycle(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)

	si, err := js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.*"}})
	must(t, err)
	if si.Config.Storage != nats.FileStorage || si.Config.Replicas != 1 || si.Config.MaxMsgs != -1 ||
		si.Config.Duplicates != 2*time.Minute || si.State.Msgs != 0 || si.State.FirstSeq != 0 {
		t.Fatalf("defaults not filled: %+v %+v", si.Config, si.State)
	}
	// Same config again: idempotent.
	if _, err := js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.*"}}); err != nil {
		t.Fatalf("idempotent create: %v", err)
	}
	// Different config, same name: 10058.
	_, err = js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, MaxMsgs: 5})
	wantCode(t, err, 10058)
	// Overlapping subjects with another stream: 10065.
	_, err = js.AddStream(&nats.StreamConfig{Name: "OTHER", Subjects: []string{"orders.new"}})
	wantCode(t, err, 10065)
	// Replicas > 1 until replication lands: 10074.
	_, err = js.AddStream(&nats.StreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 3})
	wantCode(t, err, 10074)
	// Invalid config: 10052.
	_, err = js.AddStream(&nats.StreamConfig{Name: "BAD", Subjects: []string{"a..b"}})
	wantCode(t, err, 10052)
	_, err = js.AddStream(&nats.StreamConfig{Name: "AGE", Subjects: []string{"age"}, MaxAge: time.Millisecond})
	wantCode(t, err, 10052)
	_, err = js.AddStream(&nats.StreamConfig{Name: "ROLL", Subjects: []string{"roll"}, DenyPurge: true, AllowRollup: true})
	wantCode(t, err, 10052)

	_, err = js.AddStream(&nats.StreamConfig{Name: "MEM", Subjects: []string{"mem.>"}, Storage: nats.MemoryStorage})
	must(t, err)

	// Update limits; immutable fields are refused.
	si, err = js.UpdateStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.*", "returns"}, MaxMsgs: 100})
	must(t, err)
	if si.Config.MaxMsgs != 100 || len(si.Config.Subjects) != 2 {
		t.Fatalf("update not applied: %+v", si.Config)
	}
	if _, err := js.Publish("returns", []byte("r")); err != nil {
		t.Fatalf("publish on a subject added by update: %v", err)
	}
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.*"}, Storage: nats.MemoryStorage})
	wantCode(t, err, 10052)
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "NOPE", Subjects: []string{"nope"}})
	wantCode(t, err, 10059)
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"mem.x"}})
	wantCode(t, err, 10065)

	var names []string
	for n := range js.StreamNames() {
		names = append(names, n)
	}
	if strings.Join(names, ",") != "MEM,ORDERS" {
		t.Fatalf("names %v", names)
	}
	var infos []string
	for s := range js.Streams() {
		infos = append(infos, s.Config.Name)
	}
	if strings.Join(infos, ",") != "MEM,ORDERS" {
		t.Fatalf("list %v", infos)
	}
	if n, err := js.StreamNameBySubject("orders.x"); err != nil || n != "ORDERS" {
		t.Fatalf("by subject: %q %v", n, err)
	}

	_, err = js.StreamInfo("NOPE")
	if err != nats.ErrStreamNotFound {
		t.Fatalf("info of missing stream: %v", err)
	}
	must(t, js.DeleteStream("MEM"))
	if err := js.DeleteStream("MEM"); err != nats.ErrStreamNotFound {
		t.Fatalf("second delete: %v", err)
	}
	ai, err := js.AccountInfo()
	must(t, err)
	if ai.Streams != 1 || ai.Limits.MaxMemory != -1 {
		t.Fatalf("account info %+v", ai)
	}
}

// TestLegacyPublishGetDeletePurge covers Publish, PublishAsync, GetMsg,
// GetLastMsg, DeleteMsg and PurgeStream with filter, seq and keep.
func TestLegacyPublishGetDeletePurge(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	must(t, err)
	for i := 1; i <= 5; i++ {
		ack, err := js.Publish(fmt.Sprintf("s.%d", i%2), []byte(fmt.Sprint("m", i)))
		must(t, err)
		if ack.Stream != "S" || ack.Sequence != uint64(i) {
			t.Fatalf("ack %+v", ack)
		}
	}
	var futures []nats.PubAckFuture
	for i := 6; i <= 50; i++ {
		f, err := js.PublishAsync("s.a", []byte(fmt.Sprint("m", i)))
		must(t, err)
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		t.Fatal("async publishes not acknowledged")
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Sequence != uint64(i+6) {
				t.Fatalf("async ack %d seq %d", i, ack.Sequence)
			}
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	m, err := js.GetMsg("S", 3)
	must(t, err)
	if m.Subject != "s.1" || string(m.Data) != "m3" || m.Sequence != 3 || m.Time.IsZero() {
		t.Fatalf("get %+v", m)
	}
	m, err = js.GetLastMsg("S", "s.0")
	must(t, err)
	if m.Sequence != 4 {
		t.Fatalf("last for s.0: %d", m.Sequence)
	}
	_, err = js.GetMsg("S", 999)
	if err != nats.ErrMsgNotFound {
		t.Fatalf("missing msg: %v", err)
	}
	must(t, js.DeleteMsg("S", 3))
	err = js.DeleteMsg("S", 3)
	wantCode(t, err, 10043)
	if _, err := js.GetMsg("S", 3); err != nats.ErrMsgNotFound {
		t.Fatalf("deleted msg: %v", err)
	}
	si, err := js.StreamInfo("S", &nats.StreamInfoRequest{DeletedDetails: true, SubjectsFilter: ">"})
	must(t, err)
	if si.State.Msgs != 49 || si.State.NumDeleted != 1 || len(si.State.Deleted) != 1 || si.State.Deleted[0] != 3 ||
		si.State.Subjects["s.a"] != 45 || si.State.NumSubjects != 3 {
		t.Fatalf("state %+v", si.State)
	}
	// Purge by subject, then keep, then seq.
	must(t, js.PurgeStream("S", &nats.StreamPurgeRequest{Subject: "s.0"}))
	si, _ = js.StreamInfo("S")
	if si.State.Msgs != 47 {
		t.Fatalf("after subject purge %d", si.State.Msgs)
	}
	must(t, js.PurgeStream("S", &nats.StreamPurgeRequest{Subject: "s.a", Keep: 10}))
	si, _ = js.StreamInfo("S")
	if si.State.Msgs != 12 {
		t.Fatalf("after keep purge %d", si.State.Msgs)
	}
	must(t, js.PurgeStream("S", &nats.StreamPurgeRequest{Sequence: 45}))
	si, _ = js.StreamInfo("S")
	if si.State.Msgs != 6 || si.State.FirstSeq != 45 {
		t.Fatalf("after seq purge %+v", si.State)
	}
	must(t, js.PurgeStream("S"))
	si, _ = js.StreamInfo("S")
	if si.State.Msgs != 0 || si.State.LastSeq != 50 || si.State.FirstSeq != 51 {
		t.Fatalf("after full purge %+v", si.State)
	}
	ack, err := js.Publish("s.z", []byte("after"))
	must(t, err)
	if ack.Sequence != 51 {
		t.Fatalf("seq after purge %d", ack.Sequence)
	}
}

// TestBadRequests: malformed and unknown API requests get clear errors and
// the server keeps serving.
func TestBadRequests(t *testing.T) {
	a := startServer(t, "", nil)
	nc, js := legacy(t, a)
	cases := []struct {
		subj, body string
		code       int
	}{
		{"$JS.API.STREAM.CREATE.X", "{not json", 10025},
		{"$JS.API.STREAM.CREATE.X", "", 10025},
		{"$JS.API.STREAM.CREATE.X", `{"name":"Y","subjects":["y"]}`, 10056},
		{"$JS.API.STREAM.CREATE.X", `{"name":"X","subjects":["x"],"retention":"bogus"}`, 10025},
		{"$JS.API.STREAM.UPDATE.X", `[1,2]`, 10025},
		{"$JS.API.STREAM.INFO.X", `{"subjects_filter":`, 10025},
		{"$JS.API.STREAM.INFO.X", ``, 10059},
		{"$JS.API.STREAM.MSG.GET.X", `{"seq":1}`, 10059},
		{"$JS.API.STREAM.NAMES", `"str"`, 10025},
		{"$JS.API.STREAM.BOGUS", ``, 10003},
		{"$JS.API.STREAM.PURGE.X", `{"seq":`, 10025},
	}
	for _, c := range cases {
		msg, err := nc.Request(c.subj, []byte(c.body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s %q: %v", c.subj, c.body, err)
		}
		var resp struct {
			Error *struct {
				Code    int    `json:"code"`
				ErrCode int    `json:"err_code"`
				Desc    string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(msg.Data, &resp); err != nil || resp.Error == nil {
			t.Fatalf("%s %q: reply %s", c.subj, c.body, msg.Data)
		}
		if resp.Error.ErrCode != c.code || resp.Error.Desc == "" {
			t.Fatalf("%s %q: error %+v, want %d", c.subj, c.body, resp.Error, c.code)
		}
	}
	// MSG.GET with no selector on an existing stream.
	_, err := js.AddStream(&nats.StreamConfig{Name: "X", Subjects: []string{"x"}})
	must(t, err)
	msg, err := nc.Request("$JS.API.STREAM.MSG.GET.X", []byte(`{}`), 5*time.Second)
	must(t, err)
	if !strings.Contains(string(msg.Data), `"err_code":10003`) {
		t.Fatalf("empty get: %s", msg.Data)
	}
	if _, err := js.Publish("x", []byte("still up")); err != nil {
		t.Fatalf("server unusable after bad requests: %v", err)
	}
}

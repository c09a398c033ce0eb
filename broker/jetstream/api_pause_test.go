package jetstream_test

import (
	"encoding/json"
	"testing"
	"time"
)

// TestAPIPauseUnpinWire: the raw PAUSE and UNPIN answers, as nats-server
// gives them: a body that is not a JSON object resumes; a time in the past
// is kept but does not pause; UNPIN checks the group (10025, 10162) before
// the stream (10059), then the consumer (10014) and its groups (10160).
func TestAPIPauseUnpinWire(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	req := func(subj, body string) map[string]any {
		t.Helper()
		m, err := nc.Request(subj, []byte(body), 5*time.Second)
		must(t, err)
		var out map[string]any
		must(t, json.Unmarshal(m.Data, &out))
		return out
	}
	code := func(r map[string]any) int {
		e, _ := r["error"].(map[string]any)
		n, _ := e["err_code"].(float64)
		return int(n)
	}
	if r := req("$JS.API.STREAM.CREATE.W", `{"name":"W","subjects":["w.>"]}`); code(r) != 0 {
		t.Fatalf("stream: %v", r)
	}
	if r := req("$JS.API.CONSUMER.DURABLE.CREATE.W.D", `{"stream_name":"W","config":{"durable_name":"D","ack_policy":"explicit","priority_policy":"pinned_client","priority_groups":["g"]}}`); code(r) != 0 {
		t.Fatalf("consumer: %v", r)
	}
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	r := req("$JS.API.CONSUMER.PAUSE.W.D", `{"pause_until":"`+until+`"}`)
	if r["type"] != "io.nats.jetstream.api.v1.consumer_pause_response" || r["paused"] != true || r["pause_until"] != until || r["pause_remaining"] == nil {
		t.Fatalf("pause: %v", r)
	}
	if r := req("$JS.API.CONSUMER.PAUSE.W.D", "resume"); r["paused"] != false || r["pause_until"] != "0001-01-01T00:00:00Z" || r["pause_remaining"] != nil {
		t.Fatalf("resume with a non-JSON body: %v", r)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	if r := req("$JS.API.CONSUMER.PAUSE.W.D", `{"pause_until":"`+past+`"}`); r["paused"] != false || r["pause_until"] != past {
		t.Fatalf("pause in the past: %v", r)
	}
	if r := req("$JS.API.CONSUMER.PAUSE.W.X", `{}`); code(r) != 10014 {
		t.Fatalf("pause of a missing consumer: %v", r)
	}
	if r := req("$JS.API.CONSUMER.PAUSE.NOPE.D", `{}`); code(r) != 10059 {
		t.Fatalf("pause on a missing stream: %v", r)
	}
	for _, tc := range []struct {
		subj, body string
		code       int
	}{
		{"$JS.API.CONSUMER.UNPIN.NOPE.D", `{}`, 10025},
		{"$JS.API.CONSUMER.UNPIN.NOPE.D", `{"group":"a.b"}`, 10162},
		{"$JS.API.CONSUMER.UNPIN.NOPE.D", `{"group":"g"}`, 10059},
		{"$JS.API.CONSUMER.UNPIN.W.X", `{"group":"g"}`, 10014},
		{"$JS.API.CONSUMER.UNPIN.W.D", `{"group":"h"}`, 10160},
		{"$JS.API.CONSUMER.UNPIN.W.D", `{"group":"g"}`, 0},
	} {
		r := req(tc.subj, tc.body)
		if code(r) != tc.code || r["type"] != "io.nats.jetstream.api.v1.consumer_unpin_response" {
			t.Errorf("%s %s: %v, want %d", tc.subj, tc.body, r, tc.code)
		}
	}
}

package jetstream_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// incr publishes an increment (and any extra headers and payload) and
// returns the PubAck's val and err_code.
func incr(t *testing.T, nc *nats.Conn, subj, by string, payload string, hdr ...string) (string, int) {
	t.Helper()
	m := nats.NewMsg(subj)
	if by != "" {
		m.Header.Set("Nats-Incr", by)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	m.Data = []byte(payload)
	resp, err := nc.RequestMsg(m, 5*time.Second)
	must(t, err)
	var ack struct {
		Seq   uint64 `json:"seq"`
		Val   string `json:"val"`
		Error *struct {
			Code int `json:"err_code"`
		} `json:"error"`
	}
	must(t, json.Unmarshal(resp.Data, &ack))
	if ack.Error != nil {
		return "", ack.Error.Code
	}
	return ack.Val, 0
}

// TestCounters covers ADR-49 on an R1 stream: Nats-Incr adds to the
// subject's total (big, negative), stored as the body {"val":"<n>"} and
// returned in the PubAck's val; nats-server's refusals for a bad
// increment, a payload, a missing increment, an increment on another
// stream and incompatible headers; the config restrictions; the totals
// after a restart.
func TestCounters(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	nc := connect(t, a.ClientURL())
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, bad := range []jetstream.StreamConfig{
		{Name: "B1", AllowMsgCounter: true, Discard: jetstream.DiscardNew},
		{Name: "B2", AllowMsgCounter: true, AllowMsgTTL: true},
		{Name: "B3", AllowMsgCounter: true, Retention: jetstream.WorkQueuePolicy},
	} {
		_, err := js.CreateStream(ctx, bad)
		wantJSCode(t, err, 10052)
	}
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"p"}})
	must(t, err)
	if _, code := incr(t, nc, "p", "1", ""); code != 10168 {
		t.Fatalf("incr on a plain stream: %d", code)
	}

	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"c.>"}, AllowMsgCounter: true})
	must(t, err)
	if md := s.CachedInfo().Config.Metadata; md["_nats.req.level"] != "2" {
		t.Fatalf("required level %v", md)
	}
	for _, step := range []struct {
		subj, by string
		want     string
	}{
		{"c.a", "1", "1"}, {"c.a", "41", "42"}, {"c.b", "-5", "-5"}, {"c.a", "+8", "50"},
		{"c.b", "100000000000000000000000000000", "99999999999999999999999999995"},
	} {
		if got, code := incr(t, nc, step.subj, step.by, ""); code != 0 || got != step.want {
			t.Fatalf("incr %s by %s: %q (%d), want %q", step.subj, step.by, got, code, step.want)
		}
	}
	for _, tc := range []struct {
		by, payload string
		hdr         []string
		code        int
	}{
		{"x", "", nil, 10171},
		{"1.5", "", nil, 10171},
		{"1", "data", nil, 10170},
		{"", "", nil, 10169},
		{"1", "", []string{"Nats-Expected-Last-Sequence", "5"}, 10171},
		{"1", "", []string{"Nats-Rollup", "sub"}, 10171},
	} {
		if _, code := incr(t, nc, "c.a", tc.by, tc.payload, tc.hdr...); code != tc.code {
			t.Fatalf("incr %q %q %v: err_code %d, want %d", tc.by, tc.payload, tc.hdr, code, tc.code)
		}
	}
	m, err := s.GetLastMsgForSubject(ctx, "c.a")
	must(t, err)
	if string(m.Data) != `{"val":"50"}` || m.Header.Get("Nats-Incr") != "+8" {
		t.Fatalf("stored %q %v", m.Data, m.Header)
	}
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"c.>"}})
	wantJSCode(t, err, 10052)

	// Concurrent publishers on one subject: every increment counts (the
	// totals of messages not yet durable are the rules' pending ones).
	const pubs, each = 4, 100
	errs := make(chan error, pubs)
	for range pubs {
		pjs := newJS(t, a.ClientURL())
		go func() {
			for range each {
				m := nats.NewMsg("c.n")
				m.Header.Set("Nats-Incr", "1")
				if _, err := pjs.PublishMsgAsync(m); err != nil {
					errs <- err
					return
				}
			}
			select {
			case <-pjs.PublishAsyncComplete():
				errs <- nil
			case <-ctx.Done():
				errs <- ctx.Err()
			}
		}()
	}
	for range pubs {
		must(t, <-errs)
	}
	if got, code := incr(t, nc, "c.n", "0", ""); code != 0 || got != "400" {
		t.Fatalf("concurrent total %q (%d)", got, code)
	}

	stop(a)
	a = startServer(t, dir, nil)
	nc = connect(t, a.ClientURL())
	if got, code := incr(t, nc, "c.a", "-50", ""); code != 0 || got != "0" {
		t.Fatalf("after restart: %q (%d)", got, code)
	}
}

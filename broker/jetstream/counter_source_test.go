package jetstream_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestCounterSources covers ADR-49's sourced counters on R1 streams: a
// counter stream sourcing two counter streams (onto one subject) holds
// the sum of their totals, with the last total seen of each in
// Nats-Counter-Sources and the difference as the copy's Nats-Incr; a
// direct increment keeps the sources; later increments of the origins
// flow, also after a restart; a plain stream sourcing a counter stores
// the copies as they came.
func TestCounterSources(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	nc := connect(t, a.ClientURL())
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, name := range []string{"A", "B"} {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".cnt"}, AllowMsgCounter: true})
		must(t, err)
	}
	for _, step := range []struct{ subj, by string }{{"A.cnt", "3"}, {"A.cnt", "4"}, {"B.cnt", "10"}} {
		if _, code := incr(t, nc, step.subj, step.by, ""); code != 0 {
			t.Fatalf("incr %s: %d", step.subj, code)
		}
	}
	src := func(name string) *jetstream.StreamSource {
		return &jetstream.StreamSource{Name: name, SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: name + ".cnt", Destination: "agg.cnt"}}}
	}
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AGG", Subjects: []string{"agg.>"}, AllowMsgCounter: true,
		Sources: []*jetstream.StreamSource{src("A"), src("B")}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Sources: []*jetstream.StreamSource{{Name: "A"}}})
	must(t, err)

	// waitAgg waits for AGG's agg.cnt to hold want and returns its
	// newest message.
	waitAgg := func(want string) *jetstream.RawStreamMsg {
		t.Helper()
		var m *jetstream.RawStreamMsg
		eventually(t, 20*time.Second, "AGG at "+want, func() bool {
			s, err := js.Stream(ctx, "AGG")
			if err != nil {
				return false
			}
			m, err = s.GetLastMsgForSubject(ctx, "agg.cnt")
			return err == nil && string(m.Data) == `{"val":"`+want+`"}`
		})
		return m
	}
	sourcesOf := func(m *jetstream.RawStreamMsg) map[string]map[string]string {
		t.Helper()
		var cs map[string]map[string]string
		if err := json.Unmarshal([]byte(m.Header.Get("Nats-Counter-Sources")), &cs); err != nil {
			t.Fatalf("Nats-Counter-Sources %q: %v", m.Header.Get("Nats-Counter-Sources"), err)
		}
		return cs
	}
	m := waitAgg("17")
	if cs := sourcesOf(m); cs["A"]["A.cnt"] != "7" || cs["B"]["B.cnt"] != "10" || len(cs) != 2 {
		t.Fatalf("sources %v", cs)
	}
	if m.Header.Get("Nats-Stream-Source") == "" {
		t.Fatalf("copy headers %v", m.Header)
	}

	// A direct increment adds to the sum and keeps the sources.
	if got, code := incr(t, nc, "agg.cnt", "100", ""); code != 0 || got != "117" {
		t.Fatalf("direct incr: %q (%d)", got, code)
	}
	if _, code := incr(t, nc, "A.cnt", "-2", ""); code != 0 {
		t.Fatalf("incr A: %d", code)
	}
	m = waitAgg("115")
	if cs := sourcesOf(m); cs["A"]["A.cnt"] != "5" || cs["B"]["B.cnt"] != "10" {
		t.Fatalf("sources %v", cs)
	}
	if m.Header.Get("Nats-Incr") != "-2" {
		t.Fatalf("copy's Nats-Incr %q", m.Header.Get("Nats-Incr"))
	}

	// A plain stream stores the copies as they came.
	ps, err := js.Stream(ctx, "PLAIN")
	must(t, err)
	eventually(t, 20*time.Second, "PLAIN's copies", func() bool {
		pm, err := ps.GetLastMsgForSubject(ctx, "A.cnt")
		return err == nil && string(pm.Data) == `{"val":"5"}` && pm.Header.Get("Nats-Incr") == "-2" &&
			pm.Header.Get("Nats-Counter-Sources") == ""
	})

	stop(a)
	a = startServer(t, dir, nil)
	nc = connect(t, a.ClientURL())
	js = newJS(t, a.ClientURL())
	if _, code := incr(t, nc, "B.cnt", "5", ""); code != 0 {
		t.Fatalf("incr B after restart: %d", code)
	}
	m = waitAgg("120")
	if cs := sourcesOf(m); cs["A"]["A.cnt"] != "5" || cs["B"]["B.cnt"] != "15" {
		t.Fatalf("sources after restart %v", cs)
	}
	if got, code := incr(t, nc, "agg.cnt", "0", ""); code != 0 || got != "120" {
		t.Fatalf("total after restart: %q (%d)", got, code)
	}
}

// TestCounterSourcesRefused: a counter stream refuses a source's copy
// without Nats-Incr (10169), as nats-server; the source reports it and
// nothing is stored. (A copy whose body is not a counter's value, 10172,
// cannot be made through the API: TestRulesCounterSources covers it.)
func TestCounterSourcesRefused(t *testing.T) {
	a := startServer(t, t.TempDir(), nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "P", Subjects: []string{"p"}})
	must(t, err)
	_, err = js.Publish(ctx, "p", []byte("plain"))
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "C", AllowMsgCounter: true,
		Sources: []*jetstream.StreamSource{{Name: "P"}}})
	must(t, err)
	waitStream(t, ctx, js, "C", "the source's refusal", func(si *jetstream.StreamInfo) bool {
		return len(si.Sources) == 1 && si.Sources[0].Error != nil && si.Sources[0].Error.ErrorCode == 10169 && si.State.Msgs == 0
	})
}

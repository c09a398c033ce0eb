package jetstream_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAPILevelMetadata checks ADR-44: $JS.API.INFO's level, the
// _nats.req.level a stream's and a consumer's config get from the features
// they use, the server's _nats.ver and _nats.level in every response but
// never stored, and 10185 for a request asking for a higher level.
func TestAPILevelMetadata(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if on, lvl := nc.ConnectedServerJetStream(); !on || lvl != jsapi.BargeAPILevel || nc.ConnectedServerVersion() != broker.NATSVersion {
		t.Fatalf("INFO: jetstream %v api_lvl %d version %s", on, lvl, nc.ConnectedServerVersion())
	}
	ai, err := js.AccountInfo(ctx)
	must(t, err)
	if ai.API.Level != jsapi.BargeAPILevel {
		t.Fatalf("api level %d, want %d", ai.API.Level, jsapi.BargeAPILevel)
	}
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "L", Subjects: []string{"l.>"},
		Metadata: map[string]string{"owner": "me", "_nats.ver": "9.9.9", "_nats.level": "99"}})
	must(t, err)
	md := s.CachedInfo().Config.Metadata
	if md["owner"] != "me" || md["_nats.req.level"] != "0" || md["_nats.ver"] != broker.NATSVersion ||
		md["_nats.level"] != strconv.Itoa(jsapi.BargeAPILevel) {
		t.Fatalf("stream metadata %v", md)
	}
	// The stored config has no dynamic keys: the same create again is
	// idempotent, and its answer carries this server's.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "L", Subjects: []string{"l.>"},
		Metadata: map[string]string{"owner": "me"}})
	must(t, err)

	c, err := js.CreateConsumer(ctx, "L", jetstream.ConsumerConfig{Durable: "d"})
	must(t, err)
	cmd := c.CachedInfo().Config.Metadata
	if cmd["_nats.req.level"] != "0" || cmd["_nats.ver"] != broker.NATSVersion {
		t.Fatalf("consumer metadata %v", cmd)
	}

	// Nats-Required-Api-Level above the server's: 10185; at it: served.
	for _, tc := range []struct {
		level string
		code  int
	}{{strconv.Itoa(jsapi.BargeAPILevel + 1), 10185}, {"x", 10185}, {strconv.Itoa(jsapi.BargeAPILevel), 0}} {
		m := nats.NewMsg("$JS.API.STREAM.INFO.L")
		m.Header.Set("Nats-Required-Api-Level", tc.level)
		resp, err := nc.RequestMsg(m, 5*time.Second)
		must(t, err)
		var r struct {
			Error *struct {
				Code int `json:"err_code"`
			} `json:"error"`
		}
		must(t, json.Unmarshal(resp.Data, &r))
		got := 0
		if r.Error != nil {
			got = r.Error.Code
		}
		if got != tc.code {
			t.Fatalf("level %q: err_code %d, want %d (%s)", tc.level, got, tc.code, resp.Data)
		}
	}
}

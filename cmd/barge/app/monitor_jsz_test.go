package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go/jetstream"
)

// jsz is the part of /jsz the tests read.
type jsz struct {
	ServerID  string `json:"server_id"`
	Disabled  bool   `json:"disabled"`
	Memory    uint64 `json:"memory"`
	Storage   uint64 `json:"storage"`
	Accounts  int    `json:"accounts"`
	Streams   int    `json:"streams"`
	Consumers int    `json:"consumers"`
	Messages  uint64 `json:"messages"`
	Bytes     uint64 `json:"bytes"`
	Total     int    `json:"total"`
	API       struct {
		Level  int    `json:"level"`
		Total  uint64 `json:"total"`
		Errors uint64 `json:"errors"`
	} `json:"api"`
	Config struct {
		MaxMemory int64  `json:"max_memory"`
		MaxStore  int64  `json:"max_storage"`
		StoreDir  string `json:"store_dir"`
	} `json:"config"`
	AccountDetails []struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Storage uint64 `json:"storage"`
		Streams []struct {
			Name   string          `json:"name"`
			Config *map[string]any `json:"config"`
			State  struct {
				Msgs uint64 `json:"messages"`
			} `json:"state"`
			Consumers []struct {
				Name   string          `json:"name"`
				Config *map[string]any `json:"config"`
			} `json:"consumer_detail"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// httpStatus GETs url and returns the status code and body.
func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestJsz: /jsz counts the streams (file and memory), consumers, messages,
// bytes and API requests and errors; streams=true adds the global
// account's stream details without configs, consumers=true&config=true
// the consumers and the configs; a bad boolean is a 400; with JetStream
// off it says disabled.
func TestJsz(t *testing.T) {
	a := startServer(t, nil)
	nc := connect(t, a)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	file, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "F", Subjects: []string{"f.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"m.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"f.1", "f.2", "m.1"} {
		if _, err := js.Publish(ctx, subj, []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := file.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, "NOPE"); err == nil {
		t.Fatal("stream NOPE found")
	}

	var z jsz
	getJSON(t, a.MonitorURL()+"/jsz", &z)
	if z.Disabled || z.ServerID == "" || z.Streams != 2 || z.Consumers != 1 || z.Messages != 3 ||
		z.Bytes == 0 || z.Storage == 0 || z.Memory == 0 || z.Accounts != 1 || z.Total != 1 {
		t.Fatalf("/jsz %+v", z)
	}
	if z.API.Total < 4 || z.API.Errors < 1 {
		t.Fatalf("/jsz api %+v", z.API)
	}
	// No server-wide limits: 0, as the nats CLI reads -1 as 16 EiB.
	if z.Config.StoreDir == "" || z.Config.MaxMemory != 0 || z.Config.MaxStore != 0 {
		t.Fatalf("/jsz config %+v", z.Config)
	}
	if len(z.AccountDetails) != 0 {
		t.Fatalf("/jsz without options lists accounts: %+v", z.AccountDetails)
	}

	z = jsz{}
	getJSON(t, a.MonitorURL()+"/jsz?streams=true", &z)
	if len(z.AccountDetails) != 1 || z.AccountDetails[0].Name != "$G" || len(z.AccountDetails[0].Streams) != 2 {
		t.Fatalf("/jsz?streams=true %+v", z.AccountDetails)
	}
	f := z.AccountDetails[0].Streams[0]
	if f.Name != "F" || f.State.Msgs != 2 || f.Config != nil || len(f.Consumers) != 0 {
		t.Fatalf("/jsz?streams=true stream F %+v", f)
	}

	z = jsz{}
	getJSON(t, a.MonitorURL()+"/jsz?consumers=1&config=true", &z)
	f = z.AccountDetails[0].Streams[0]
	if f.Config == nil || len(f.Consumers) != 1 || f.Consumers[0].Name != "C" || f.Consumers[0].Config == nil {
		t.Fatalf("/jsz?consumers=1&config=true stream F %+v", f)
	}
	z = jsz{}
	getJSON(t, a.MonitorURL()+"/jsz?consumers=1", &z)
	if c := z.AccountDetails[0].Streams[0].Consumers; len(c) != 1 || c[0].Config != nil {
		t.Fatalf("/jsz?consumers=1: consumer config without config=true: %+v", c)
	}
	z = jsz{}
	getJSON(t, a.MonitorURL()+"/jsz?acc=$G", &z)
	if len(z.AccountDetails) != 1 || len(z.AccountDetails[0].Streams) != 0 {
		t.Fatalf("/jsz?acc=$G %+v", z.AccountDetails)
	}
	if code, body := httpStatus(t, a.MonitorURL()+"/jsz?streams=maybe"); code != 400 || !strings.Contains(body, "streams") {
		t.Fatalf("/jsz?streams=maybe: %d %q", code, body)
	}

	off := startServer(t, func(c *app.Config) { c.JetStream = false })
	z = jsz{}
	getJSON(t, off.MonitorURL()+"/jsz", &z)
	if !z.Disabled {
		t.Fatalf("/jsz with JetStream off: %+v", z)
	}
}

// subsz is the part of /subsz the tests read.
type subsz struct {
	NumSubs      int     `json:"num_subscriptions"`
	NumCache     int     `json:"num_cache"`
	NumInserts   int     `json:"num_inserts"`
	NumRemoves   int     `json:"num_removes"`
	NumMatches   int     `json:"num_matches"`
	CacheHitRate float64 `json:"cache_hit_rate"`
	MaxFanout    int     `json:"max_fanout"`
	AvgFanout    float64 `json:"avg_fanout"`
	Total        int     `json:"total"`
	Offset       int     `json:"offset"`
	Limit        int     `json:"limit"`
	Subs         []struct {
		Account string `json:"account"`
		Subject string `json:"subject"`
		Queue   string `json:"qgroup"`
		Sid     string `json:"sid"`
		Msgs    int64  `json:"msgs"`
		Max     int64  `json:"max"`
		Cid     uint64 `json:"cid"`
	} `json:"subscriptions_list"`
}

// TestSubsz: /subsz counts the subject index (subscriptions, inserts,
// removes, matches, cache and fanout); subs=1 lists the clients'
// subscriptions with their sid, queue, messages and max; test=<subject>
// keeps those a message on it reaches; offset and limit page; a wildcard
// test subject is a 400.
func TestSubsz(t *testing.T) {
	a := startServer(t, func(c *app.Config) { c.JetStream = false })
	nc := connect(t, a)
	for _, s := range []struct{ subj, queue string }{{"a.b", ""}, {"a.*", ""}, {"a.>", "q"}, {"x", ""}} {
		var err error
		if s.queue == "" {
			_, err = nc.SubscribeSync(s.subj)
		} else {
			_, err = nc.QueueSubscribeSync(s.subj, s.queue)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	gone, _ := nc.SubscribeSync("gone")
	_ = gone.Unsubscribe()
	limited, _ := nc.SubscribeSync("lim")
	_ = limited.AutoUnsubscribe(5)
	for range 3 {
		_ = nc.Publish("a.b", []byte("x"))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	var z subsz
	// The global account's index: the system account's own requests are
	// counted in the total, as in nats-server; the account has one of its
	// own, $SYS.REQ.USER.INFO's answerer.
	getJSON(t, a.MonitorURL()+"/subsz?acc=%24G", &z)
	if z.NumSubs != 6 || z.NumInserts != 7 || z.NumRemoves != 1 || z.NumMatches < 3 || z.NumCache < 1 ||
		z.MaxFanout != 3 || z.CacheHitRate <= 0 || z.AvgFanout <= 0 || z.Limit != 1024 || len(z.Subs) != 0 {
		t.Fatalf("/subsz %+v", z)
	}

	z = subsz{}
	getJSON(t, a.MonitorURL()+"/subsz?subs=1", &z)
	if z.Total != 5 || len(z.Subs) != 5 {
		t.Fatalf("/subsz?subs=1 %+v", z)
	}
	bySubject := map[string]int{}
	for i, s := range z.Subs {
		bySubject[s.Subject] = i
		if s.Cid == 0 || s.Sid == "" || s.Account != "$G" {
			t.Fatalf("/subsz?subs=1 entry %+v", s)
		}
	}
	if s := z.Subs[bySubject["a.b"]]; s.Msgs != 3 {
		t.Fatalf("a.b got %d messages, want 3", s.Msgs)
	}
	if s := z.Subs[bySubject["a.>"]]; s.Queue != "q" || s.Msgs != 3 {
		t.Fatalf("a.> entry %+v", s)
	}
	if s := z.Subs[bySubject["lim"]]; s.Max != 5 {
		t.Fatalf("lim entry %+v", s)
	}

	z = subsz{}
	getJSON(t, a.MonitorURL()+"/subsz?subs=1&test=a.b", &z)
	if z.Total != 3 || len(z.Subs) != 3 {
		t.Fatalf("/subsz?test=a.b %+v", z)
	}
	for _, s := range z.Subs {
		if !strings.HasPrefix(s.Subject, "a.") {
			t.Fatalf("/subsz?test=a.b lists %q", s.Subject)
		}
	}
	z = subsz{}
	getJSON(t, a.MonitorURL()+"/subsz?subs=1&offset=1&limit=2", &z)
	if z.Total != 5 || len(z.Subs) != 2 || z.Offset != 1 || z.Limit != 2 {
		t.Fatalf("/subsz?offset=1&limit=2 %+v", z)
	}
	if code, body := httpStatus(t, a.MonitorURL()+"/subsz?subs=1&test=a.*"); code != 400 || !strings.Contains(body, "invalid test subject") {
		t.Fatalf("/subsz?test=a.*: %d %q", code, body)
	}
	if code, _ := httpStatus(t, a.MonitorURL()+"/subsz?subs=x"); code != 400 {
		t.Fatalf("/subsz?subs=x: %d", code)
	}
}

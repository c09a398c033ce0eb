package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// TestDamagedMessageReported flips a bit in the payload of a message in an
// older (sealed) segment while the server is down. After restart the
// background verification finds it: the server log names the segment and
// the sequence, stream info lists it in state.lost, /varz counts it, a get
// answers a distinct error (not "no message found"), and a consumer skips
// it without wedging.
func TestDamagedMessageReported(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *app.Config) { c.StoreDir = dir; c.LogFile = dir + "/barge.log"; c.SegmentSize = 32 << 10 }
	a := startServer(t, cfg)
	nc := connect(t, a)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "V", Subjects: []string{"v.>"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddConsumer("V", &nats.ConsumerConfig{Durable: "C", AckPolicy: nats.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	payload := func(i int) []byte {
		b := bytes.Repeat([]byte{'p'}, 1000)
		copy(b, fmt.Sprintf("payload-%04d;", i))
		return b
	}
	const n = 100
	for i := 1; i <= n; i++ {
		if _, err := js.Publish(fmt.Sprint("v.", i), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	msgs := filepath.Join(dir, "jetstream", "V", "msgs")
	seg := filepath.Join(msgs, fmt.Sprintf("%020d.seg", 1))
	if _, err := os.Stat(filepath.Join(msgs, fmt.Sprintf("%020d.idx", 1))); err != nil {
		t.Fatalf("the first segment has no index sidecar, so Open would scan it: %v", err)
	}
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, payload(5))
	if at < 0 {
		t.Fatalf("message 5 not in %s", seg)
	}
	data[at+500] ^= 0x01
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}

	a = startServer(t, cfg)
	nc = connect(t, a)
	js, err = nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	// state.lost is nats-server's field for lost data (nats.go's
	// StreamState does not decode it): read the raw reply.
	eventually(t, 10*time.Second, "the damaged message in stream info", func() bool {
		resp, err := nc.Request("$JS.API.STREAM.INFO.V", nil, 5*time.Second)
		if err != nil {
			return false
		}
		var si struct {
			State struct {
				Msgs uint64 `json:"messages"`
				Lost *struct {
					Msgs []uint64 `json:"msgs"`
				} `json:"lost"`
			} `json:"state"`
		}
		if err := json.Unmarshal(resp.Data, &si); err != nil {
			t.Fatalf("stream info: %v", err)
		}
		return si.State.Lost != nil && slices.Equal(si.State.Lost.Msgs, []uint64{5}) && si.State.Msgs == n
	})
	logs, err := os.ReadFile(dir + "/barge.log")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs, []byte(`level=ERROR msg="log: damaged messages in a sealed segment" stream=V segment=`+seg+` first_seq=5 last_seq=5 count=1`)) {
		t.Fatalf("log line missing:\n%s", logs)
	}
	var varz map[string]any
	getJSON(t, a.MonitorURL()+"/varz", &varz)
	if varz["damaged_msgs"] != float64(1) {
		t.Fatalf("/varz damaged_msgs = %v", varz["damaged_msgs"])
	}

	// MSG.GET: 10051 naming the message, not 10037.
	_, err = js.GetMsg("V", 5)
	var ae *nats.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != 10051 || ae.Description != "message 5 is damaged" {
		t.Fatalf("MSG.GET of a damaged message: %v", err)
	}
	_, err = js.GetLastMsg("V", "v.5")
	if !errors.As(err, &ae) || ae.ErrorCode != 10051 {
		t.Fatalf("MSG.GET last_by_subj of a damaged message: %v", err)
	}
	// DIRECT.GET: a 500 status with that description, not 404.
	_, err = js.GetMsg("V", 5, nats.DirectGet())
	if err == nil || errors.Is(err, nats.ErrMsgNotFound) || !strings.Contains(err.Error(), "message 5 is damaged") {
		t.Fatalf("DIRECT.GET of a damaged message: %v", err)
	}
	if m, err := js.GetMsg("V", 6, nats.DirectGet()); err != nil || !bytes.Equal(m.Data, payload(6)) {
		t.Fatalf("a good message: %v", err)
	}

	// The consumer skips the damaged message.
	sub, err := js.PullSubscribe("", "C", nats.Bind("V", "C"))
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for len(got) < n-1 {
		batch, err := sub.Fetch(n, nats.MaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch after %d messages: %v", len(got), err)
		}
		for _, m := range batch {
			md, _ := m.Metadata()
			if !bytes.Equal(m.Data, payload(int(md.Sequence.Stream))) {
				t.Fatalf("seq %d delivered with wrong bytes", md.Sequence.Stream)
			}
			got = append(got, md.Sequence.Stream)
			m.Ack()
		}
	}
	if slices.Contains(got, 5) || len(got) != n-1 {
		t.Fatalf("delivered %v", got)
	}
}

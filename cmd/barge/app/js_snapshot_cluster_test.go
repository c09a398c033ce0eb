package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// snapshotTo backs stream up through nc as the CLI does (see
// broker/jetstream/snapshot_test.go) and returns backup.json's content and
// the archive.
func snapshotTo(t *testing.T, nc *nats.Conn, stream string) ([]byte, []byte) {
	t.Helper()
	ib := nc.NewRespInbox()
	req, _ := json.Marshal(map[string]any{"deliver_subject": ib})
	var m *nats.Msg
	var resp struct {
		jsapi.APIResponse
		Config json.RawMessage `json:"config"`
		State  json.RawMessage `json:"state"`
	}
	eventually(t, 20*time.Second, "snapshot response", func() bool {
		var err error
		m, err = nc.Request(jsapi.PreStreamSnapshot+stream, req, 5*time.Second)
		if err != nil {
			return false
		}
		resp = struct {
			jsapi.APIResponse
			Config json.RawMessage `json:"config"`
			State  json.RawMessage `json:"state"`
		}{}
		return json.Unmarshal(m.Data, &resp) == nil && (resp.Error == nil || resp.Error.ErrCode != 10008)
	})
	if resp.Error != nil {
		t.Fatalf("snapshot: %+v", resp.Error)
	}
	var arc bytes.Buffer
	done := make(chan error, 1)
	sub, err := nc.Subscribe(ib, func(m *nats.Msg) {
		if len(m.Data) == 0 {
			if st := m.Header.Get("Status"); st != "" && st != "204" {
				done <- fmt.Errorf("%s %s", st, m.Header.Get("Description"))
				return
			}
			done <- nil
			return
		}
		m.Respond(nil)
		arc.Write(m.Data)
	})
	mustOK(t, err)
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)
	select {
	case err := <-done:
		mustOK(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("snapshot did not end")
	}
	meta, _ := json.Marshal(map[string]json.RawMessage{"config": resp.Config, "state": resp.State})
	return meta, arc.Bytes()
}

// restoreRaw restores through nc as the CLI does and returns the final
// reply's body.
func restoreRaw(t *testing.T, nc *nats.Conn, stream string, meta, arc []byte) []byte {
	t.Helper()
	m, err := nc.Request(jsapi.PreStreamRestore+stream, meta, 5*time.Second)
	mustOK(t, err)
	var resp jsapi.StreamRestoreResponse
	mustOK(t, json.Unmarshal(m.Data, &resp))
	if resp.Error != nil {
		return m.Data
	}
	for off := 0; off < len(arc); off += 64 << 10 {
		r, err := nc.Request(resp.DeliverSubject, arc[off:min(off+64<<10, len(arc))], 5*time.Second)
		mustOK(t, err)
		if len(r.Data) > 0 {
			return r.Data
		}
	}
	r, err := nc.Request(resp.DeliverSubject, nil, 30*time.Second)
	mustOK(t, err)
	return r.Data
}

// TestJSClusterSnapshotR3: a replicated stream is backed up through a
// member that is not its leader (the request goes to the leader, the
// chunks and their acks cross the routes) with its durable consumer; a
// restore into the cluster is refused with a clear 10062, and the backup
// restores into a standalone server as an R1 stream with every message
// and the consumer.
func TestJSClusterSnapshotR3(t *testing.T) {
	apps, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	mustOK(t, err)
	for i := range 200 {
		_, err := js[0].Publish(ctx, fmt.Sprintf("r3.%d", i%4), bytes.Repeat([]byte{byte(i)}, 100+i*50))
		mustOK(t, err)
	}
	var cons jetstream.Consumer
	eventually(t, 15*time.Second, "consumer created", func() bool {
		cons, err = js[0].CreateOrUpdateConsumer(ctx, "R3", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
		return err == nil
	})
	got := 0
	for got < 5 {
		batch, err := cons.Fetch(5-got, jetstream.FetchMaxWait(5*time.Second))
		mustOK(t, err)
		for m := range batch.Messages() {
			if got++; got <= 3 {
				mustOK(t, m.DoubleAck(ctx))
			}
		}
	}
	s, err := js[0].Stream(ctx, "R3")
	mustOK(t, err)
	leader := ""
	eventually(t, 15*time.Second, "a stream leader", func() bool {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != ""
	})
	li := int(leader[1] - '1') // members are named n1..n3
	nc := connect(t, apps[(li+1)%3])
	meta, arc := snapshotTo(t, nc, "R3")

	refused := restoreRaw(t, nc, "R3X", bytes.Replace(meta, []byte(`"name":"R3"`), []byte(`"name":"R3X"`), 1), arc)
	var r jsapi.APIResponse
	mustOK(t, json.Unmarshal(refused, &r))
	if r.Error == nil || r.Error.ErrCode != 10062 {
		t.Fatalf("restore into the cluster: %s", refused)
	}

	single := startServer(t, nil)
	snc := connect(t, single)
	r1 := bytes.Replace(meta, []byte(`"num_replicas":3`), []byte(`"num_replicas":1`), 1)
	final := restoreRaw(t, snc, "R3", r1, arc)
	var cr jsapi.StreamCreateResponse
	mustOK(t, json.Unmarshal(final, &cr))
	if cr.Error != nil || cr.StreamInfo == nil || cr.State.Msgs != 200 || cr.State.Consumers != 1 {
		t.Fatalf("restore as R1: %s", final)
	}
	sjs, err := jetstream.New(snc)
	mustOK(t, err)
	c, err := sjs.Consumer(ctx, "R3", "D")
	mustOK(t, err)
	ci := c.CachedInfo()
	if ci.AckFloor.Stream != 3 || ci.NumAckPending != 2 || ci.Delivered.Stream != 5 {
		t.Fatalf("restored consumer: delivered %+v ack floor %+v ack pending %d", ci.Delivered, ci.AckFloor, ci.NumAckPending)
	}
	st, err := sjs.Stream(ctx, "R3")
	mustOK(t, err)
	m, err := st.GetMsg(ctx, 200)
	mustOK(t, err)
	if m.Subject != "r3.3" || !bytes.Equal(m.Data, bytes.Repeat([]byte{199}, 100+199*50)) {
		t.Fatalf("seq 200 after restore: %s %d bytes", m.Subject, len(m.Data))
	}
}

package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/raft"
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

// TestJSClusterSnapshotR3: a replicated stream (an interior and a trailing
// deleted message, a 3 MiB one) is backed up through a member that is not
// its leader (the request goes to the leader, the chunks and their acks
// cross the routes) with its durable consumer, deleted, and restored into
// the cluster as R3: every member holds each message at its sequence with
// its timestamp, the consumer keeps its position, across a leader
// step-down too. A truncated upload leaves no stream on any node; one
// asking for more replicas than servers is refused before the upload, one
// for a name held by a stream placed on other nodes at the meta shard. The backup also restores as R1,
// into the cluster and into a standalone server.
func TestJSClusterSnapshotR3(t *testing.T) {
	apps, js := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3, AllowDirect: true})
	mustOK(t, err)
	for i := range 200 {
		_, err := js[0].Publish(ctx, fmt.Sprintf("r3.%d", i%4), bytes.Repeat([]byte{byte(i)}, 100+i*50))
		mustOK(t, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: chunked
	_, err = js[0].Publish(ctx, "r3.big", big)
	mustOK(t, err)
	_, err = js[0].Publish(ctx, "r3.last", []byte("gone"))
	mustOK(t, err)
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
	mustOK(t, s.DeleteMsg(ctx, 50))
	mustOK(t, s.DeleteMsg(ctx, 202))
	leader := streamLeader(ctx, t, s)
	li := int(leader[1] - '1') // members are named n1..n3
	nc := connect(t, apps[(li+1)%3])
	want := replicaDigest(t, nc, "R3", 203)
	meta, arc := snapshotTo(t, nc, "R3")

	// A truncated upload, and one for more replicas than servers, leave
	// nothing behind.
	other := renamed(meta, "R3X", "r3x")
	for _, c := range []struct {
		meta, arc []byte
		code      jsapi.ErrCode
	}{
		{other, arc[:len(arc)/2], 10062},
		{bytes.Replace(other, []byte(`"num_replicas":3`), []byte(`"num_replicas":5`), 1), arc, 10005},
	} {
		reply := restoreRaw(t, nc, "R3X", c.meta, c.arc)
		var r jsapi.APIResponse
		mustOK(t, json.Unmarshal(reply, &r))
		if r.Error == nil || r.Error.ErrCode != c.code {
			t.Fatalf("failed restore: want %d, got %s", c.code, reply)
		}
		for i, a := range apps {
			m, err := connect(t, a).Request("$JS.API.STREAM.INFO.R3X", nil, 5*time.Second)
			mustOK(t, err)
			if !bytes.Contains(m.Data, []byte(`"err_code":10059`)) {
				t.Fatalf("node %d after a failed restore: %s", i+1, m.Data)
			}
		}
	}

	// A name the meta shard holds for a stream without a replica on the
	// receiving node is refused there (10130); that stream is untouched.
	r2, err := createStream(ctx, t, js[0], jetstream.StreamConfig{Name: "R2", Subjects: []string{"r2.>"}, Replicas: 2})
	mustOK(t, err)
	_, err = js[0].Publish(ctx, "r2.a", []byte("kept"))
	mustOK(t, err)
	var info *jetstream.StreamInfo
	eventually(t, 15*time.Second, "R2's leader and replica", func() bool {
		info, err = r2.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 1
	})
	holders := map[string]bool{info.Cluster.Leader: true}
	for _, p := range info.Cluster.Replicas {
		holders[p.Name] = true
	}
	outside := -1
	for i := range apps {
		if !holders[fmt.Sprintf("n%d", i+1)] {
			outside = i
		}
	}
	if outside < 0 {
		t.Fatalf("R2 on every node: %+v", info.Cluster)
	}
	reply := restoreRaw(t, connect(t, apps[outside]), "R2", bytes.Replace(renamed(meta, "R2", "r2y"), []byte(`"num_replicas":3`), []byte(`"num_replicas":2`), 1), arc)
	if !bytes.Contains(reply, []byte(`"err_code":10130`)) {
		t.Fatalf("restore over a stream placed elsewhere: %s", reply)
	}
	if info, err := r2.Info(ctx); err != nil || info.State.Msgs != 1 || info.Config.Subjects[0] != "r2.>" {
		t.Fatalf("R2 after the refused restore: %+v %v", info, err)
	}

	mustOK(t, js[0].DeleteStream(ctx, "R3"))
	final := restoreRaw(t, nc, "R3", meta, arc)
	var cr jsapi.StreamCreateResponse
	mustOK(t, json.Unmarshal(final, &cr))
	if cr.Error != nil || cr.StreamInfo == nil || cr.State.Msgs != 200 || cr.State.FirstSeq != 1 || cr.State.LastSeq != 202 ||
		cr.State.NumDeleted != 2 || cr.Config.Replicas != 3 {
		t.Fatalf("restore as R3: %s", final)
	}
	for i, a := range apps {
		anc := connect(t, a)
		var got string
		eventually(t, 20*time.Second, fmt.Sprintf("node %d's replica", i+1), func() bool {
			got = replicaDigest(t, anc, "R3", 203)
			return got == want
		})
	}
	checkCons := func(when string, delivered uint64) {
		t.Helper()
		eventually(t, 20*time.Second, "restored consumer "+when, func() bool {
			c, err := js[li].Consumer(ctx, "R3", "D")
			if err != nil {
				return false
			}
			ci := c.CachedInfo()
			return ci.AckFloor.Stream == 3 && ci.NumAckPending == 2 && ci.Delivered.Stream == delivered
		})
	}
	checkCons("after the restore", 5)

	// A restoring definition whose node runs no such restore (its process
	// ended mid-restore) is removed by that node.
	meta0 := metaOf(t, apps[0])
	doc, err := meta0.Get(ctx, "stream/R3")
	mustOK(t, err)
	var def struct {
		Members map[string]string `json:"members"`
	}
	mustOK(t, json.Unmarshal(doc.Value, &def))
	var by string
	for id := range def.Members {
		by = id
	}
	ghost := fmt.Sprintf(`{"config":{"name":"GHOST","storage":"file","num_replicas":1},"members":{},"restoring":true,"restoring_by":%s}`, by)
	_, err = meta0.Put(ctx, "stream/GHOST", json.RawMessage(ghost), 0)
	mustOK(t, err)
	eventually(t, 10*time.Second, "the interrupted restore removed", func() bool {
		_, err := meta0.Get(ctx, "stream/GHOST")
		return errors.Is(err, raft.ErrNoDoc)
	})
	c, err := js[0].Consumer(ctx, "R3", "D")
	mustOK(t, err)
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	mustOK(t, err)
	for m := range batch.Messages() {
		if md, _ := m.Metadata(); md == nil || md.Sequence.Stream != 6 {
			t.Fatalf("next delivery after the restore: %+v", md)
		}
		mustOK(t, m.DoubleAck(ctx)) // 6 acked: the floor stays at 3
	}
	rs, err := js[0].Stream(ctx, "R3")
	mustOK(t, err)
	before := streamLeader(ctx, t, rs)
	eventually(t, 30*time.Second, "a step-down", func() bool {
		m, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN.R3", nil, 10*time.Second)
		return err == nil && bytes.Contains(m.Data, []byte(`"success":true`))
	})
	eventually(t, 15*time.Second, "another leader", func() bool {
		info, err := rs.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != before
	})
	checkCons("after a step-down", 6)
	ack, err := js[0].Publish(ctx, "r3.after", []byte("next"))
	mustOK(t, err)
	if ack.Sequence != 203 {
		t.Fatalf("publish after the restore got seq %d, want 203", ack.Sequence)
	}

	// As R1 (under another name and subjects) it is placed on the node
	// that took the upload.
	r1x := bytes.Replace(other, []byte(`"num_replicas":3`), []byte(`"num_replicas":1`), 1)
	final = restoreRaw(t, nc, "R3X", r1x, arc)
	cr = jsapi.StreamCreateResponse{}
	mustOK(t, json.Unmarshal(final, &cr))
	if cr.Error != nil || cr.StreamInfo == nil || cr.State.Msgs != 200 || cr.Config.Replicas != 1 || cr.State.Consumers != 1 {
		t.Fatalf("restore as R1 in the cluster: %s", final)
	}
	if got := replicaDigest(t, nc, "R3X", 203); got != want {
		t.Fatalf("restored as R1 in the cluster:\n%s\nwant\n%s", got, want)
	}

	single := startServer(t, nil)
	snc := connect(t, single)
	r1 := bytes.Replace(meta, []byte(`"num_replicas":3`), []byte(`"num_replicas":1`), 1)
	final = restoreRaw(t, snc, "R3", r1, arc)
	cr = jsapi.StreamCreateResponse{}
	mustOK(t, json.Unmarshal(final, &cr))
	if cr.Error != nil || cr.StreamInfo == nil || cr.State.Msgs != 200 || cr.State.Consumers != 1 {
		t.Fatalf("restore as R1: %s", final)
	}
	if got := replicaDigest(t, snc, "R3", 203); got != want {
		t.Fatalf("restored as R1:\n%s\nwant\n%s", got, want)
	}
	sjs, err := jetstream.New(snc)
	mustOK(t, err)
	sc, err := sjs.Consumer(ctx, "R3", "D")
	mustOK(t, err)
	ci := sc.CachedInfo()
	if ci.AckFloor.Stream != 3 || ci.NumAckPending != 2 || ci.Delivered.Stream != 5 {
		t.Fatalf("restored consumer: delivered %+v ack floor %+v ack pending %d", ci.Delivered, ci.AckFloor, ci.NumAckPending)
	}
}

// renamed is a backup.json's content for stream name with subject
// prefix.> instead of R3's.
func renamed(meta []byte, name, prefix string) []byte {
	out := bytes.Replace(meta, []byte(`"name":"R3"`), []byte(`"name":"`+name+`"`), 1)
	out = bytes.Replace(out, []byte(`"r3.\u003e"`), []byte(`"`+prefix+`.\u003e"`), 1)
	return bytes.Replace(out, []byte(`"r3.>"`), []byte(`"`+prefix+`.>"`), 1)
}

// streamLeader waits for s to have a leader and names it.
func streamLeader(ctx context.Context, t *testing.T, s jetstream.Stream) string {
	t.Helper()
	leader := ""
	eventually(t, 15*time.Second, "a stream leader", func() bool {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != ""
	})
	return leader
}

// replicaDigest lists sequences 1..last of stream as the connected
// server's own log holds them (DIRECT.GET is answered locally): subject,
// timestamp, size and checksum of the data, or "-" for none.
func replicaDigest(t *testing.T, nc *nats.Conn, stream string, last int) string {
	t.Helper()
	var b strings.Builder
	for seq := 1; seq <= last; seq++ {
		m, err := nc.Request("$JS.API.DIRECT.GET."+stream, []byte(fmt.Sprintf(`{"seq":%d}`, seq)), 10*time.Second)
		if err != nil {
			t.Fatalf("direct get %s %d: %v", stream, seq, err)
		}
		if st := m.Header.Get("Status"); st != "" {
			fmt.Fprintf(&b, "%d - %s\n", seq, st)
			continue
		}
		fmt.Fprintf(&b, "%d %s %s %d %08x\n", seq, m.Header.Get("Nats-Subject"), m.Header.Get("Nats-Time-Stamp"),
			len(m.Data), crc32.ChecksumIEEE(m.Data))
	}
	return b.String()
}

package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Atomic batch publish (ADR-50) on replicated streams.

// atomicReply is a raw batch message's reply: empty (staged), a batch
// PubAck, or an error.
type atomicReply struct {
	empty bool
	Seq   uint64 `json:"seq"`
	Count uint64 `json:"count"`
	Error *struct {
		ErrCode int `json:"err_code"`
	} `json:"error"`
}

func (r atomicReply) code() int {
	if r.Error == nil {
		return 0
	}
	return r.Error.ErrCode
}

// atomicMsg sends batch message seq of batch id as a request (commit: the
// Nats-Batch-Commit value, "" for none) and returns its reply.
func atomicMsg(t *testing.T, nc *nats.Conn, subj, id string, seq int, commit string, data []byte) atomicReply {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = data
	m.Header.Set("Nats-Batch-Id", id)
	m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(seq))
	if commit != "" {
		m.Header.Set("Nats-Batch-Commit", commit)
	}
	r, err := nc.RequestMsg(m, 30*time.Second)
	if err != nil {
		t.Fatalf("batch %s message %d: %v", id, seq, err)
	}
	if len(r.Data) == 0 {
		return atomicReply{empty: true}
	}
	var a atomicReply
	if err := json.Unmarshal(r.Data, &a); err != nil {
		t.Fatalf("reply %q: %v", r.Data, err)
	}
	return a
}

// everyNodeHas waits until every node's own replica of stream (DIRECT.GET
// is served by the node it reaches) holds exactly the sequences first to
// last (none when last is 0), and returns their payloads by node.
func everyNodeHas(t *testing.T, jss []jetstream.JetStream, stream string, first, last uint64) [][][]byte {
	t.Helper()
	out := make([][][]byte, len(jss))
	for i, js := range jss {
		nc := js.Conn()
		eventually(t, 30*time.Second, "node "+strconv.Itoa(i)+" holds "+stream+" "+strconv.FormatUint(first, 10)+".."+strconv.FormatUint(last, 10), func() bool {
			out[i] = out[i][:0]
			if _, found, answered := nodeGet(t, nc, stream, last+1); found || !answered {
				return false
			}
			if first > 1 {
				if _, found, _ := nodeGet(t, nc, stream, first-1); found {
					return false
				}
			}
			for seq := first; seq <= last && last > 0; seq++ {
				d, found, _ := nodeGet(t, nc, stream, seq)
				if !found {
					return false
				}
				out[i] = append(out[i], d)
			}
			return true
		})
	}
	return out
}

// nodeGet asks nc's node for message seq of stream: found, or not
// (answered false when the node does not serve the stream yet).
func nodeGet(t *testing.T, nc *nats.Conn, stream string, seq uint64) (data []byte, found, answered bool) {
	t.Helper()
	if seq == 0 {
		return nil, false, true
	}
	r, err := nc.Request("$JS.API.DIRECT.GET."+stream, []byte(`{"seq":`+strconv.FormatUint(seq, 10)+`}`), 10*time.Second)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, false, false
	}
	if err != nil {
		t.Fatalf("direct get %d: %v", seq, err)
	}
	switch r.Header.Get("Status") {
	case "":
		return r.Data, true, true
	case "404":
		return nil, false, true
	}
	return nil, false, false
}

// atomicR3 creates an R3 stream allowing atomic publish and waits until
// every node of jss captures its subjects (a batch message out of order
// is answered 10176 there, and stores nothing).
func atomicR3(ctx context.Context, t *testing.T, jss []jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	s, err := createStream(ctx, t, jss[0], jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Replicas: 3, AllowAtomicPublish: true, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, js := range jss {
		eventually(t, 30*time.Second, "node "+strconv.Itoa(i)+" captures "+name, func() bool {
			m := nats.NewMsg(name + ".probe")
			m.Header.Set("Nats-Batch-Id", "probe")
			m.Header.Set("Nats-Batch-Sequence", "2")
			r, err := js.Conn().RequestMsg(m, 5*time.Second)
			return err == nil && strings.Contains(string(r.Data), "10176")
		})
	}
	return s
}

// TestJSClusterAtomicBatchR3: orbit.go's PublishMsgBatch commits a batch
// on an R3 stream through a follower; every node then holds the batch
// with the same sequences. A batch refused by the rules at its last
// message (a duplicate Nats-Msg-Id inside it) leaves nothing on any node,
// and the next batch follows without a gap.
func TestJSClusterAtomicBatchR3(t *testing.T) {
	_, jss := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	atomicR3(ctx, t, jss, "AB")
	const n = 50
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		msgs[i] = &nats.Msg{Subject: "AB." + strconv.Itoa(i%5), Header: nats.Header{}, Data: []byte(strconv.Itoa(i))}
	}
	for _, js := range jss[1:] {
		ack, err := jetstreamext.PublishMsgBatch(ctx, js, msgs)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Stream != "AB" || ack.BatchSize != n || ack.Sequence%n != 0 {
			t.Fatalf("ack %+v", ack)
		}
	}
	for i, got := range everyNodeHas(t, jss, "AB", 1, 2*n) {
		for j, d := range got {
			if string(d) != strconv.Itoa(j%n) {
				t.Fatalf("node %d seq %d: %q", i, j+1, d)
			}
		}
	}
	nc := jss[2].Conn()
	bad := make([]*nats.Msg, 3)
	for i := range bad {
		bad[i] = &nats.Msg{Subject: "AB.x", Header: nats.Header{"Nats-Msg-Id": []string{"same"}}, Data: []byte("no")}
	}
	bad[0].Header = nats.Header{"Nats-Msg-Id": []string{"other"}}
	var ae *jetstream.APIError
	if _, err := jetstreamext.PublishMsgBatch(ctx, jss[2], bad); !errors.As(err, &ae) || ae.ErrorCode != 10201 {
		t.Fatalf("a batch with a duplicate message id: %v", err)
	}
	everyNodeHas(t, jss, "AB", 1, 2*n)
	if r := atomicMsg(t, nc, "AB.y", "next", 1, "1", []byte("y")); r.code() != 0 || r.Seq != 2*n+1 || r.Count != 1 {
		t.Fatalf("next batch %+v", r)
	}
	// Committed by "eob" (not stored): the last staged message carries
	// the commit.
	for i := 1; i <= 2; i++ {
		if r := atomicMsg(t, nc, "AB.e", "eob", i, "", []byte("e")); !r.empty {
			t.Fatalf("staged %d: %+v", i, r)
		}
	}
	if r := atomicMsg(t, nc, "AB.e", "eob", 3, "eob", nil); r.code() != 0 || r.Seq != 2*n+3 || r.Count != 2 {
		t.Fatalf("eob commit %+v", r)
	}
	everyNodeHas(t, jss, "AB", 1, 2*n+3)
	last, err := jss[1].Conn().Request("$JS.API.DIRECT.GET.AB", []byte(`{"seq":`+strconv.Itoa(2*n+3)+`}`), 10*time.Second)
	if err != nil || last.Header.Get("Nats-Batch-Commit") != "1" {
		t.Fatalf("eob's last message: %v %v", last, err)
	}
}

// TestJSClusterAtomicBatchStepDown: the stream leader steps down in the
// middle of a batch: the batch is abandoned as nats-server abandons a
// batch its leader staged (the next message and the commit get 10176,
// incomplete batch) and nothing of it is on any node; a step-down right
// after a commit is sent stores the batch exactly once.
func TestJSClusterAtomicBatchStepDown(t *testing.T) {
	apps, jss := clusterJS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := atomicR3(ctx, t, jss, "ABS")
	nc := jss[1].Conn()
	for i := 1; i <= 5; i++ {
		if r := atomicMsg(t, nc, "ABS.a", "mid", i, "", []byte("a")); !r.empty {
			t.Fatalf("staged %d: %+v", i, r)
		}
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("info %+v %v", info, err)
	}
	stepDownStream(t, connect(t, apps[2]), "ABS", info.Cluster.Leader)
	// The publisher's node may learn of the new leader a moment after the
	// others: its next messages are staged until it does, then refused.
	seq := 6
	for ; ; seq++ {
		r := atomicMsg(t, nc, "ABS.a", "mid", seq, "", []byte("a"))
		if r.code() == 10176 {
			break
		}
		if !r.empty || seq > 500 {
			t.Fatalf("message %d after the step-down: %+v", seq, r)
		}
	}
	if r := atomicMsg(t, nc, "ABS.a", "mid", seq+1, "1", []byte("a")); r.code() != 10176 {
		t.Fatalf("commit after the step-down: %+v", r)
	}
	everyNodeHas(t, jss, "ABS", 0, 0)

	// A commit sent, then a step-down at once: stored once, whole.
	const n = 20
	for i := 1; i < n; i++ {
		if r := atomicMsg(t, nc, "ABS.b", "after", i, "", []byte(strconv.Itoa(i))); !r.empty {
			t.Fatalf("staged %d: %+v", i, r)
		}
	}
	m := nats.NewMsg("ABS.b")
	m.Header.Set("Nats-Batch-Id", "after")
	m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(n))
	m.Header.Set("Nats-Batch-Commit", "1")
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	m.Reply = inbox
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the commit is taken (submitted) by now
		t.Fatal(err)
	}
	info, err = s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("info %+v %v", info, err)
	}
	stepDownStream(t, connect(t, apps[2]), "ABS", info.Cluster.Leader)
	reply, err := sub.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r atomicReply
	if err := json.Unmarshal(reply.Data, &r); err != nil || r.code() != 0 || r.Seq != n || r.Count != n {
		t.Fatalf("commit reply %q %v", reply.Data, err)
	}
	everyNodeHas(t, jss, "ABS", 1, n)
	if r := atomicMsg(t, nc, "ABS.c", "last", 1, "1", []byte("c")); r.code() != 0 || r.Seq != n+1 {
		t.Fatalf("a batch after: %+v", r)
	}
	everyNodeHas(t, jss, "ABS", 1, n+1)
}

// TestJSClusterAtomicBatchFollowerRestart: a follower stops while a batch
// commits (its chunks and commit entry on their way) and comes back: it
// catches up with the whole batch, the same sequences as the others.
func TestJSClusterAtomicBatchFollowerRestart(t *testing.T) {
	tune, _, _ := raftMembers(t, 3, nil)
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js, err := jetstream.New(connect(t, apps[0]))
	if err != nil {
		t.Fatal(err)
	}
	s := atomicR3(ctx, t, []jetstream.JetStream{js}, "ABR")
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("info %+v %v", info, err)
	}
	// Stop a member that does not lead the stream (nor is node 0).
	down := 2
	if info.Cluster.Leader == "n3" {
		down = 1
	}
	const n = 40
	nc := js.Conn()
	body := func(i int) []byte {
		b := make([]byte, 100<<10) // chunked at the commit, not inline
		b[0] = byte(i)
		return b
	}
	for i := 1; i < n; i++ {
		if r := atomicMsg(t, nc, "ABR.x", "rs", i, "", body(i-1)); !r.empty {
			t.Fatalf("staged %d: %+v", i, r)
		}
	}
	m := nats.NewMsg("ABR.x")
	m.Header.Set("Nats-Batch-Id", "rs")
	m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(n))
	m.Header.Set("Nats-Batch-Commit", "1")
	m.Data = body(n - 1)
	m.Reply = nats.NewInbox()
	sub, err := nc.SubscribeSync(m.Reply)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the commit is taken (submitted) by now
		t.Fatal(err)
	}
	// The follower goes down while the batch's chunks and commit are
	// being replicated; the other two are a quorum.
	stopApp(t, apps[down])
	reply, err := sub.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r atomicReply
	if err := json.Unmarshal(reply.Data, &r); err != nil || r.code() != 0 || r.Seq != n || r.Count != n {
		t.Fatalf("commit reply %q %v", reply.Data, err)
	}
	apps[down] = startClusterNode(t, down, []*app.App{apps[0]}, tune)
	jsd, err := jetstream.New(connect(t, apps[down]))
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range everyNodeHas(t, []jetstream.JetStream{js, jsd}, "ABR", 1, n) {
		for j, d := range got {
			if len(d) != 100<<10 || d[0] != byte(j) {
				t.Fatalf("node %d seq %d: %d bytes", i, j+1, len(d))
			}
		}
	}
}

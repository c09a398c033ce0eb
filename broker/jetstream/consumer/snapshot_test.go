package consumer

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// TestSnapshotStateForm: a consumer's state in a snapshot has
// nats-server's JSON keys (pending's are the Go field names there), and
// goes back to the same delivery state (the floors' times excepted).
func TestSnapshotStateForm(t *testing.T) {
	st := &savedState{next: 9, dcseq: 7, dsseq: 8, dts: 5, acseq: 3, asseq: 4, ats: 2,
		pending: []pendingRec{{sseq: 5, cseq: 4, ts: 11, dc: 3}, {sseq: 8, cseq: 7, ts: 12, dc: 1}}}
	b, err := json.Marshal(toSnapshotState(st))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"delivered":{"consumer_seq":7,"stream_seq":8},"ack_floor":{"consumer_seq":3,"stream_seq":4},` +
		`"pending":{"5":{"Sequence":4,"Timestamp":11},"8":{"Sequence":7,"Timestamp":12}},"redelivered":{"5":2}}`
	if string(b) != want {
		t.Fatalf("json\n%s\nwant\n%s", b, want)
	}
	var back jsapi.SnapshotConsumerState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got := fromSnapshotState(&back)
	st.dts, st.ats = 0, 0
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("back %+v\nwant %+v", got, st)
	}
}

// TestWriteRestored: a durable consumer from a snapshot is written as the
// set's files (meta.json and state) that load reads; an ephemeral one is
// skipped; a bad name or config is refused.
func TestWriteRestored(t *testing.T) {
	fsys := log.NewMemFS()
	scfg := &jsapi.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jsapi.FileStorage}
	state := &jsapi.SnapshotConsumerState{Delivered: jsapi.SequencePair{Consumer: 2, Stream: 2}, AckFloor: jsapi.SequencePair{Consumer: 1, Stream: 1}}
	now := time.Unix(100, 0).UTC()
	ok, err := WriteRestored(fsys, "/c", scfg, "D", &jsapi.SnapshotConsumer{Config: &jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit}, State: state}, now)
	if !ok || err != nil {
		t.Fatalf("durable: %v %v", ok, err)
	}
	meta, saved, err := readConsumerDir(fsys, "/c/D")
	if err != nil || meta.Config.Durable != "D" || !meta.Created.Equal(now) || saved.next != 3 || saved.asseq != 1 {
		t.Fatalf("read back %+v %+v %v", meta, saved, err)
	}
	if ok, err := WriteRestored(fsys, "/c", scfg, "E", &jsapi.SnapshotConsumer{Config: &jsapi.ConsumerConfig{Name: "E"}, State: state}, now); ok || err != nil {
		t.Fatalf("ephemeral: %v %v", ok, err)
	}
	for _, c := range []struct {
		name string
		sc   jsapi.SnapshotConsumer
	}{
		{"X", jsapi.SnapshotConsumer{Config: &jsapi.ConsumerConfig{Durable: "D"}, State: state}},
		{"../D", jsapi.SnapshotConsumer{Config: &jsapi.ConsumerConfig{Durable: "../D"}, State: state}},
		{"D", jsapi.SnapshotConsumer{Config: &jsapi.ConsumerConfig{Durable: "D"}}},
		{"F", jsapi.SnapshotConsumer{Config: &jsapi.ConsumerConfig{Durable: "F", FilterSubject: "other.>"}, State: state}},
	} {
		if _, err := WriteRestored(fsys, "/c", scfg, c.name, &c.sc, now); err == nil {
			t.Fatalf("%s %+v accepted", c.name, c.sc.Config)
		}
	}
}

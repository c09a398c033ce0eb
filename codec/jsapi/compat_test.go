package jsapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// These tests check the JSON of this package against nats.go's own types:
// what we marshal, nats.go must read into the same values, and what nats.go
// marshals, we must read fully.

var (
	t0 = time.Date(2026, 11, 25, 10, 11, 12, 123456789, time.UTC)
	t1 = time.Date(2026, 11, 26, 1, 2, 3, 4, time.UTC)
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal into %T: %v\n%s", v, err, b)
	}
}

// roundTrip marshals ours, reads it into theirs, marshals theirs and
// reads that back into a fresh value of ours, which must equal ours.
func roundTrip[O any](t *testing.T, ours *O, theirs any) {
	t.Helper()
	mustUnmarshal(t, mustJSON(t, ours), theirs)
	var back O
	mustUnmarshal(t, mustJSON(t, theirs), &back)
	if !reflect.DeepEqual(*ours, back) {
		t.Fatalf("round trip through %T changed the value:\nours: %+v\nback: %+v", theirs, *ours, back)
	}
}

func fullStreamConfig() StreamConfig {
	start := t1
	return StreamConfig{
		Name:                   "ORDERS",
		Description:            "orders & <stuff>",
		Subjects:               []string{"orders.>", "returns.*"},
		Retention:              WorkQueuePolicy,
		MaxConsumers:           10,
		MaxMsgs:                1000,
		MaxBytes:               1 << 40,
		MaxAge:                 36 * time.Hour,
		MaxMsgsPer:             5,
		MaxMsgSize:             1 << 30,
		Discard:                DiscardNew,
		Storage:                MemoryStorage,
		Replicas:               1,
		NoAck:                  true,
		Duplicates:             2 * time.Minute,
		Placement:              &Placement{Cluster: "c1", Tags: []string{"ssd"}},
		Sources:                []*StreamSource{{Name: "SRC", OptStartSeq: 7, FilterSubject: "a.b", SubjectTransforms: []SubjectTransformConfig{{Source: "a.>", Destination: "b.>"}}, External: &ExternalStream{APIPrefix: "$JS.hub.API", DeliverPrefix: "dlv"}}, {Name: "SRC2", OptStartTime: &start}},
		Compression:            S2Compression,
		FirstSeq:               42,
		SubjectTransform:       &SubjectTransformConfig{Source: "in.>", Destination: "orders.>"},
		RePublish:              &RePublish{Source: ">", Destination: "repub.>", HeadersOnly: true},
		AllowDirect:            true,
		MirrorDirect:           true,
		DiscardNewPer:          true,
		Sealed:                 true,
		DenyDelete:             true,
		DenyPurge:              true,
		AllowRollup:            true,
		ConsumerLimits:         StreamConsumerLimits{InactiveThreshold: time.Minute, MaxAckPending: 100},
		AllowMsgTTL:            true,
		SubjectDeleteMarkerTTL: 10 * time.Minute,
		PersistMode:            PersistAsync,
		AllowMsgCounter:        true,
		AllowAtomicPublish:     true,
		AllowMsgSchedules:      true,
		AllowBatchPublish:      true,
		Metadata:               map[string]string{"owner": "team-a"},
		TemplateOwner:          "tmpl",
	}
}

func TestStreamConfigRoundTripNATS(t *testing.T) {
	cfg := fullStreamConfig()
	var js jetstream.StreamConfig
	roundTrip(t, &cfg, &js)
	if js.Retention != jetstream.WorkQueuePolicy || js.Storage != jetstream.MemoryStorage ||
		js.Discard != jetstream.DiscardNew || js.Compression != jetstream.S2Compression ||
		js.MaxAge != 36*time.Hour || js.Duplicates != 2*time.Minute || js.PersistMode != jetstream.AsyncPersistMode {
		t.Fatalf("jetstream.StreamConfig read wrong values: %+v", js)
	}

	// The legacy nats.StreamConfig lacks some newer fields: compare the
	// fields it has.
	var legacy nats.StreamConfig
	mustUnmarshal(t, mustJSON(t, &cfg), &legacy)
	if legacy.Name != "ORDERS" || legacy.Retention != nats.WorkQueuePolicy || legacy.Storage != nats.MemoryStorage ||
		legacy.Discard != nats.DiscardNew || legacy.MaxMsgSize != 1<<30 || !legacy.Sealed || !legacy.AllowDirect ||
		legacy.Compression != nats.S2Compression || legacy.Template != "tmpl" || legacy.SubjectDeleteMarkerTTL != 10*time.Minute ||
		len(legacy.Sources) != 2 || !legacy.Sources[1].OptStartTime.Equal(t1) {
		t.Fatalf("nats.StreamConfig read wrong values: %+v", legacy)
	}
}

func TestStreamConfigFromNATS(t *testing.T) {
	// What nats.go sends in a stream create request, we decode fully.
	in := jetstream.StreamConfig{
		Name: "KV_b", Subjects: []string{"$KV.b.>"}, Retention: jetstream.InterestPolicy,
		MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage,
		MaxAge: time.Hour, Duplicates: 2 * time.Minute, AllowRollup: true, DenyDelete: true,
		AllowDirect: true, Compression: jetstream.NoCompression, Replicas: 1, MaxMsgSize: -1,
		Mirror: &jetstream.StreamSource{Name: "M", OptStartTime: &t0},
	}
	var got StreamConfig
	mustUnmarshal(t, mustJSON(t, &in), &got)
	if got.Name != "KV_b" || got.Retention != InterestPolicy || got.MaxMsgsPer != 1 || got.Discard != DiscardNew ||
		got.Storage != FileStorage || got.MaxAge != time.Hour || got.Duplicates != 2*time.Minute ||
		!got.AllowRollup || !got.DenyDelete || !got.AllowDirect || got.MaxMsgSize != -1 || got.Replicas != 1 ||
		got.Mirror == nil || !got.Mirror.OptStartTime.Equal(t0) {
		t.Fatalf("decoded %+v", got)
	}
}

func TestStreamConfigEmptyMatchesServer(t *testing.T) {
	// nats-server writes these fields even when zero.
	want := `{"name":"","retention":"limits","max_consumers":0,"max_msgs":0,"max_bytes":0,"max_age":0,` +
		`"max_msgs_per_subject":0,"discard":"old","storage":"file","num_replicas":0,"compression":"none",` +
		`"allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,` +
		`"allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false}`
	if got := string(mustJSON(t, &StreamConfig{})); got != want {
		t.Fatalf("empty StreamConfig:\n got %s\nwant %s", got, want)
	}
}

func fullStreamInfo() StreamInfo {
	since := t0
	return StreamInfo{
		Config:  fullStreamConfig(),
		Created: t0,
		State: StreamState{
			Msgs: 10, Bytes: 2048, FirstSeq: 3, FirstTime: t0, LastSeq: 20, LastTime: t1,
			NumSubjects: 2, Subjects: map[string]uint64{"orders.a": 4, "orders.b": 6},
			NumDeleted: 2, Deleted: []uint64{5, 9}, Consumers: 3,
			Lost: &LostStreamData{Msgs: []uint64{11}, Bytes: 100},
		},
		Domain: "hub",
		Cluster: &ClusterInfo{Name: "c1", Leader: "n1", LeaderSince: &since, RaftGroup: "S-R1",
			Replicas: []*PeerInfo{{Name: "n2", Current: true, Active: time.Second, Lag: 3, Peer: "abc"}}},
		Sources:    []*StreamSourceInfo{{Name: "SRC", Lag: 1, Active: time.Second, Error: &APIError{Code: 500, ErrCode: 10059, Description: "x"}}},
		Alternates: []StreamAlternate{{Name: "ORDERS", Cluster: "c1"}},
		TimeStamp:  t1,
	}
}

func TestStreamInfoRoundTripNATS(t *testing.T) {
	si := fullStreamInfo()
	var js jetstream.StreamInfo
	roundTrip(t, &si, &js)
	if js.State.Msgs != 10 || js.State.NumSubjects != 2 || js.State.Consumers != 3 || !js.State.LastTime.Equal(t1) ||
		!js.Created.Equal(t0) || js.Cluster.Leader != "n1" || js.Sources[0].Error.ErrorCode != 10059 {
		t.Fatalf("jetstream.StreamInfo read wrong values: %+v", js)
	}
	var legacy nats.StreamInfo
	mustUnmarshal(t, mustJSON(t, &si), &legacy)
	if legacy.State.Bytes != 2048 || legacy.State.NumDeleted != 2 || legacy.Config.Name != "ORDERS" || !legacy.Created.Equal(t0) {
		t.Fatalf("nats.StreamInfo read wrong values: %+v", legacy)
	}
}

func TestTimesAreRFC3339NanoUTC(t *testing.T) {
	b := mustJSON(t, &StreamState{FirstTime: t0})
	want := `"first_ts":"2026-11-25T10:11:12.123456789Z"`
	if !strings.Contains(string(b), want) || !strings.Contains(string(b), `"last_ts":"0001-01-01T00:00:00Z"`) {
		t.Fatalf("got %s", b)
	}
}

func fullConsumerConfig() ConsumerConfig {
	pause := t1
	return ConsumerConfig{
		Durable: "C", Name: "C", Description: "d", DeliverPolicy: DeliverByStartTime,
		OptStartTime: &t0, AckPolicy: AckExplicit, AckWait: 30 * time.Second, MaxDeliver: 5,
		BackOff: []time.Duration{time.Second, 5 * time.Second}, FilterSubjects: []string{"a.*", "b.>"},
		ReplayPolicy: ReplayOriginal, SampleFrequency: "100%", MaxWaiting: 512,
		MaxAckPending: 1000, HeadersOnly: true, MaxRequestBatch: 100, MaxRequestExpires: time.Minute,
		MaxRequestMaxBytes: 1 << 20, InactiveThreshold: 5 * time.Minute, Replicas: 1, MemoryStorage: true,
		Metadata: map[string]string{"k": "v"}, PauseUntil: &pause,
		PriorityGroups: []string{"g"}, PriorityPolicy: PriorityPinnedClient, PinnedTTL: time.Minute,
	}
}

func TestConsumerConfigRoundTripNATS(t *testing.T) {
	cfg := fullConsumerConfig()
	var js jetstream.ConsumerConfig
	roundTrip(t, &cfg, &js)
	if js.DeliverPolicy != jetstream.DeliverByStartTimePolicy || js.AckPolicy != jetstream.AckExplicitPolicy ||
		js.ReplayPolicy != jetstream.ReplayOriginalPolicy || js.PriorityPolicy != jetstream.PriorityPolicyPinned ||
		!js.OptStartTime.Equal(t0) || js.AckWait != 30*time.Second || len(js.BackOff) != 2 {
		t.Fatalf("jetstream.ConsumerConfig read wrong values: %+v", js)
	}

	push := ConsumerConfig{Durable: "P", DeliverSubject: "dlv", DeliverGroup: "q", FlowControl: true,
		Heartbeat: 5 * time.Second, AckPolicy: AckAll, DeliverPolicy: DeliverLastPerSubject,
		RateLimit: 1 << 20, FilterSubject: "x.y", OptStartSeq: 9}
	var legacy nats.ConsumerConfig
	roundTrip(t, &push, &legacy)
	if legacy.DeliverSubject != "dlv" || legacy.Heartbeat != 5*time.Second || !legacy.FlowControl ||
		legacy.AckPolicy != nats.AckAllPolicy || legacy.DeliverPolicy != nats.DeliverLastPerSubjectPolicy || legacy.RateLimit != 1<<20 {
		t.Fatalf("nats.ConsumerConfig read wrong values: %+v", legacy)
	}
}

func TestConsumerInfoRoundTripNATS(t *testing.T) {
	cfg := fullConsumerConfig()
	last := t1
	ci := ConsumerInfo{
		Stream: "ORDERS", Name: "C", Created: t0, Config: &cfg,
		Delivered:     SequenceInfo{Consumer: 10, Stream: 20, Last: &last},
		AckFloor:      SequenceInfo{Consumer: 8, Stream: 18},
		NumAckPending: 2, NumRedelivered: 1, NumWaiting: 3, NumPending: 100,
		PushBound: true, Paused: true, PauseRemaining: time.Minute, TimeStamp: t1,
		PriorityGroups: []PriorityGroupState{{Group: "g", PinnedClientID: "id", PinnedTS: t0}},
	}
	var js jetstream.ConsumerInfo
	roundTrip(t, &ci, &js)
	if js.Delivered.Stream != 20 || js.AckFloor.Consumer != 8 || js.NumPending != 100 || !js.Delivered.Last.Equal(t1) {
		t.Fatalf("jetstream.ConsumerInfo read wrong values: %+v", js)
	}
	var legacy nats.ConsumerInfo
	mustUnmarshal(t, mustJSON(t, &ci), &legacy)
	if legacy.Stream != "ORDERS" || legacy.NumWaiting != 3 || legacy.Config.Durable != "C" || !legacy.PushBound {
		t.Fatalf("nats.ConsumerInfo read wrong values: %+v", legacy)
	}
}

func TestCreateConsumerRequestFromNATS(t *testing.T) {
	// The body nats.go sends to CONSUMER.CREATE: stream_name, config, action.
	in := struct {
		Stream string                    `json:"stream_name"`
		Config *jetstream.ConsumerConfig `json:"config"`
		Action string                    `json:"action"`
	}{"ORDERS", &jetstream.ConsumerConfig{
		Durable: "C", DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 5,
		AckPolicy: jetstream.AckNonePolicy, ReplayPolicy: jetstream.ReplayInstantPolicy,
		MaxRequestExpires: 10 * time.Second, InactiveThreshold: time.Second,
	}, "create"}
	var got CreateConsumerRequest
	mustUnmarshal(t, mustJSON(t, &in), &got)
	if got.Stream != "ORDERS" || got.Action != ActionCreate || got.Config.Durable != "C" ||
		got.Config.DeliverPolicy != DeliverByStartSequence || got.Config.OptStartSeq != 5 ||
		got.Config.AckPolicy != AckNone || got.Config.ReplayPolicy != ReplayInstant ||
		got.Config.MaxRequestExpires != 10*time.Second || got.Config.InactiveThreshold != time.Second {
		t.Fatalf("decoded %+v", got)
	}
	// An action of "" (create or update) and "update".
	for s, want := range map[string]ConsumerAction{`""`: ActionCreateOrUpdate, `"update"`: ActionUpdate} {
		var a ConsumerAction
		mustUnmarshal(t, []byte(s), &a)
		if a != want || string(mustJSON(t, a)) != s {
			t.Fatalf("action %s: got %v", s, a)
		}
	}
}

func TestAccountInfoRoundTripNATS(t *testing.T) {
	ai := AccountInfo{
		Tier: Tier{Memory: 1, Store: 2, ReservedMemory: 3, ReservedStore: 4, Streams: 5, Consumers: 6,
			Limits: AccountLimits{MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1, MaxAckPending: -1,
				MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1, MaxBytesRequired: true}},
		Domain: "hub",
		API:    APIStats{Level: 1, Total: 100, Errors: 2},
		Tiers:  map[string]Tier{"R1": {Streams: 5}},
	}
	var js jetstream.AccountInfo
	roundTrip(t, &ai, &js)
	if js.Store != 2 || js.Streams != 5 || js.API.Total != 100 || js.Limits.MaxStreams != -1 || js.Domain != "hub" {
		t.Fatalf("jetstream.AccountInfo read wrong values: %+v", js)
	}
	var legacy nats.AccountInfo
	roundTrip(t, &ai, &legacy)
}

func TestAPIErrorRoundTripNATS(t *testing.T) {
	e := NewAPIError(ErrCodeStreamNotFound)
	resp := AppendErrorResponse(nil, TypeStreamInfoResponse, e)
	want := mustJSON(t, &APIResponse{Type: TypeStreamInfoResponse, Error: e})
	if string(resp) != string(want) {
		t.Fatalf("AppendErrorResponse %s, json.Marshal %s", resp, want)
	}
	var js struct {
		Type  string              `json:"type"`
		Error *jetstream.APIError `json:"error"`
	}
	mustUnmarshal(t, resp, &js)
	if js.Error.Code != 404 || js.Error.ErrorCode != jetstream.JSErrCodeStreamNotFound || js.Error.Description != "stream not found" {
		t.Fatalf("jetstream.APIError: %+v", js.Error)
	}
	var legacy nats.APIError
	mustUnmarshal(t, e.AppendJSON(nil), &legacy)
	if legacy.ErrorCode != nats.JSErrCodeStreamNotFound || legacy.Code != 404 {
		t.Fatalf("nats.APIError: %+v", legacy)
	}
}

func TestPubAckRoundTripNATS(t *testing.T) {
	for _, pa := range []PubAck{
		{Stream: "S", Sequence: 1},
		{Stream: "S", Sequence: 1 << 60, Domain: "hub", Duplicate: true},
		{Stream: "we\"ird<>", Sequence: 7, Duplicate: true},
	} {
		got := AppendPubAck(nil, pa.Stream, pa.Sequence, pa.Domain, pa.Duplicate)
		if want := mustJSON(t, &pa); string(got) != string(want) {
			t.Fatalf("AppendPubAck %s, json.Marshal %s", got, want)
		}
		var js jetstream.PubAck
		mustUnmarshal(t, got, &js)
		if js.Stream != pa.Stream || js.Sequence != pa.Sequence || js.Domain != pa.Domain || js.Duplicate != pa.Duplicate {
			t.Fatalf("jetstream.PubAck %+v from %s", js, got)
		}
		var legacy nats.PubAck
		mustUnmarshal(t, got, &legacy)
		if legacy.Sequence != pa.Sequence || legacy.Duplicate != pa.Duplicate {
			t.Fatalf("nats.PubAck %+v", legacy)
		}
	}
	e := NewAPIError(ErrCodeStreamWrongLastSequence, "12")
	got := AppendPubAckError(nil, "S", e)
	want := mustJSON(t, &PubAckResponse{Error: e, PubAck: &PubAck{Stream: "S"}})
	if string(got) != string(want) || string(got) != `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 12"},"stream":"S","seq":0}` {
		t.Fatalf("AppendPubAckError %s, json.Marshal %s", got, want)
	}
}

func TestEnumsRejectUnknown(t *testing.T) {
	for _, c := range []struct {
		v   any
		bad string
	}{
		{new(RetentionPolicy), `"forever"`}, {new(DiscardPolicy), `"middle"`}, {new(StorageType), `"tape"`},
		{new(Compression), `"zip"`}, {new(DeliverPolicy), `"sometimes"`}, {new(AckPolicy), `"maybe"`},
		{new(ReplayPolicy), `"slow"`}, {new(ConsumerAction), `"delete"`}, {new(PriorityPolicy), `"vip"`},
		{new(PersistMode), `"lazy"`},
	} {
		if err := json.Unmarshal([]byte(c.bad), c.v); err == nil {
			t.Fatalf("%T accepted %s", c.v, c.bad)
		}
	}
	var d DiscardPolicy
	mustUnmarshal(t, []byte(`"NEW"`), &d)
	if d != DiscardNew {
		t.Fatal(`"NEW" should read as DiscardNew, as nats-server reads it`)
	}
	if _, err := json.Marshal(RetentionPolicy(9)); err == nil {
		t.Fatal("marshal of an unknown retention should fail")
	}
	if b := mustJSON(t, DeliverPolicy(99)); string(b) != `"undefined"` {
		t.Fatalf("unknown deliver policy wrote %s", b)
	}
}

func TestRequestBodiesFromNATS(t *testing.T) {
	// Bodies as nats.go's jetstream package writes them (its request types
	// are unexported, so the same shapes are written here by field name).
	var names StreamNamesRequest
	mustUnmarshal(t, []byte(`{"offset":1024,"subject":"orders.*"}`), &names)
	if names.Offset != 1024 || names.Subject != "orders.*" {
		t.Fatalf("names %+v", names)
	}
	var purge StreamPurgeRequest
	mustUnmarshal(t, []byte(`{"filter":"a.>","seq":10,"keep":3}`), &purge)
	if purge.Subject != "a.>" || purge.Sequence != 10 || purge.Keep != 3 {
		t.Fatalf("purge %+v", purge)
	}
	var get MsgGetRequest
	mustUnmarshal(t, []byte(`{"seq":5,"next_by_subj":"a.b"}`), &get)
	if get.Seq != 5 || get.NextFor != "a.b" {
		t.Fatalf("get %+v", get)
	}
	mustUnmarshal(t, []byte(`{"last_by_subj":"a.c"}`), &get)
	if get.LastFor != "a.c" {
		t.Fatalf("get %+v", get)
	}
	var del MsgDeleteRequest
	mustUnmarshal(t, []byte(`{"seq":9,"no_erase":true}`), &del)
	if del.Seq != 9 || !del.NoErase {
		t.Fatalf("delete %+v", del)
	}
	var info StreamInfoRequest
	mustUnmarshal(t, []byte(`{"offset":2,"deleted_details":true,"subjects_filter":">"}`), &info)
	if info.Offset != 2 || !info.DeletedDetails || info.SubjectsFilter != ">" {
		t.Fatalf("info %+v", info)
	}
}

func TestStoredMsgRoundTripNATS(t *testing.T) {
	resp := MsgGetResponse{APIResponse: APIResponse{Type: TypeMsgGetResponse},
		Message: &StoredMsg{Subject: "a.b", Sequence: 3, Header: []byte("NATS/1.0\r\nX: y\r\n\r\n"), Data: []byte("hello"), Time: t0}}
	// nats.go decodes "message" with its own storedMsg type; check the
	// wire form matches nats-server's (base64 hdrs/data, RFC3339 time).
	b := mustJSON(t, &resp)
	want := `{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"a.b","seq":3,` +
		`"hdrs":"TkFUUy8xLjANClg6IHkNCg0K","data":"aGVsbG8=","time":"2026-11-25T10:11:12.123456789Z"}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ackEvent is an ack the fake server received from the client.
type ackEvent struct {
	stream, consumer string
	sseq             uint64
	kind             AckKind
	delay            time.Duration
	reason           string
}

// fakeJetStream is a scripted JetStream server built from this package's
// types and encoders only.
type fakeJetStream struct {
	t    *testing.T
	acks chan ackEvent
	// pulls receives, for each pull request, the responder that answers it.
	pulls chan func(reply string, req NextRequest) []fakeMsg
	mu    struct {
		sync.Mutex
		cfg  StreamConfig   // the created stream's config
		reqs []NextRequest  // pull requests received
		cons ConsumerConfig // the created consumer's config
	}
}

func (f *fakeJetStream) reply(to string, v any) []fakeMsg {
	b, err := json.Marshal(v)
	if err != nil {
		f.t.Errorf("marshal %T: %v", v, err)
	}
	return []fakeMsg{{to: to, data: b}}
}

func (f *fakeJetStream) streamInfo() *StreamInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &StreamInfo{Config: f.mu.cfg, Created: t0, State: StreamState{Msgs: 1, FirstSeq: 1, LastSeq: 1, FirstTime: t0, LastTime: t0}, TimeStamp: t1}
}

func (f *fakeJetStream) handle(subject, reply string, hdr, data []byte) []fakeMsg {
	if strings.HasPrefix(subject, AckPrefix) {
		r, err := ParseAckReply([]byte(subject))
		if err != nil {
			f.t.Errorf("ack subject %q: %v", subject, err)
			return nil
		}
		b := ParseAckBody(data)
		f.acks <- ackEvent{string(r.Stream), string(r.Consumer), r.StreamSeq, b.Kind, b.Delay, string(b.Reason)}
		return nil
	}
	if strings.HasPrefix(subject, "orders.") && reply != "" {
		h, _ := nats.DecodeHeadersMsg(hdr)
		if len(hdr) > 0 && h.Get(HdrExpectedLastSeq) != "" {
			return []fakeMsg{{to: reply, data: AppendPubAckError(nil, "ORDERS", NewAPIError(ErrCodeStreamWrongLastSequence, "1"))}}
		}
		return []fakeMsg{{to: reply, data: AppendPubAck(nil, "ORDERS", 2, "", h.Get(HdrMsgID) == "dup")}}
	}
	s, ok := ParseAPISubject([]byte(subject))
	if !ok {
		return []fakeMsg{{to: reply, data: AppendErrorResponse(nil, TypeSystemResponse, NewAPIError(ErrCodeBadRequest))}}
	}
	switch s.Op {
	case OpAccountInfo:
		return f.reply(reply, &AccountInfoResponse{APIResponse{Type: TypeAccountInfoResponse}, &AccountInfo{
			Tier: Tier{Store: 1 << 20, Streams: 1, Consumers: 2, Limits: AccountLimits{MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1}},
			API:  APIStats{Level: 1, Total: 7},
		}})
	case OpStreamCreate:
		var cfg StreamConfig
		if err := json.Unmarshal(data, &cfg); err != nil {
			return []fakeMsg{{to: reply, data: AppendErrorResponse(nil, TypeStreamCreateResponse, NewAPIError(ErrCodeInvalidJSON, err.Error()))}}
		}
		f.mu.Lock()
		f.mu.cfg = cfg
		f.mu.Unlock()
		return f.reply(reply, &StreamCreateResponse{APIResponse{Type: TypeStreamCreateResponse}, f.streamInfo(), true})
	case OpStreamInfo:
		if string(s.Stream) != "ORDERS" {
			return []fakeMsg{{to: reply, data: AppendErrorResponse(nil, TypeStreamInfoResponse, NewAPIError(ErrCodeStreamNotFound))}}
		}
		return f.reply(reply, &StreamInfoResponse{APIResponse: APIResponse{Type: TypeStreamInfoResponse}, StreamInfo: f.streamInfo()})
	case OpConsumerCreate:
		var req CreateConsumerRequest
		if err := json.Unmarshal(data, &req); err != nil {
			f.t.Errorf("consumer create body: %v", err)
		}
		if string(s.Stream) != req.Stream || string(s.Consumer) != req.Config.Durable || string(s.Subject) != req.Config.FilterSubject {
			f.t.Errorf("consumer create subject %s does not match body %+v", subject, req)
		}
		f.mu.Lock()
		f.mu.cons = req.Config
		f.mu.Unlock()
		return f.reply(reply, &ConsumerCreateResponse{APIResponse{Type: TypeConsumerCreateResponse},
			&ConsumerInfo{Stream: req.Stream, Name: req.Config.Durable, Created: t0, Config: &req.Config, TimeStamp: t1}})
	case OpConsumerNext:
		var req NextRequest
		if err := ParseNextRequest(data, &req); err != nil {
			return []fakeMsg{{to: reply, hdr: AppendBadRequest(nil, err.Error())}}
		}
		f.mu.Lock()
		f.mu.reqs = append(f.mu.reqs, req)
		f.mu.Unlock()
		select {
		case responder := <-f.pulls:
			return responder(reply, req)
		default:
			return []fakeMsg{{to: reply, hdr: AppendNoMessages(nil)}}
		}
	case OpDirectGetLast:
		stored := []byte("NATS/1.0\r\nX-A: 1\r\n\r\n")
		return []fakeMsg{{to: reply, hdr: AppendDirectGetHeader(nil, stored, "ORDERS", string(s.Subject), 9, t0), data: []byte("last")}}
	}
	return []fakeMsg{{to: reply, data: AppendErrorResponse(nil, s.Op.ResponseType(), NewAPIError(ErrCodeBadRequest))}}
}

func (f *fakeJetStream) lastRequest() NextRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.reqs[len(f.mu.reqs)-1]
}

func status(hdr []byte) func(reply string, req NextRequest) []fakeMsg {
	return func(reply string, _ NextRequest) []fakeMsg { return []fakeMsg{{to: reply, hdr: hdr}} }
}

// TestNATSClientAgainstEncoders drives the unmodified nats.go jetstream
// client against a fake server that answers only with this package's
// types and encoders.
func TestNATSClientAgainstEncoders(t *testing.T) {
	f := &fakeJetStream{t: t, acks: make(chan ackEvent, 16), pulls: make(chan func(string, NextRequest) []fakeMsg, 1)}
	url := startFakeServer(t, f.handle)
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// fetchAll drains a batch and returns its messages and error.
	fetchAll := func(b jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for m := range b.Messages() {
			msgs = append(msgs, m)
		}
		return msgs, b.Error()
	}

	ai, err := js.AccountInfo(ctx)
	if err != nil || ai.Store != 1<<20 || ai.Consumers != 2 || ai.API.Total != 7 || ai.Limits.MaxStreams != -1 {
		t.Fatalf("AccountInfo %+v %v", ai, err)
	}

	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage, MaxAge: time.Hour, AllowDirect: true})
	if err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	if c := stream.CachedInfo().Config; c.Retention != jetstream.WorkQueuePolicy || c.MaxAge != time.Hour || c.Storage != jetstream.MemoryStorage {
		t.Fatalf("stream config %+v", c)
	}
	if _, err := js.Stream(ctx, "MISSING"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("missing stream: %v", err)
	}

	pa, err := js.Publish(ctx, "orders.1", []byte("x"), jetstream.WithMsgID("dup"))
	if err != nil || pa.Stream != "ORDERS" || pa.Sequence != 2 || !pa.Duplicate {
		t.Fatalf("Publish %+v %v", pa, err)
	}
	_, err = js.Publish(ctx, "orders.1", []byte("x"), jetstream.WithExpectLastSequence(5))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence || apiErr.Description != "wrong last sequence: 1" {
		t.Fatalf("publish with wrong last sequence: %v", err)
	}

	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: "orders.>", AckWait: 10 * time.Second, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatalf("CreateOrUpdateConsumer: %v", err)
	}
	f.mu.Lock()
	cc := f.mu.cons
	f.mu.Unlock()
	if cc.AckPolicy != AckExplicit || cc.AckWait != 10*time.Second || cc.FilterSubject != "orders.>" {
		t.Fatalf("consumer config received %+v", cc)
	}

	// Three messages: ack, nak with delay, progress then term with reason.
	f.pulls <- func(reply string, req NextRequest) []fakeMsg {
		var out []fakeMsg
		for i := uint64(1); i <= 3; i++ {
			out = append(out, fakeMsg{to: reply, subject: "orders.1", data: []byte("hello"),
				reply: string(AppendAckReply(nil, "ORDERS", "C", 1, 10+i, i, t0.UnixNano(), 3-i))})
		}
		return out
	}
	msgs, err := fetchAll(cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second)))
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Fetch: %d msgs, %v", len(msgs), err)
	}
	if req := f.lastRequest(); req.Batch != 3 || req.Expires != 5*time.Second {
		t.Fatalf("pull request %+v", req)
	}
	md, err := msgs[0].Metadata()
	if err != nil || md.Stream != "ORDERS" || md.Consumer != "C" || md.Sequence.Stream != 11 || md.Sequence.Consumer != 1 ||
		md.NumDelivered != 1 || md.NumPending != 2 || !md.Timestamp.Equal(t0) {
		t.Fatalf("Metadata %+v %v", md, err)
	}
	if err := msgs[0].Ack(); err != nil {
		t.Fatal(err)
	}
	if err := msgs[1].NakWithDelay(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := msgs[2].InProgress(); err != nil {
		t.Fatal(err)
	}
	if err := msgs[2].TermWithReason("bad payload"); err != nil {
		t.Fatal(err)
	}
	want := []ackEvent{
		{"ORDERS", "C", 11, AckAck, 0, ""},
		{"ORDERS", "C", 12, AckNak, 2 * time.Second, ""},
		{"ORDERS", "C", 13, AckProgress, 0, ""},
		{"ORDERS", "C", 13, AckTerm, 0, "bad payload"},
	}
	for _, w := range want {
		select {
		case got := <-f.acks:
			if got != w {
				t.Fatalf("ack %+v, want %+v", got, w)
			}
		case <-ctx.Done():
			t.Fatalf("no ack %+v", w)
		}
	}

	// Status replies, classified by nats.go.
	f.pulls <- status(AppendNoMessages(nil))
	if msgs, err := fetchAll(cons.FetchNoWait(1)); len(msgs) != 0 || err != nil {
		t.Fatalf("404: %d msgs, %v", len(msgs), err)
	}
	if req := f.lastRequest(); !req.NoWait || req.Batch != 1 {
		t.Fatalf("no-wait request %+v", req)
	}
	f.pulls <- status(AppendRequestTimeout(nil, 1, 0))
	if msgs, err := fetchAll(cons.Fetch(1, jetstream.FetchMaxWait(time.Second))); len(msgs) != 0 || err != nil {
		t.Fatalf("408: %d msgs, %v", len(msgs), err)
	}
	f.pulls <- status(AppendMaxBytesExceeded(nil, 1, 10))
	if msgs, err := fetchAll(cons.Fetch(1, jetstream.FetchMaxBytes(10))); len(msgs) != 0 || err != nil {
		t.Fatalf("409 max bytes: %d msgs, %v", len(msgs), err)
	}
	if req := f.lastRequest(); req.MaxBytes != 10 {
		t.Fatalf("max-bytes request %+v", req)
	}
	f.pulls <- status(AppendConsumerDeleted(nil))
	if _, err := fetchAll(cons.Fetch(1)); !errors.Is(err, jetstream.ErrConsumerDeleted) {
		t.Fatalf("409 consumer deleted: %v", err)
	}
	f.pulls <- status(AppendLeadershipChange(nil))
	if _, err := fetchAll(cons.Fetch(1)); !errors.Is(err, jetstream.ErrConsumerLeadershipChanged) {
		t.Fatalf("409 leadership change: %v", err)
	}
	f.pulls <- status(AppendExceededMaxWaiting(nil))
	if _, err := fetchAll(cons.Fetch(1)); err == nil || !strings.Contains(err.Error(), "Exceeded MaxWaiting") {
		t.Fatalf("409 max waiting: %v", err)
	}
	f.pulls <- status(AppendBadRequest(nil, "heartbeat value too large"))
	if _, err := fetchAll(cons.Fetch(1)); !errors.Is(err, jetstream.ErrBadRequest) {
		t.Fatalf("400: %v", err)
	}

	// Direct get of the last message on a subject.
	rm, err := stream.GetLastMsgForSubject(ctx, "orders.1")
	if err != nil || rm.Sequence != 9 || rm.Subject != "orders.1" || !rm.Time.Equal(t0) || string(rm.Data) != "last" || rm.Header.Get("X-A") != "1" {
		t.Fatalf("direct get %+v %v", rm, err)
	}

	// The legacy JetStreamContext reads the same replies.
	legacy, err := nc.JetStream(nats.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	si, err := legacy.StreamInfo("ORDERS")
	if err != nil || si.Config.Retention != nats.WorkQueuePolicy || si.State.Msgs != 1 || !si.Created.Equal(t0) {
		t.Fatalf("legacy StreamInfo %+v %v", si, err)
	}
	if _, err := legacy.StreamInfo("MISSING"); !errors.Is(err, nats.ErrStreamNotFound) {
		t.Fatalf("legacy missing stream: %v", err)
	}
}

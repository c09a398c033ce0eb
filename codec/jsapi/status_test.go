package jsapi

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Exact bytes, as nats-server 2.15.2 formats them (consumer.go, stream.go).
func TestStatusBytes(t *testing.T) {
	cases := []struct {
		got  []byte
		want string
	}{
		{AppendNoMessages(nil), "NATS/1.0 404 No Messages\r\n\r\n"},
		{AppendRequestTimeout(nil, 5, 1024), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 5\r\nNats-Pending-Bytes: 1024\r\n\r\n"},
		{AppendRequestsPending(nil), "NATS/1.0 408 Requests Pending\r\n\r\n"},
		{AppendMaxBytesExceeded(nil, 3, 0), "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n"},
		{AppendBatchCompleted(nil, 0, 77), "NATS/1.0 409 Batch Completed\r\nNats-Pending-Messages: 0\r\nNats-Pending-Bytes: 77\r\n\r\n"},
		{AppendServerShutdown(nil, 1, 2), "NATS/1.0 409 Server Shutdown\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 2\r\n\r\n"},
		{AppendExceededMaxWaiting(nil), "NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n"},
		{AppendExceededMaxRequestBatch(nil, 100), "NATS/1.0 409 Exceeded MaxRequestBatch of 100\r\n\r\n"},
		{AppendExceededMaxRequestMaxBytes(nil, 4096), "NATS/1.0 409 Exceeded MaxRequestMaxBytes of 4096\r\n\r\n"},
		{AppendExceededMaxRequestExpires(nil, 30*time.Second), "NATS/1.0 409 Exceeded MaxRequestExpires of 30s\r\n\r\n"},
		{AppendConsumerDeleted(nil), "NATS/1.0 409 Consumer Deleted\r\n\r\n"},
		{AppendConsumerIsPushBased(nil), "NATS/1.0 409 Consumer is push based\r\n\r\n"},
		{AppendLeadershipChange(nil), "NATS/1.0 409 Leadership Change\r\n\r\n"},
		{AppendBadRequest(nil, "heartbeat value too large"), "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n"},
		{AppendBadRequest(nil, ""), "NATS/1.0 400 Bad Request\r\n\r\n"},
		{AppendNoResponders(nil), "NATS/1.0 503\r\n\r\n"},
		{AppendIdleHeartbeat(nil, 10, 20, ""), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 10\r\nNats-Last-Stream: 20\r\n\r\n"},
		{AppendIdleHeartbeat(nil, 0, 0, "$JS.FC.S.C.abcd"), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\nNats-Last-Stream: 0\r\nNats-Consumer-Stalled: $JS.FC.S.C.abcd\r\n\r\n"},
		{AppendFlowControlRequest(nil), "NATS/1.0 100 FlowControl Request\r\n\r\n"},
		{AppendMessageNotFound(nil), "NATS/1.0 404 Message Not Found\r\n\r\n"},
		{AppendDirectGetHeader(nil, nil, "S", "a.b", 7, t0), "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: a.b\r\nNats-Sequence: 7\r\nNats-Time-Stamp: 2026-11-25T10:11:12.123456789Z\r\n\r\n"},
		{AppendDirectGetHeader(nil, []byte("NATS/1.0\r\nX-A: 1\r\n\r\n"), "S", "a.b", 7, t0.In(time.FixedZone("x", 3600))), "NATS/1.0\r\nX-A: 1\r\nNats-Stream: S\r\nNats-Subject: a.b\r\nNats-Sequence: 7\r\nNats-Time-Stamp: 2026-11-25T10:11:12.123456789Z\r\n\r\n"},
		{AppendDirectGetBatchHeader(nil, nil, "S", "a.b", 7, t0, 3, 6), "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: a.b\r\nNats-Sequence: 7\r\nNats-Time-Stamp: 2026-11-25T10:11:12.123456789Z\r\nNats-Num-Pending: 3\r\nNats-Last-Sequence: 6\r\n\r\n"},
		{AppendDirectGetEOB(nil, 0, 9), "NATS/1.0 204 EOB\r\nNats-Num-Pending: 0\r\nNats-Last-Sequence: 9\r\n\r\n"},
		{AppendHeaderField(nil, nil, "K", "v"), "NATS/1.0\r\nK: v\r\n\r\n"},
		{AppendHeaderField([]byte("x"), []byte("NATS/1.0\r\nA: b\r\n\r\n"), "K", "v"), "xNATS/1.0\r\nA: b\r\nK: v\r\n\r\n"},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("got  %q\nwant %q", c.got, c.want)
		}
	}
}

// classify applies nats.go's rules (jetstream/message.go checkMsg and
// js.go isJSControlMessage, v1.55.0) to a decoded status message.
func classify(h nats.Header) string {
	status, descr := h.Get("Status"), strings.ToLower(h.Get("Description"))
	switch status {
	case "100":
		if strings.HasPrefix(h.Get("Description"), "Idle") {
			return "heartbeat"
		}
		if strings.HasPrefix(h.Get("Description"), "Flow") {
			return "flowcontrol"
		}
		return "control"
	case "400":
		return "ErrBadRequest"
	case "404":
		return "ErrNoMessages"
	case "408":
		return "ErrTimeout"
	case "503":
		return "ErrNoResponders"
	case "409":
		for _, k := range []struct{ sub, err string }{
			{"message size exceeds maxbytes", "ErrMaxBytesExceeded"},
			{"batch completed", "ErrBatchCompleted"},
			{"consumer deleted", "ErrConsumerDeleted"},
			{"leadership change", "ErrConsumerLeadershipChanged"},
			{"server shutdown", "ErrServerShutdown"},
		} {
			if strings.Contains(descr, k.sub) {
				return k.err
			}
		}
	}
	return "other: " + h.Get("Description")
}

func TestStatusAsNATSClassifiesIt(t *testing.T) {
	cases := []struct {
		hdr          []byte
		class        string
		pendingMsgs  string
		pendingBytes string
	}{
		{AppendNoMessages(nil), "ErrNoMessages", "", ""},
		{AppendRequestTimeout(nil, 5, 1024), "ErrTimeout", "5", "1024"},
		{AppendMaxBytesExceeded(nil, 3, 10), "ErrMaxBytesExceeded", "3", "10"},
		{AppendBatchCompleted(nil, 0, 77), "ErrBatchCompleted", "0", "77"},
		{AppendConsumerDeleted(nil), "ErrConsumerDeleted", "", ""},
		{AppendLeadershipChange(nil), "ErrConsumerLeadershipChanged", "", ""},
		{AppendServerShutdown(nil, 1, 2), "ErrServerShutdown", "1", "2"},
		{AppendExceededMaxWaiting(nil), "other: Exceeded MaxWaiting", "", ""},
		{AppendBadRequest(nil, "x"), "ErrBadRequest", "", ""},
		{AppendNoResponders(nil), "ErrNoResponders", "", ""},
		{AppendIdleHeartbeat(nil, 1, 2, ""), "heartbeat", "", ""},
		{AppendFlowControlRequest(nil), "flowcontrol", "", ""},
	}
	for _, c := range cases {
		h, err := nats.DecodeHeadersMsg(c.hdr)
		if err != nil {
			t.Fatalf("%q: nats.go cannot decode: %v", c.hdr, err)
		}
		if got := classify(h); got != c.class {
			t.Errorf("%q: classified %q, want %q", c.hdr, got, c.class)
		}
		if h.Get(HdrPendingMessages) != c.pendingMsgs || h.Get(HdrPendingBytes) != c.pendingBytes {
			t.Errorf("%q: pending %q/%q", c.hdr, h.Get(HdrPendingMessages), h.Get(HdrPendingBytes))
		}
	}
	h, _ := nats.DecodeHeadersMsg(AppendIdleHeartbeat(nil, 10, 20, "$JS.FC.S.C.abcd"))
	if h.Get("Nats-Last-Consumer") != "10" || h.Get("Nats-Last-Stream") != "20" || h.Get("Nats-Consumer-Stalled") != "$JS.FC.S.C.abcd" {
		t.Fatalf("heartbeat headers %v", h)
	}
	h, _ = nats.DecodeHeadersMsg(AppendDirectGetBatchHeader(nil, []byte("NATS/1.0\r\nX-A: 1\r\n\r\n"), "S", "a.b", 7, t0, 3, 6))
	if h.Get(nats.JSStream) != "S" || h.Get(nats.JSSubject) != "a.b" || h.Get(nats.JSSequence) != "7" ||
		h.Get(nats.JSTimeStamp) != "2026-11-25T10:11:12.123456789Z" || h.Get(HdrNumPending) != "3" ||
		h.Get(nats.JSLastSequence) != "6" || h.Get("X-A") != "1" || h.Get("Status") != "" {
		t.Fatalf("direct get headers %v", h)
	}
}

func TestAllocsStatus(t *testing.T) {
	buf := make([]byte, 0, 512)
	stored := []byte("NATS/1.0\r\nX-A: 1\r\n\r\n")
	n := testing.AllocsPerRun(100, func() {
		b := AppendRequestTimeout(buf[:0], 5, 1024)
		b = AppendMaxBytesExceeded(b[:0], 1, 2)
		b = AppendIdleHeartbeat(b[:0], 1, 2, "$JS.FC.S.C.abcd")
		b = AppendNoMessages(b[:0])
		_ = AppendDirectGetBatchHeader(b[:0], stored, "S", "a.b", 7, t0, 3, 6)
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

func BenchmarkStatus(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.Run("kind=request_timeout", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(AppendRequestTimeout(nil, 5, 1024))))
		for b.Loop() {
			buf = AppendRequestTimeout(buf[:0], 5, 1024)
		}
	})
	b.Run("kind=direct_get", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(AppendDirectGetHeader(nil, nil, "S", "a.b", 7, t0))))
		for b.Loop() {
			buf = AppendDirectGetHeader(buf[:0], nil, "S", "a.b", 7, t0)
		}
	})
}

package jsapi

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// natsMetadata parses an ack reply with nats.go's legacy Msg.Metadata.
func natsMetadata(t *testing.T, reply string) *nats.MsgMetadata {
	t.Helper()
	m := &nats.Msg{Subject: "orders.a", Reply: reply, Sub: &nats.Subscription{}}
	md, err := m.Metadata()
	if err != nil {
		t.Fatalf("nats.go rejected %q: %v", reply, err)
	}
	return md
}

func TestAckReplyV1(t *testing.T) {
	ts := t0.UnixNano()
	reply := AppendAckReply(nil, "ORDERS", "C1", 2, 1234, 56, ts, 789)
	if want := "$JS.ACK.ORDERS.C1.2.1234.56.1795601472123456789.789"; string(reply) != want {
		t.Fatalf("got %s want %s", reply, want)
	}
	md := natsMetadata(t, string(reply))
	if md.Stream != "ORDERS" || md.Consumer != "C1" || md.NumDelivered != 2 || md.Sequence.Stream != 1234 ||
		md.Sequence.Consumer != 56 || !md.Timestamp.Equal(t0) || md.NumPending != 789 || md.Domain != "" {
		t.Fatalf("nats.go metadata %+v", md)
	}
	r, err := ParseAckReply(reply)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Stream) != "ORDERS" || string(r.Consumer) != "C1" || r.Delivered != 2 || r.StreamSeq != 1234 ||
		r.ConsumerSeq != 56 || r.Timestamp != ts || r.Pending != 789 || r.Domain != nil || r.AccountHash != nil {
		t.Fatalf("parsed %+v", r)
	}
}

func TestAckReplyV2(t *testing.T) {
	ts := t1.UnixNano()
	for _, domain := range []string{"", "hub"} {
		reply := AppendAckReplyV2(nil, domain, "ACCHASH", "S", "C", 1, 2, 3, ts, 4)
		md := natsMetadata(t, string(reply))
		if md.Domain != domain || md.Stream != "S" || md.Consumer != "C" || md.NumDelivered != 1 ||
			md.Sequence.Stream != 2 || md.Sequence.Consumer != 3 || !md.Timestamp.Equal(t1) || md.NumPending != 4 {
			t.Fatalf("nats.go metadata %+v of %s", md, reply)
		}
		r, err := ParseAckReply(reply)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Domain) != domain || string(r.AccountHash) != "ACCHASH" || string(r.Stream) != "S" ||
			r.StreamSeq != 2 || r.Timestamp != ts || r.Pending != 4 {
			t.Fatalf("parsed %+v", r)
		}
		// A 12th token (a random suffix) is allowed and ignored.
		r2, err := ParseAckReply(append(reply, ".xyz"...))
		if err != nil || r2.Pending != 4 || string(r2.Consumer) != "C" {
			t.Fatalf("12 tokens: %+v %v", r2, err)
		}
	}
}

func TestParseAckReplyRejects(t *testing.T) {
	for _, s := range []string{
		"", "$JS.ACK.", "$JS.ACK.S.C.1.2.3.4", "$JS.ACK.S.C.1.2.3.4.5.6", "$JS.API.S.C.1.2.3.4.5",
		"$JS.ACK.S.C.1.2.x.4.5", "$JS.ACK..C.1.2.3.4.5", "$JS.ACK.S.C.1.2.3.4.", "$JS.ACK.S.C.-1.2.3.4.5",
		"$JS.ACK.S.C.1.2.3.99999999999999999999.5", "$JS.ACK.S.C.1.2.3.18446744073709551616.5",
	} {
		if r, err := ParseAckReply([]byte(s)); !errors.Is(err, ErrBadAckReply) {
			t.Errorf("%q: got %+v, %v", s, r, err)
		}
	}
}

func TestParseAckBody(t *testing.T) {
	cases := []struct {
		body   string
		kind   AckKind
		delay  time.Duration
		reason string
		next   string
	}{
		{"", AckAck, 0, "", ""},
		{"+ACK", AckAck, 0, "", ""},
		{"+OK", AckAck, 0, "", ""},
		{"-NAK", AckNak, 0, "", ""},
		{`-NAK {"delay": 5000000000}`, AckNak, 5 * time.Second, "", ""},
		{`-NAK {"delay":7}`, AckNak, 7, "", ""},
		{`-NAK { "delay" : 8 } `, AckNak, 8, "", ""},
		{`-NAK {"Delay": 9}`, AckNak, 9, "", ""}, // encoding/json is case-insensitive, like the server
		{`-NAK 1.5s`, AckNak, 1500 * time.Millisecond, "", ""},
		{`-NAK bogus`, AckNak, 0, "", ""},
		{`-NAK {"delay":"x"}`, AckNak, 0, "", ""},
		{"+WPI", AckProgress, 0, "", ""},
		{"+WPI extra", AckUnknown, 0, "", ""},
		{"+NXT", AckNext, 0, "", ""},
		{`+NXT {"batch":5}`, AckNext, 0, "", ` {"batch":5}`},
		{"+TERM", AckTerm, 0, "", ""},
		{"+TERM  bad payload \r\n", AckTerm, 0, "bad payload", ""},
		{"hello", AckUnknown, 0, "", ""},
	}
	for _, c := range cases {
		b := ParseAckBody([]byte(c.body))
		if b.Kind != c.kind || b.Delay != c.delay || string(b.Reason) != c.reason || string(b.Next) != c.next {
			t.Errorf("%q: got %+v (%v)", c.body, b, b.Kind)
		}
	}
	// +NXT carries a pull request.
	var req NextRequest
	if err := ParseNextRequest(ParseAckBody([]byte(`+NXT {"batch":5,"no_wait":true}`)).Next, &req); err != nil || req.Batch != 5 || !req.NoWait {
		t.Fatalf("next request %+v %v", req, err)
	}
	if err := ParseNextRequest(ParseAckBody([]byte("+NXT 3")).Next, &req); err != nil || req.Batch != 3 {
		t.Fatalf("next request %+v %v", req, err)
	}
}

func TestFlowControlReply(t *testing.T) {
	got := string(AppendFlowControlReply(nil, "S", "C", 62*62*62*61+62*10+1))
	if got != "$JS.FC.S.C.1a0Z" {
		t.Fatalf("got %s", got)
	}
}

func TestAllocsAck(t *testing.T) {
	buf := make([]byte, 0, 256)
	reply := AppendAckReply(nil, "ORDERS", "C1", 2, 1234, 56, 1764065472123456789, 789)
	nak := []byte(`-NAK {"delay": 5000000000}`)
	ack := []byte("+ACK")
	n := testing.AllocsPerRun(100, func() {
		_ = AppendAckReply(buf[:0], "ORDERS", "C1", 2, 1234, 56, 1764065472123456789, 789)
		if _, err := ParseAckReply(reply); err != nil {
			t.Fatal(err)
		}
		if ParseAckBody(ack).Kind != AckAck || ParseAckBody(nak).Delay != 5*time.Second {
			t.Fatal("ack body")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

func BenchmarkAckReply(b *testing.B) {
	buf := make([]byte, 0, 256)
	reply := AppendAckReply(nil, "ORDERS", "C1", 2, 1234, 56, 1764065472123456789, 789)
	b.Run("op=append", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(reply)))
		for b.Loop() {
			buf = AppendAckReply(buf[:0], "ORDERS", "C1", 2, 1234, 56, 1764065472123456789, 789)
		}
	})
	b.Run("op=parse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(reply)))
		for b.Loop() {
			if _, err := ParseAckReply(reply); err != nil {
				b.Fatal(err)
			}
		}
	})
}

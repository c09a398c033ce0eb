package codec

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// routeRecorder logs every RouteHandler call as a line; adjacent payload
// pieces are coalesced so that any split of the same input logs the same.
type routeRecorder struct{ log []string }

func (r *routeRecorder) add(s string) error { r.log = append(r.log, s); return nil }

func (r *routeRecorder) Info(js []byte) error    { return r.add("INFO " + string(js)) }
func (r *routeRecorder) Connect(js []byte) error { return r.add("CONNECT " + string(js)) }
func (r *routeRecorder) Ping() error             { return r.add("PING") }
func (r *routeRecorder) Pong() error             { return r.add("PONG") }
func (r *routeRecorder) Err(m []byte) error      { return r.add("ERR " + string(m)) }
func (r *routeRecorder) Sub(a, s, q []byte, w int64) error {
	return r.add(fmt.Sprintf("RS+ %s %s %q %d", a, s, q, w))
}
func (r *routeRecorder) Unsub(a, s, q []byte) error {
	return r.add(fmt.Sprintf("RS- %s %s %q", a, s, q))
}
func (r *routeRecorder) MsgStart(m *RouteMsg) error {
	qs := make([]string, len(m.Queues))
	for i, q := range m.Queues {
		qs[i] = string(q)
	}
	return r.add(fmt.Sprintf("MSG %s %s reply=%q queues=%v hdr=%d size=%d chunked=%v",
		m.Account, m.Subject, m.Reply, qs, m.HdrLen, m.Size, m.Chunked))
}
func (r *routeRecorder) MsgHeaders(h []byte) error { return r.add("HDR " + string(h)) }
func (r *routeRecorder) MsgPayload(p []byte) error {
	if n := len(r.log); n > 0 && strings.HasPrefix(r.log[n-1], "DATA ") {
		r.log[n-1] += string(p)
		return nil
	}
	return r.add("DATA " + string(p))
}
func (r *routeRecorder) MsgEnd() error   { return r.add("END") }
func (r *routeRecorder) MsgAbort() error { return r.add("ABORT") }

const routeSample = "INFO {\"server_id\":\"A\"}\r\n" +
	"CONNECT {\"server_id\":\"B\"}\r\n" +
	"PING\r\nPONG\r\n+OK\r\n" +
	"RS+ $G foo.*\r\n" +
	"RS+ $G bar workers 3\r\n" +
	"RS- $G foo.*\r\nRS- $G bar workers\r\n" +
	"RMSG $G foo.x 5\r\nhello\r\n" +
	"RMSG $G foo.x _INBOX.1 0\r\n\r\n" +
	"RMSG $G foo.x + _INBOX.2 q1 q2 3\r\nabc\r\n" +
	"RMSG $G foo.x | q1 2\r\nhi\r\n" +
	"HRMSG $G foo.h r 12 15\r\nNATS/1.0\r\n\r\nabc\r\n" +
	"HRMSG $G foo.h 0 2\r\nok\r\n" +
	"LMSG $G big 10\r\n4\r\nabcd6\r\nefghij0\r\n" +
	"HLMSG $G bigh | q 12 14\r\n5\r\nNATS/7\r\n1.0\r\n\r\n2\r\nxy0\r\n" +
	"LMSG $G gone 100\r\n3\r\nabc-\r\n" +
	"LMSG $G empty 0\r\n0\r\n" +
	"-ERR 'Route Protocol Parse Error'\r\n"

var routeSampleLog = []string{
	`INFO {"server_id":"A"}`,
	`CONNECT {"server_id":"B"}`,
	"PING", "PONG",
	`RS+ $G foo.* "" 0`,
	`RS+ $G bar "workers" 3`,
	`RS- $G foo.* ""`, `RS- $G bar "workers"`,
	`MSG $G foo.x reply="" queues=[] hdr=-1 size=5 chunked=false`, "DATA hello", "END",
	`MSG $G foo.x reply="_INBOX.1" queues=[] hdr=-1 size=0 chunked=false`, "END",
	`MSG $G foo.x reply="_INBOX.2" queues=[q1 q2] hdr=-1 size=3 chunked=false`, "DATA abc", "END",
	`MSG $G foo.x reply="" queues=[q1] hdr=-1 size=2 chunked=false`, "DATA hi", "END",
	`MSG $G foo.h reply="r" queues=[] hdr=12 size=15 chunked=false`, "HDR NATS/1.0\r\n\r\n", "DATA abc", "END",
	`MSG $G foo.h reply="" queues=[] hdr=0 size=2 chunked=false`, "HDR ", "DATA ok", "END",
	`MSG $G big reply="" queues=[] hdr=-1 size=10 chunked=true`, "DATA abcdefghij", "END",
	`MSG $G bigh reply="" queues=[q] hdr=12 size=14 chunked=true`, "HDR NATS/1.0\r\n\r\n", "DATA xy", "END",
	`MSG $G gone reply="" queues=[] hdr=-1 size=100 chunked=true`, "DATA abc", "ABORT",
	`MSG $G empty reply="" queues=[] hdr=-1 size=0 chunked=true`, "END",
	"ERR Route Protocol Parse Error",
}

func TestRouteParserWhole(t *testing.T) {
	r := &routeRecorder{}
	p := NewRouteParser(r, ParserOptions{})
	if err := p.Parse([]byte(routeSample)); err != nil {
		t.Fatal(err)
	}
	checkLog(t, r.log, routeSampleLog)
	if p.InMessage() {
		t.Fatal("InMessage after the last message")
	}
}

// TestRouteParserPieces feeds the sample in random pieces (and byte by
// byte): the calls must be the same whatever the split.
func TestRouteParserPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := []byte(routeSample)
	for round := 0; round < 300; round++ {
		r := &routeRecorder{}
		p := NewRouteParser(r, ParserOptions{})
		for i := 0; i < len(in); {
			n := 1
			if round > 0 {
				n = 1 + rng.IntN(40)
			}
			n = min(n, len(in)-i)
			if err := p.Parse(in[i : i+n]); err != nil {
				t.Fatalf("round %d at %d: %v", round, i, err)
			}
			i += n
		}
		checkLog(t, r.log, routeSampleLog)
	}
}

func checkLog(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d calls, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("call %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestRouteParserErrors(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"FOO bar\r\n", ErrRouteOp},
		{"\r\n", ErrRouteOp},
		{"RS+\r\n", ErrRouteArgs},
		{"RS+ $G a q\r\n", ErrRouteArgs},
		{"RS+ $G a q x\r\n", ErrRouteArgs},
		{"RS- $G a b c\r\n", ErrRouteArgs},
		{"RMSG $G a\r\n", ErrRouteArgs},
		{"RMSG $G a x\r\n", ErrRouteArgs},
		{"RMSG $G a b c 3\r\n", ErrRouteArgs},
		{"RMSG $G a + 3\r\n", ErrRouteArgs},
		{"RMSG $G a | 3\r\n", ErrRouteArgs},
		{"HRMSG $G a 5 3\r\n", ErrRouteArgs},
		{"RMSG $G a 3\r\nabcX\r\n", ErrRouteFrame},
		{"RMSG $G a 99999999999\r\n", ErrMaxPayload},
		{"LMSG $G a 3\r\n4\r\n", ErrRouteFrame},
		{"LMSG $G a 3\r\n2\r\nab0\r\n", ErrRouteFrame},
		{"LMSG $G a 3\r\nx\r\n", ErrRouteFrame},
		{"LMSG $G a 3\r\n" + strings.Repeat("1", 30), ErrRouteFrame},
		{"RMSG $G " + strings.Repeat("q ", 40) + "1\r\n", ErrRouteArgs},
		{strings.Repeat("x", 5000), ErrMaxControlLine},
	}
	for _, c := range cases {
		p := NewRouteParser(&routeRecorder{}, ParserOptions{MaxPayload: 1 << 30})
		err := p.Parse([]byte(c.in))
		if !errors.Is(err, c.want) {
			t.Errorf("%q: got %v, want %v", c.in, err, c.want)
		}
		if err2 := p.Parse([]byte("PING\r\n")); err2 != err {
			t.Errorf("%q: parser not stuck: %v", c.in, err2)
		}
	}
}

// TestRouteEncodeRoundTrip checks that what the encoders write parses back.
func TestRouteEncodeRoundTrip(t *testing.T) {
	var b []byte
	b = AppendRouteInfo(b, &RouteInfo{ID: "A", Name: "n1", RouteURL: "127.0.0.1:6222", Routes: []string{"x:1"}})
	b = AppendRouteConnect(b, &RouteInfo{ID: "B"})
	b = AppendRouteSub(b, "$G", "foo.>", "", 0)
	b = AppendRouteSub(b, "$G", "foo", "q", 2)
	b = AppendRouteUnsub(b, "$G", "foo", "q")
	b = AppendRouteMsg(b, "$G", []byte("s"), []byte("r"), nil, -1, 2, false)
	b = append(b, "hi\r\n"...)
	b = AppendRouteMsg(b, "$G", []byte("s"), nil, []string{"q1", "q2"}, 12, 13, false)
	b = append(b, "NATS/1.0\r\n\r\nx\r\n"...)
	b = AppendRouteMsg(b, "$G", []byte("s"), []byte("r"), []string{"q"}, -1, 3, true)
	b = AppendFrame(b, 3)
	b = append(b, "abc"...)
	b = append(b, FrameEnd...)
	b = AppendRouteMsg(b, "$G", []byte("s"), nil, nil, 0, 3, true)
	b = AppendFrame(b, 1)
	b = append(b, "a"...)
	b = append(b, FrameAbort...)
	r := &routeRecorder{}
	if err := NewRouteParser(r, ParserOptions{}).Parse(b); err != nil {
		t.Fatalf("%v in %q", err, b)
	}
	checkLog(t, r.log, []string{
		`INFO {"server_id":"A","server_name":"n1","version":"","route_url":"127.0.0.1:6222","routes":["x:1"]}`,
		`CONNECT {"server_id":"B","server_name":"","version":"","route_url":""}`,
		`RS+ $G foo.> "" 0`, `RS+ $G foo "q" 2`, `RS- $G foo "q"`,
		`MSG $G s reply="r" queues=[] hdr=-1 size=2 chunked=false`, "DATA hi", "END",
		`MSG $G s reply="" queues=[q1 q2] hdr=12 size=13 chunked=false`, "HDR NATS/1.0\r\n\r\n", "DATA x", "END",
		`MSG $G s reply="r" queues=[q] hdr=-1 size=3 chunked=true`, "DATA abc", "END",
		`MSG $G s reply="" queues=[] hdr=0 size=3 chunked=true`, "HDR ", "DATA a", "ABORT",
	})
	ri, err := ParseRouteInfo([]byte(`{"server_id":"A","route_url":"h:1","raft_addr":"h:2"}`))
	if err != nil || ri.ID != "A" || ri.RouteURL != "h:1" || ri.RaftAddr != "h:2" {
		t.Fatalf("ParseRouteInfo: %+v %v", ri, err)
	}
	if _, err := ParseRouteInfo(nil); err == nil {
		t.Fatal("ParseRouteInfo(nil) succeeded")
	}
}

type nopRouteHandler struct{}

func (nopRouteHandler) Info([]byte) error                       { return nil }
func (nopRouteHandler) Connect([]byte) error                    { return nil }
func (nopRouteHandler) Ping() error                             { return nil }
func (nopRouteHandler) Pong() error                             { return nil }
func (nopRouteHandler) Err([]byte) error                        { return nil }
func (nopRouteHandler) Sub([]byte, []byte, []byte, int64) error { return nil }
func (nopRouteHandler) Unsub([]byte, []byte, []byte) error      { return nil }
func (nopRouteHandler) MsgStart(*RouteMsg) error                { return nil }
func (nopRouteHandler) MsgHeaders([]byte) error                 { return nil }
func (nopRouteHandler) MsgPayload([]byte) error                 { return nil }
func (nopRouteHandler) MsgEnd() error                           { return nil }
func (nopRouteHandler) MsgAbort() error                         { return nil }

func TestAllocsRouteParseAndEncode(t *testing.T) {
	p := NewRouteParser(nopRouteHandler{}, ParserOptions{})
	hdr := "NATS/1.0\r\nA: b\r\n\r\n"
	in := []byte("HRMSG $G foo.bar + _INBOX.x q1 q2 " + itoa(len(hdr)) + " " + itoa(len(hdr)+100) + "\r\n" +
		hdr + strings.Repeat("x", 100) + "\r\n" +
		"LMSG $G foo 6\r\n3\r\nabc3\r\ndef0\r\nRS+ $G a.b q 1\r\nRS- $G a.b q\r\n")
	assertNoAllocs(t, "route parse", func() {
		if err := p.Parse(in[:20]); err != nil {
			t.Fatal(err)
		}
		if err := p.Parse(in[20:]); err != nil {
			t.Fatal(err)
		}
	})
	buf := make([]byte, 0, 256)
	qs := []string{"q1", "q2"}
	assertNoAllocs(t, "route encode", func() {
		b := AppendRouteMsg(buf[:0], "$G", []byte("foo.bar"), []byte("_INBOX.x"), qs, 10, 100, true)
		b = AppendFrame(b, 4096)
		_ = AppendRouteSub(b, "$G", "foo", "q", 3)
	})
}

func BenchmarkRouteParseRMSG(b *testing.B) {
	for _, size := range []int{128, 64 << 10} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			in := []byte("RMSG $G foo.bar _INBOX.x " + itoa(size) + "\r\n" + strings.Repeat("x", size) + "\r\n")
			p := NewRouteParser(nopRouteHandler{}, ParserOptions{})
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := p.Parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

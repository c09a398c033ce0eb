package codec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// parseCase is an input, the log it must produce, and the error it must end
// with (nil when it parses cleanly).
type parseCase struct {
	name string
	in   string
	want []string
	err  error
}

var validCases = []parseCase{
	{"ping", "PING\r\n", []string{"PING"}, nil},
	{"pong", "PONG\r\n", []string{"PONG"}, nil},
	{"ping lower", "ping\r\n", []string{"PING"}, nil},
	{"ping mixed bare LF", "PiNg\n", []string{"PING"}, nil},
	{"ping trailing junk", "PING foo\r\n", []string{"PING"}, nil},
	{"connect", "CONNECT {\"verbose\":false}\r\n", []string{`CONNECT {"verbose":false}`}, nil},
	{"connect no space", "connect{}\r\n", []string{"CONNECT {}"}, nil},
	{"connect tabs", "CONNECT \t {}\n", []string{"CONNECT {}"}, nil},
	{"sub", "SUB foo 1\r\n", []string{"SUB foo <nil> 1"}, nil},
	{"sub queue", "sub foo.bar q 22\r\n", []string{"SUB foo.bar q 22"}, nil},
	{"sub extra spaces", "SUB\t foo  \t q   9  \r\n", []string{"SUB foo q 9"}, nil},
	{"unsub", "UNSUB 1\r\n", []string{"UNSUB 1 0"}, nil},
	{"unsub max", "unsub 1 10\r\n", []string{"UNSUB 1 10"}, nil},
	{"pub", "PUB foo 5\r\nhello\r\n", []string{"PUB foo <nil> -1 5", "BODY hello", "END"}, nil},
	{"pub reply", "pub foo bar 5\r\nhello\r\n", []string{"PUB foo bar -1 5", "BODY hello", "END"}, nil},
	{"pub empty", "PUB foo 0\r\n\r\n", []string{"PUB foo <nil> -1 0", "END"}, nil},
	{"pub bare LF line", "PUB foo 2\nhi\r\n", []string{"PUB foo <nil> -1 2", "BODY hi", "END"}, nil},
	{"pub crlf in body", "PUB foo 4\r\n\r\n\r\n\r\n", []string{"PUB foo <nil> -1 4", "BODY \r\n\r\n", "END"}, nil},
	{"hpub", "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
		[]string{"PUB foo <nil> 12 17", "HDR NATS/1.0\r\n\r\n", "BODY hello", "END"}, nil},
	{"hpub reply", "hpub foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n",
		[]string{"PUB foo r 12 12", "HDR NATS/1.0\r\n\r\n", "END"}, nil},
	{"hpub zero header", "HPUB foo 0 2\r\nhi\r\n",
		[]string{"PUB foo <nil> 0 2", "HDR ", "BODY hi", "END"}, nil},
	{"sequence", "PING\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPUB a 0\r\n\r\nUNSUB 1\r\nPONG\r\n",
		[]string{"PING", "SUB a <nil> 1", "PUB a <nil> -1 1", "BODY x", "END", "PUB a <nil> -1 0", "END", "UNSUB 1 0", "PONG"}, nil},
}

var errorCases = []parseCase{
	{"unknown op", "FOO\r\n", nil, ErrUnknownOp},
	{"empty line", "\r\n", nil, ErrUnknownOp},
	{"MSG from client", "MSG foo 1 1\r\n", nil, ErrUnknownOp},
	{"P junk", "PX\r\n", nil, ErrUnknownOp},
	{"bad keyword", "PUX foo 1\r\n", nil, ErrUnknownOp},
	{"pub no space", "PUB\r\n", nil, ErrUnknownOp},
	{"sub glued", "SUBfoo 1\r\n", nil, ErrUnknownOp},
	{"after ok op", "PING\r\nX", []string{"PING"}, ErrUnknownOp},
	{"pub one arg", "PUB foo\r\n", nil, ErrPubArgs},
	{"pub four args", "PUB a b c 1\r\n", nil, ErrPubArgs},
	{"pub no args", "PUB \r\n", nil, ErrPubArgs},
	{"pub bad size", "PUB foo x1\r\n", nil, ErrPubSize},
	{"pub negative", "PUB foo -1\r\n", nil, ErrPubSize},
	{"pub huge size", "PUB foo 99999999999999999999\r\n", nil, ErrPubSize},
	{"pub over max", "PUB foo 1025\r\n", nil, ErrMaxPayload},
	{"pub short body", "PUB foo 5\r\nhi\r\nPING\r\n", []string{"PUB foo <nil> -1 5", "BODY hi\r\nP"}, ErrPayloadTerminator},
	{"pub long body", "PUB foo 1\r\nhi\r\n", []string{"PUB foo <nil> -1 1", "BODY h"}, ErrPayloadTerminator},
	{"pub bare LF end", "PUB foo 1\r\nh\n", []string{"PUB foo <nil> -1 1", "BODY h"}, ErrPayloadTerminator},
	{"pub CR junk", "PUB foo 1\r\nh\rx", []string{"PUB foo <nil> -1 1", "BODY h"}, ErrPayloadTerminator},
	{"hpub two args", "HPUB foo 1\r\n", nil, ErrHPubArgs},
	{"hpub five args", "HPUB a b 1 2 3\r\n", nil, ErrHPubArgs},
	{"hpub bad hdr", "HPUB foo x 2\r\n", nil, ErrHPubHeaderSize},
	{"hpub bad total", "HPUB foo 1 -2\r\n", nil, ErrHPubTotalSize},
	{"hpub hdr over total", "HPUB foo 3 2\r\n", nil, ErrHPubHeaderOverTotal},
	{"hpub over max", "HPUB foo 2 2000\r\n", nil, ErrMaxPayload},
	{"hpub header over max", "HPUB foo 600 600\r\n", nil, ErrMaxHeaderSize},
	{"hpub bad end", "HPUB foo 2 3\r\nabcXY", []string{"PUB foo <nil> 2 3", "HDR ab", "BODY c"}, ErrPayloadTerminator},
	{"sub one arg", "SUB foo\r\n", nil, ErrSubArgs},
	{"sub four args", "SUB a b c d\r\n", nil, ErrSubArgs},
	{"unsub no args", "UNSUB \r\n", nil, ErrUnsubArgs},
	{"unsub three args", "UNSUB 1 2 3\r\n", nil, ErrUnsubArgs},
	{"unsub bad max", "UNSUB 1 x\r\n", nil, ErrUnsubArgs},
	{"control line too long", "SUB " + strings.Repeat("a", 100) + " 1\r\n", nil, ErrMaxControlLine},
	{"control line never ends", "PUB " + strings.Repeat("a", 100), nil, ErrMaxControlLine},
	{"ping line too long", "PING" + strings.Repeat(" ", 100) + "\r\n", nil, ErrMaxControlLine},
}

// testOptions are small limits so that limit cases stay short.
var testOptions = ParserOptions{MaxControlLine: 64, MaxPayload: 1024, MaxHeaderSize: 512}

// feed parses the pieces of in cut at the given offsets (ascending) with a
// fresh Parser and returns the log and the first error.
func feed(in string, cuts ...int) ([]string, error) {
	r := &recorder{}
	p := NewParser(r, testOptions)
	prev := 0
	for _, c := range append(cuts, len(in)) {
		if err := p.Parse([]byte(in[prev:c])); err != nil {
			return r.log, err
		}
		prev = c
	}
	return r.log, nil
}

func checkCase(t *testing.T, tc parseCase, log []string, err error, how string) {
	t.Helper()
	if err != tc.err {
		t.Fatalf("%s: %q: error %v, want %v", how, tc.in, err, tc.err)
	}
	if !reflect.DeepEqual(log, tc.want) && !(len(log) == 0 && len(tc.want) == 0) {
		t.Fatalf("%s: %q: log\n%q\nwant\n%q", how, tc.in, log, tc.want)
	}
}

func TestParseWhole(t *testing.T) {
	for _, tc := range append(append([]parseCase{}, validCases...), errorCases...) {
		t.Run(tc.name, func(t *testing.T) {
			log, err := feed(tc.in)
			checkCase(t, tc, log, err, "whole")
		})
	}
}

// TestParseSplitEverywhere cuts every case at every byte boundary, and also
// feeds it one byte at a time.
func TestParseSplitEverywhere(t *testing.T) {
	for _, tc := range append(append([]parseCase{}, validCases...), errorCases...) {
		t.Run(tc.name, func(t *testing.T) {
			for c := 0; c <= len(tc.in); c++ {
				log, err := feed(tc.in, c)
				checkCase(t, tc, log, err, "split")
			}
			for a := 1; a < len(tc.in) && len(tc.in) < 40; a++ {
				for b := a; b < len(tc.in); b++ {
					log, err := feed(tc.in, a, b)
					checkCase(t, tc, log, err, "split3")
				}
			}
			bytewise := make([]int, 0, len(tc.in))
			for c := 1; c < len(tc.in); c++ {
				bytewise = append(bytewise, c)
			}
			log, err := feed(tc.in, bytewise...)
			checkCase(t, tc, log, err, "bytewise")
		})
	}
}

func TestErrorsAreFatalProtoErrors(t *testing.T) {
	for _, tc := range errorCases {
		var pe *ProtoError
		if !errors.As(tc.err, &pe) || !pe.Fatal || pe.Error() != pe.Msg || pe.Msg == "" {
			t.Errorf("%s: %v is not a fatal *ProtoError", tc.name, tc.err)
		}
	}
}

func TestErrorWording(t *testing.T) {
	for _, c := range []struct {
		err  *ProtoError
		want string
	}{
		{ErrMaxControlLine, "Maximum Control Line Exceeded"},
		{ErrUnknownOp, "Unknown Protocol Operation"},
		{ErrMaxPayload, "Maximum Payload Violation"},
		{ErrPubArgs, "processPub Parse Error"},
		{ErrPubSize, "processPub Bad or Missing Size"},
		{ErrHPubHeaderOverTotal, "processHeaderPub Header Size larger then TotalSize"},
	} {
		if c.err.Error() != c.want {
			t.Errorf("got %q, want %q", c.err.Error(), c.want)
		}
	}
	if got := string(AppendErr([]byte("x"), ErrMaxPayload.Msg)); got != "x-ERR 'Maximum Payload Violation'\r\n" {
		t.Errorf("AppendErr = %q", got)
	}
}

func TestControlLineLimitExact(t *testing.T) {
	arg := strings.Repeat("a", testOptions.MaxControlLine-2) + " 1" // exactly the limit
	for _, end := range []string{"\r\n", "\n"} {
		in := "SUB " + arg + end
		for c := 0; c <= len(in); c++ {
			log, err := feed(in, c)
			if err != nil || len(log) != 1 {
				t.Fatalf("%q cut at %d: %v %q", in, c, err, log)
			}
		}
		in = "SUB a" + arg + end // one byte over
		for c := 0; c <= len(in); c++ {
			if _, err := feed(in, c); err != ErrMaxControlLine {
				t.Fatalf("%q cut at %d: %v", in, c, err)
			}
		}
	}
}

func TestHandlerErrorStopsAndSticks(t *testing.T) {
	in := "PING\r\nPUB a 3\r\nabc\r\nPONG\r\n"
	for _, failOn := range []string{"PING", "PUB", "BODY", "END", "PONG"} {
		r := &recorder{failOn: failOn}
		p := NewParser(r, ParserOptions{})
		err := p.Parse([]byte(in))
		var fe *failError
		if !errors.As(err, &fe) {
			t.Fatalf("failOn %s: err %v", failOn, err)
		}
		n := len(r.log)
		if !strings.HasPrefix(r.log[n-1], failOn) {
			t.Fatalf("failOn %s: log %q", failOn, r.log)
		}
		if err2 := p.Parse([]byte("PING\r\n")); err2 != err || len(r.log) != n {
			t.Fatalf("failOn %s: not sticky: %v %q", failOn, err2, r.log)
		}
		p.Reset()
		r.failOn = ""
		if err := p.Parse([]byte("PING\r\n")); err != nil || r.log[len(r.log)-1] != "PING" {
			t.Fatalf("failOn %s: after Reset: %v %q", failOn, err, r.log)
		}
	}
}

func TestInMessageAndReset(t *testing.T) {
	r := &recorder{}
	p := NewParser(r, ParserOptions{})
	if p.InMessage() {
		t.Fatal("InMessage at start")
	}
	if err := p.Parse([]byte("HPUB a 12 20\r\nNATS/1.0\r\n")); err != nil || !p.InMessage() {
		t.Fatalf("%v %v", err, p.InMessage())
	}
	p.Reset()
	if p.InMessage() {
		t.Fatal("InMessage after Reset")
	}
	r.log = nil
	if err := p.Parse([]byte("PUB a 1\r\nx")); err != nil || !p.InMessage() {
		t.Fatalf("%v", err)
	}
	if err := p.Parse([]byte("\r\n")); err != nil || p.InMessage() {
		t.Fatalf("%v", err)
	}
	want := []string{"PUB a <nil> -1 1", "BODY x", "END"}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log %q", r.log)
	}
}

// TestPayloadPiecesAliasInput checks that body pieces are the input itself,
// not copies, and that they arrive as the input does.
func TestPayloadPiecesAliasInput(t *testing.T) {
	var pieces [][]byte
	h := &pieceHandler{got: &pieces}
	p := NewParser(h, ParserOptions{})
	line := []byte("PUB a 10\r\n01234")
	rest := []byte("56789\r\n")
	if err := p.Parse(line); err != nil {
		t.Fatal(err)
	}
	if err := p.Parse(rest); err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 2 || &pieces[0][0] != &line[10] || &pieces[1][0] != &rest[0] || len(pieces[1]) != 5 {
		t.Fatalf("pieces %q", pieces)
	}
}

type pieceHandler struct {
	nopHandler
	got *[][]byte
}

func (h *pieceHandler) PubPayload(p []byte) error { *h.got = append(*h.got, p); return nil }

func TestDefaults(t *testing.T) {
	p := NewParser(&nopHandler{}, ParserOptions{})
	if p.maxControl != DefaultMaxControlLine || p.maxPayload != DefaultMaxPayload || p.maxHeader != DefaultMaxHeaderSize {
		t.Fatalf("defaults %d %d %d", p.maxControl, p.maxPayload, p.maxHeader)
	}
	if cap(p.scratch) != DefaultMaxControlLine+1 {
		t.Fatalf("scratch cap %d", cap(p.scratch))
	}
	r := &recorder{}
	p = NewParser(r, ParserOptions{})
	big := "PUB a 1073741824\r\n"
	if err := p.Parse([]byte(big)); err != nil {
		t.Fatalf("1 GiB refused: %v", err)
	}
	p.Reset()
	if err := p.Parse([]byte("PUB a 1073741825\r\n")); err != ErrMaxPayload {
		t.Fatalf("1 GiB + 1: %v", err)
	}
}

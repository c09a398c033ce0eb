package codec

import (
	"strconv"
	"strings"
	"testing"
)

// Allocation tests: the hot paths must not allocate once warmed up.

func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	f() // warm-up: lets buffers reach their steady size
	if n := testing.AllocsPerRun(200, f); n != 0 {
		t.Fatalf("%s: %v allocs per run, want 0", name, n)
	}
}

func mustParse(t *testing.T, p *Parser, b []byte) {
	if err := p.Parse(b); err != nil {
		t.Fatal(err)
	}
}

func TestAllocsParsePub(t *testing.T) {
	p := NewParser(&nopHandler{}, ParserOptions{})
	in := []byte("PUB foo.bar reply.to 1024\r\n" + strings.Repeat("x", 1024) + "\r\n")
	assertNoAllocs(t, "PUB", func() { mustParse(t, p, in) })
}

func TestAllocsParseHPub(t *testing.T) {
	p := NewParser(&nopHandler{}, ParserOptions{})
	hdr := "NATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n"
	in := []byte("HPUB foo.bar " + itoa(len(hdr)) + " " + itoa(len(hdr)+100) + "\r\n" + hdr + strings.Repeat("x", 100) + "\r\n")
	assertNoAllocs(t, "HPUB whole", func() { mustParse(t, p, in) })
	// The header block split across reads goes through the reused buffer.
	cut := strings.Index(string(in), "Msg-Id")
	assertNoAllocs(t, "HPUB split header", func() {
		mustParse(t, p, in[:cut])
		mustParse(t, p, in[cut:])
	})
}

func TestAllocsParseSplitControlLine(t *testing.T) {
	p := NewParser(&nopHandler{}, ParserOptions{})
	in := []byte("PUB foo.bar reply 5\r\nhello\r\nSUB foo.* q 12\r\nPING\r\n")
	for _, cut := range []int{3, 9, 18, 20, 32, 48} {
		assertNoAllocs(t, "split control line", func() {
			mustParse(t, p, in[:cut])
			mustParse(t, p, in[cut:])
		})
	}
}

func TestAllocsEncoders(t *testing.T) {
	dst := make([]byte, 0, 256)
	subj, sid, reply := []byte("foo.bar"), []byte("42"), []byte("_INBOX.abc")
	assertNoAllocs(t, "AppendMsg", func() { dst = AppendMsg(dst[:0], subj, sid, reply, 1<<20) })
	assertNoAllocs(t, "AppendHMsg", func() { dst = AppendHMsg(dst[:0], subj, sid, reply, 40, 1<<20) })
	assertNoAllocs(t, "AppendErr", func() { dst = AppendErr(dst[:0], ErrMaxPayload.Msg) })
	assertNoAllocs(t, "header builders", func() {
		dst = AppendHeaderStart(dst[:0], 404, "No Messages")
		dst = AppendHeader(dst, "Nats-Msg-Id", "x")
		dst = AppendHeaderEnd(dst)
	})
	hdr := []byte("NATS/1.0 408 Request Timeout\r\nNats-Msg-Id: abc\r\nNats-Expected-Stream: s\r\n\r\n")
	assertNoAllocs(t, "HeaderValue", func() {
		if v, ok := HeaderValue(hdr, "nats-expected-stream"); !ok || len(v) != 1 {
			t.Fatal("HeaderValue")
		}
	})
	assertNoAllocs(t, "HeaderStatus", func() {
		if c, _ := HeaderStatus(hdr); c != 408 {
			t.Fatal("HeaderStatus")
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

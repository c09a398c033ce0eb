package jetstream_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawConn is a NATS client connection driven by hand, for the tests that
// stream a large payload in pieces and read a large reply byte by byte,
// which nats.go would hold whole.
type rawConn struct {
	net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	t    testing.TB
	wait time.Duration // how long line waits for the next line
}

// dialRaw connects to url; the connection closes when the test ends.
func dialRaw(t testing.TB, url string, wait time.Duration) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReaderSize(c, 256<<10), bw: bufio.NewWriterSize(c, 256<<10), t: t, wait: wait}
}

// line returns the next protocol line without its CRLF, answering PINGs
// and skipping INFO, PONG and +OK.
func (c *rawConn) line() string {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(c.wait))
	for {
		s, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		s = strings.TrimRight(s, "\r\n")
		switch {
		case s == "PING":
			fmt.Fprintf(c, "PONG\r\n")
		case strings.HasPrefix(s, "INFO "), s == "PONG", s == "+OK":
		default:
			return s
		}
	}
}

// hmsg reads what follows the HMSG line hl: its header, and its payload
// hashed as it streams in (SHA-256 and length); the trailing CRLF is
// consumed.
func (c *rawConn) hmsg(hl string) (hdr, sum []byte, n int64) {
	c.t.Helper()
	f := strings.Fields(hl)
	if len(f) != 5 || f[0] != "HMSG" {
		c.t.Fatalf("expected an HMSG line, got %q", hl)
	}
	hlen, _ := strconv.Atoi(f[3])
	total, _ := strconv.ParseInt(f[4], 10, 64)
	c.SetReadDeadline(time.Now().Add(c.wait))
	hdr = make([]byte, hlen)
	if _, err := io.ReadFull(c.br, hdr); err != nil {
		c.t.Fatalf("read header: %v", err)
	}
	h := sha256.New()
	n, err := io.CopyN(h, c.br, total-int64(hlen))
	if err == nil {
		_, err = c.br.Discard(2)
	}
	if err != nil {
		c.t.Fatalf("read payload (%d of %d bytes): %v", n, total-int64(hlen), err)
	}
	return hdr, h.Sum(nil), n
}

package jetstream_test

import (
	"bufio"
	"fmt"
	"net"
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

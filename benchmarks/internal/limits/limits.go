// Package limits measures the machine ceilings the suite compares brokers
// with: loopback TCP bandwidth over one connection (Loopback), and the
// durable publish rate barge's log write pattern reaches on the store's
// disk for a workload's message shape (DiskLog, disk.go).
package limits

import (
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// Loopback streams big writes over one 127.0.0.1 TCP connection for about d
// and returns the bytes per second the reader received. It returns an error if
// the connection cannot be set up or breaks.
func Loopback(d time.Duration, writeSize int) (float64, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		buf := make([]byte, writeSize)
		var n int64
		for {
			k, err := c.Read(buf)
			n += int64(k)
			if err == io.EOF {
				got <- result{n: n}
				return
			}
			if err != nil {
				got <- result{n: n, err: err}
				return
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, writeSize)
	fill(buf, 1)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	r := <-got
	el := time.Since(start)
	if r.err != nil {
		return 0, r.err
	}
	return float64(r.n) / el.Seconds(), nil
}

// fill puts incompressible bytes from a fixed seed into b.
func fill(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

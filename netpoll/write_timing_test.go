package netpoll

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
)

// BenchmarkWrite measures Write throughput through loopback to a client that
// reads as fast as it can; the clock stops when the client has everything.
// The writer is paced like a broker forwarding a publisher: it yields while
// the next message would not fit under the watermark, so this measures the
// memory queue and the hand-off to gnet, not the disk.
func BenchmarkWrite(b *testing.B) {
	benchmarkWrite(b, true)
}

// BenchmarkWriteUnpaced lets the writer run ahead of the socket, so most of
// the bytes are staged in the spill file and read back: the staging path's
// throughput.
func BenchmarkWriteUnpaced(b *testing.B) {
	benchmarkWrite(b, false)
}

func benchmarkWrite(b *testing.B, paced bool) {
	const watermark = 8 << 20
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			h := startServer(b, Options{Loops: 1, WriteWatermark: watermark, MaxPending: 1 << 40})
			nc, ts := h.dial(b)
			want := int64(b.N) * int64(size)
			got := make(chan int64, 1)
			go func() {
				n, _ := io.CopyN(io.Discard, nc, want)
				got <- n
			}()
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for paced && ts.tr.Pending() > int64(watermark-size) {
					runtime.Gosched()
				}
				if err := ts.tr.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			if n := <-got; n != want {
				b.Fatalf("client read %d bytes, want %d", n, want)
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkLoopbackBaseline is the same transfer over a plain Go net.Conn
// pair, with no queue at all: the ceiling BenchmarkWrite is measured against.
func BenchmarkLoopbackBaseline(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			want := int64(b.N) * int64(size)
			got := make(chan int64, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					got <- 0
					return
				}
				defer nc.Close()
				n, _ := io.CopyN(io.Discard, nc, want)
				got <- n
			}()
			wc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer wc.Close()
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := wc.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			if n := <-got; n != want {
				b.Fatalf("read %d bytes, want %d", n, want)
			}
		})
	}
}

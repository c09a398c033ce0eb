package netpoll

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkWrite measures Write throughput through loopback to a client that
// reads as fast as it can; the clock stops when the client has everything.
// A writer that outpaces the socket is staged to disk, as in production.
func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			h := startServer(b, Options{Loops: 1, MaxPending: 1 << 40})
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

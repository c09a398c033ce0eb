package chunking

import (
	"fmt"
	"io"
	"testing"
)

func BenchmarkChunker(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("size=%s", human(size)), func(b *testing.B) {
			payload := make([]byte, size)
			c := NewChunker(make([]byte, 0, DefaultChunkSize), func(Header, []byte) error { return nil })
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				c.Reset(1, int64(size))
				for p := payload; len(p) > 0; {
					n := min(len(p), 48<<10) // pieces the size of a socket read
					c.Write(p[:n])
					p = p[n:]
				}
				c.Close()
			}
		})
	}
}

func BenchmarkAssembler(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("size=%s", human(size)), func(b *testing.B) {
			var stream []byte
			c := NewChunker(make([]byte, 0, DefaultChunkSize), func(h Header, d []byte) error {
				stream = AppendHeader(stream, h)
				stream = append(stream, d...)
				return nil
			})
			c.Reset(1, int64(size))
			c.Write(make([]byte, size))
			c.Close()
			a := NewAssembler(io.Discard, make([]byte, 0, HeaderSize+DefaultChunkSize))
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				a.Reset(1)
				for p := stream; len(p) > 0; {
					n := min(len(p), 48<<10)
					if _, err := a.Write(p[:n]); err != nil {
						b.Fatal(err)
					}
					p = p[n:]
				}
				if err := a.Finish(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func human(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

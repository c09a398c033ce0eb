package codec

import (
	"strconv"
	"strings"
	"testing"
)

// readSize is the size of one network read that the benchmarks simulate.
const readSize = 64 << 10

var benchSizes = []struct {
	name string
	n    int
}{
	{"16B", 16}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20},
}

// parseReads feeds in to p in reads of at most readSize bytes.
func parseReads(b *testing.B, p *Parser, in []byte) {
	for len(in) > 0 {
		n := min(len(in), readSize)
		if err := p.Parse(in[:n]); err != nil {
			b.Fatal(err)
		}
		in = in[n:]
	}
}

// BenchmarkParsePub parses one PUB with a payload of the given size per
// op, delivered in 64 KiB reads. Bytes/op are wire bytes.
func BenchmarkParsePub(b *testing.B) {
	for _, s := range benchSizes {
		b.Run("size="+s.name, func(b *testing.B) {
			in := []byte("PUB bench.subject _INBOX.reply " + strconv.Itoa(s.n) + "\r\n" + strings.Repeat("x", s.n) + "\r\n")
			p := NewParser(&nopHandler{}, ParserOptions{})
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				parseReads(b, p, in)
			}
		})
	}
}

// BenchmarkParseHPub is BenchmarkParsePub with a small header block.
func BenchmarkParseHPub(b *testing.B) {
	hdr := "NATS/1.0\r\nNats-Msg-Id: 0123456789\r\n\r\n"
	for _, s := range benchSizes {
		b.Run("size="+s.name, func(b *testing.B) {
			in := []byte("HPUB bench.subject " + strconv.Itoa(len(hdr)) + " " + strconv.Itoa(len(hdr)+s.n) +
				"\r\n" + hdr + strings.Repeat("x", s.n) + "\r\n")
			p := NewParser(&nopHandler{}, ParserOptions{})
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				parseReads(b, p, in)
			}
		})
	}
}

// BenchmarkParsePubStream parses 16-byte PUBs packed back to back in 64 KiB
// reads, so that control lines are regularly split between reads.
func BenchmarkParsePubStream(b *testing.B) {
	one := "PUB bench.subject 16\r\n" + strings.Repeat("x", 16) + "\r\n"
	in := []byte(strings.Repeat(one, 8192))
	p := NewParser(&nopHandler{}, ParserOptions{})
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		parseReads(b, p, in)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8192), "ns/msg")
}

func BenchmarkAppendMsg(b *testing.B) {
	dst := make([]byte, 0, 128)
	subj, sid, reply := []byte("bench.subject"), []byte("42"), []byte("_INBOX.abcdef")
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendMsg(dst[:0], subj, sid, reply, 1<<20)
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkAppendHMsg(b *testing.B) {
	dst := make([]byte, 0, 128)
	subj, sid, reply := []byte("bench.subject"), []byte("42"), []byte("_INBOX.abcdef")
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendHMsg(dst[:0], subj, sid, reply, 44, 1<<20)
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkHeaderValue(b *testing.B) {
	hdr := []byte("NATS/1.0\r\nNats-Msg-Id: 0123456789\r\nNats-Expected-Stream: orders\r\nNats-Expected-Last-Sequence: 41\r\n\r\n")
	b.SetBytes(int64(len(hdr)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := HeaderValue(hdr, "nats-expected-last-sequence"); !ok {
			b.Fatal("missing")
		}
	}
}

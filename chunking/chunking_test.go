package chunking

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// frame cuts payload into framed chunks (header+data back to back), feeding
// it to the Chunker in pieces chosen by rng.
func frame(t testing.TB, rng *rand.Rand, id uint64, payload []byte, chunk int, known bool) []byte {
	t.Helper()
	var out []byte
	c := NewChunker(make([]byte, 0, chunk), func(h Header, data []byte) error {
		out = AppendHeader(out, h)
		out = append(out, data...)
		return nil
	})
	total := int64(-1)
	if known {
		total = int64(len(payload))
	}
	c.Reset(id, total)
	p := payload
	for len(p) > 0 {
		n := 1 + rng.IntN(3*chunk)
		n = min(n, len(p))
		if _, err := c.Write(p[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		p = p[n:]
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return out
}

func assemble(stream []byte, id uint64, chunk int, rng *rand.Rand) ([]byte, error) {
	var got bytes.Buffer
	a := NewAssembler(&got, make([]byte, 0, HeaderSize+chunk))
	a.Reset(id)
	for len(stream) > 0 {
		n := min(1+rng.IntN(2*chunk), len(stream))
		if _, err := a.Write(stream[:n]); err != nil {
			return got.Bytes(), err
		}
		stream = stream[n:]
	}
	return got.Bytes(), a.Finish()
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, chunk := range []int{1, 7, 64, 1000} {
		for _, size := range []int{0, 1, 6, 7, 8, 63, 64, 65, 128, 1000, 4096, 9999} {
			for _, known := range []bool{true, false} {
				payload := make([]byte, size)
				for i := range payload {
					payload[i] = byte(rng.Uint32())
				}
				stream := frame(t, rng, 42, payload, chunk, known)
				wantChunks := max(1, (size+chunk-1)/chunk)
				if got := len(stream) - size; got != wantChunks*HeaderSize {
					t.Fatalf("chunk=%d size=%d known=%v: %d chunks, want %d", chunk, size, known, got/HeaderSize, wantChunks)
				}
				got, err := assemble(stream, 42, chunk, rng)
				if err != nil {
					t.Fatalf("chunk=%d size=%d known=%v: %v", chunk, size, known, err)
				}
				if !bytes.Equal(got, payload) {
					t.Fatalf("chunk=%d size=%d known=%v: payload differs", chunk, size, known)
				}
			}
		}
	}
}

func TestChunkerSizeMismatch(t *testing.T) {
	c := NewChunker(make([]byte, 0, 4), func(Header, []byte) error { return nil })
	c.Reset(1, 5)
	if _, err := c.Write(make([]byte, 6)); !errors.Is(err, ErrSize) {
		t.Fatalf("overlong write: %v", err)
	}
	c.Reset(1, 5)
	if _, err := c.Write(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, ErrSize) {
		t.Fatalf("short close: %v", err)
	}
	if _, err := c.Write([]byte{1}); !errors.Is(err, ErrSize) {
		t.Fatalf("sticky: %v", err)
	}
}

// TestCorruptionNeverData flips every byte of a framed stream in turn: the
// assembler must fail, and whatever it wrote must be a prefix of the real
// payload made of whole chunks only.
func TestCorruptionNeverData(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	const chunk = 64
	stream := frame(t, rng, 9, payload, chunk, true)
	for i := range stream {
		bad := bytes.Clone(stream)
		bad[i] ^= 1 << (i % 8)
		got, err := assemble(bad, 9, chunk, rng)
		if err == nil {
			t.Fatalf("flip at %d: no error", i)
		}
		if !bytes.HasPrefix(payload, got) || len(got)%chunk != 0 {
			t.Fatalf("flip at %d: wrote %d bytes that are not whole good chunks", i, len(got))
		}
	}
}

func TestAssemblerOrderErrors(t *testing.T) {
	var chunks [][]byte
	var hdrs []Header
	c := NewChunker(make([]byte, 0, 4), func(h Header, data []byte) error {
		hdrs = append(hdrs, h)
		chunks = append(chunks, bytes.Clone(data))
		return nil
	})
	c.Reset(5, -1)
	c.Write([]byte("abcdefghij"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(hdrs) != 3 || !hdrs[2].Last || hdrs[0].Last || hdrs[0].Count != 0 {
		t.Fatalf("headers %+v", hdrs)
	}
	cases := []struct {
		name  string
		order []int
		h     func(h Header) Header
		want  error
	}{
		{"missing", []int{0, 2}, nil, ErrMissing},
		{"duplicate", []int{0, 1, 1}, nil, ErrDuplicate},
		{"extra", []int{0, 1, 2, 2}, nil, ErrDuplicate},
		{"foreign", []int{0}, func(h Header) Header { h.MsgID = 6; return h }, ErrForeign},
		{"badcrc", []int{0}, func(h Header) Header { h.CRC++; return h }, ErrCorrupt},
		{"badlen", []int{0}, func(h Header) Header { h.Len++; return h }, ErrCorrupt},
		{"truncated", []int{0, 1}, nil, ErrMissing},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		a := NewAssembler(&out, nil)
		a.Reset(5)
		var err error
		for _, i := range tc.order {
			h := hdrs[i]
			if tc.h != nil {
				h = tc.h(h)
			}
			if err = a.Add(h, chunks[i]); err != nil {
				break
			}
		}
		if err == nil {
			err = a.Finish()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, err, tc.want)
		}
	}
	// A chunk beyond the last is ErrExtra.
	var out bytes.Buffer
	a := NewAssembler(&out, nil)
	a.Reset(5)
	for i := range hdrs {
		if err := a.Add(hdrs[i], chunks[i]); err != nil {
			t.Fatal(err)
		}
	}
	h := hdrs[2]
	h.Index = 3
	if err := a.Add(h, chunks[2]); !errors.Is(err, ErrExtra) {
		t.Fatalf("extra: %v", err)
	}
}

func TestHeaderRejectsTooLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	stream := frame(t, rng, 1, make([]byte, 100), 100, true)
	if _, err := assemble(stream, 1, 50, rng); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestChunkerAllocFree(t *testing.T) {
	buf := make([]byte, 0, 1024)
	c := NewChunker(buf, func(Header, []byte) error { return nil })
	piece := make([]byte, 700)
	allocs := testing.AllocsPerRun(100, func() {
		c.Reset(1, -1)
		for range 5 {
			c.Write(piece)
		}
		c.Close()
	})
	if allocs != 0 {
		t.Fatalf("chunker allocates %v per message", allocs)
	}
	var hdr []byte
	allocs = testing.AllocsPerRun(100, func() {
		hdr = AppendHeader(hdr[:0], Header{MsgID: 1, Len: 3})
		if _, err := ParseHeader(hdr); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("header encode/parse allocates %v", allocs)
	}
}

func FuzzAssembler(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	f.Add(frame(f, rng, 1, []byte("hello, world, this is chunked"), 8, true), uint8(3))
	f.Add(frame(f, rng, 1, nil, 8, false), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		var out bytes.Buffer
		a := NewAssembler(&out, make([]byte, 0, HeaderSize+64))
		a.Reset(1)
		s := int(step%17) + 1
		var err error
		for p := stream; len(p) > 0 && err == nil; {
			n := min(s, len(p))
			_, err = a.Write(p[:n])
			p = p[n:]
		}
		if err == nil {
			err = a.Finish()
		}
		if err == nil && a.Size() != int64(out.Len()) {
			t.Fatalf("accepted %d bytes, wrote %d", a.Size(), out.Len())
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrMissing) && !errors.Is(err, ErrDuplicate) &&
			!errors.Is(err, ErrExtra) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

package codec

import (
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzParserPieces parses each input whole and again cut into pieces of
// random sizes (the cuts are seeded from the input, so a failure
// reproduces), and requires the same Handler log (adjacent payload pieces
// coalesced) and the same error.
func FuzzParserPieces(f *testing.F) {
	for _, tc := range validCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range errorCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("CONNECT {\"echo\":false}\r\nSUB a.* q 1\r\nHPUB a.b r 22 25\r\nNATS/1.0\r\nK: v\r\n\r\n\r\nabc\r\nPING\r\n"))
	f.Add([]byte("PUB a 70\r\n" + strings.Repeat("x", 70) + "\r\nUNSUB 1 5\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		wholeLog, wholeErr := parsePieces(in, []int{len(in)})
		h := fnv.New64a()
		h.Write(in)
		rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(in))))
		for round := 0; round < 4; round++ {
			sizes := randomSizes(rng, len(in), round)
			log, err := parsePieces(in, sizes)
			if err != wholeErr {
				t.Fatalf("pieces %v: error %v, whole %v", sizes, err, wholeErr)
			}
			if !reflect.DeepEqual(log, wholeLog) {
				t.Fatalf("pieces %v: log\n%q\nwhole\n%q", sizes, log, wholeLog)
			}
		}
		if msg := checkMessageShapes(wholeLog); msg != "" {
			t.Fatalf("%s: %q", msg, wholeLog)
		}
	})
}

// checkMessageShapes checks that every message in a recorder log has a
// header block of hdrLen bytes (HPUB only) and, when it ended, a body of
// size-hdrLen bytes, and that no empty piece was delivered.
func checkMessageShapes(log []string) string {
	for i := 0; i < len(log); i++ {
		e := log[i]
		if e == "EMPTY PIECE" {
			return "empty payload piece"
		}
		if !strings.HasPrefix(e, "PUB ") {
			continue
		}
		f := strings.Split(e, " ")
		hdr, _ := strconv.Atoi(f[len(f)-2])
		size, _ := strconv.Atoi(f[len(f)-1])
		body := size
		if hdr >= 0 {
			body -= hdr
			if i+1 < len(log) {
				i++
				if !strings.HasPrefix(log[i], "HDR ") || len(log[i])-4 != hdr {
					return "bad header block"
				}
			}
		}
		got := 0
		if i+1 < len(log) && strings.HasPrefix(log[i+1], "BODY ") {
			i++
			got = len(log[i]) - 5
		}
		if i+1 < len(log) {
			i++
			if log[i] != "END" || got != body {
				return "bad body"
			}
		} else if got > body {
			return "body too long"
		}
	}
	return ""
}

// randomSizes returns piece sizes summing to n: bytewise in round 0, small
// pieces in round 1, and pieces of any size after.
func randomSizes(rng *rand.Rand, n, round int) []int {
	var sizes []int
	for n > 0 {
		var s int
		switch round {
		case 0:
			s = 1
		case 1:
			s = 1 + rng.IntN(8)
		default:
			s = 1 + rng.IntN(n)
		}
		s = min(s, n)
		sizes = append(sizes, s)
		n -= s
	}
	return sizes
}

// parsePieces feeds in to a fresh Parser (with the small testOptions) in
// pieces of the given sizes and returns the log and the first error.
func parsePieces(in []byte, sizes []int) ([]string, error) {
	r := &recorder{}
	p := NewParser(r, testOptions)
	off := 0
	for _, s := range sizes {
		// Copy each piece so that aliasing of a previous piece would show.
		piece := append([]byte(nil), in[off:off+s]...)
		off += s
		if err := p.Parse(piece); err != nil {
			return r.log, err
		}
	}
	return r.log, nil
}

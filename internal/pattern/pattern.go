// Package pattern generates a deterministic, position-dependent byte stream
// for tests that push large payloads through the server in pieces: any
// window of it can be produced or checked from its offset alone, so neither
// side has to hold the whole payload.
package pattern

// Fill writes the stream's bytes [off, off+len(p)) into p.
func Fill(p []byte, off int64) {
	for i := range p {
		x := uint64(off + int64(i))
		x ^= x >> 7
		p[i] = byte(x*0x9E3779B97F4A7C15>>56) ^ byte(off+int64(i))
	}
}

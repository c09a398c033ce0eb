package chunking

import "io"

// Assembler checks the chunks of one message and passes their data on to a
// writer only once each chunk is proven whole and in order. Anything wrong
// (a gap, a repeat, a chunk after the last, a checksum mismatch, a foreign
// message id, counts that disagree) is returned as an error and the chunk's
// data is not written; the Assembler then stays failed until Reset.
//
// Chunks can be fed already split (Add) or as a byte stream of framed chunks
// cut at arbitrary points (Write), which buffers at most one chunk. An
// Assembler is not safe for concurrent use.
type Assembler struct {
	out   io.Writer
	buf   []byte // stream mode: header then data of the chunk in progress
	id    uint64
	next  uint32 // index expected next
	count uint32 // chunk count once a chunk declared it
	total int64  // data bytes accepted
	done  bool   // last chunk accepted
	err   error  // sticky
}

// NewAssembler returns an Assembler that writes accepted data to out. buf
// bounds a chunk in stream mode (Write): its capacity must hold HeaderSize
// plus the largest chunk expected; a longer chunk is ErrTooLarge. buf may be
// nil when only Add is used. Call Reset before the first chunk.
func NewAssembler(out io.Writer, buf []byte) *Assembler {
	return &Assembler{out: out, buf: buf[:0]}
}

// Reset starts a new message with the given id.
func (a *Assembler) Reset(msgID uint64) {
	a.buf = a.buf[:0]
	a.id, a.next, a.count, a.total, a.done, a.err = msgID, 0, 0, 0, false, nil
}

// Done reports whether the last chunk has been accepted.
func (a *Assembler) Done() bool { return a.done && a.err == nil }

// Size returns the number of data bytes accepted so far.
func (a *Assembler) Size() int64 { return a.total }

// Add checks one chunk (a parsed header and its data) and, if it is the
// expected next chunk and intact, writes data to the output. data is not
// retained.
func (a *Assembler) Add(h Header, data []byte) error {
	if a.err != nil {
		return a.err
	}
	if err := a.check(h, data); err != nil {
		a.err = err
		return err
	}
	if _, err := a.out.Write(data); err != nil {
		a.err = err
		return err
	}
	a.next++
	a.total += int64(len(data))
	a.done = h.Last
	return nil
}

func (a *Assembler) check(h Header, data []byte) error {
	switch {
	case h.MsgID != a.id:
		return ErrForeign
	case a.done && h.Index >= a.next:
		return ErrExtra
	case h.Index < a.next:
		return ErrDuplicate
	case h.Index > a.next:
		return ErrMissing
	case h.Count != 0 && a.count != 0 && h.Count != a.count:
		return ErrCorrupt
	case h.Count != 0 && (h.Index >= h.Count || h.Last != (h.Index == h.Count-1)):
		return ErrCorrupt
	}
	if err := VerifyData(h, data); err != nil {
		return err
	}
	if h.Count != 0 {
		a.count = h.Count
	}
	return nil
}

// Write consumes a byte stream of framed chunks (header then data, back to
// back) cut at any points, and feeds each complete chunk to Add. It returns
// len(p) or the first error.
func (a *Assembler) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if a.err != nil {
			return 0, a.err
		}
		if len(a.buf) < HeaderSize {
			k := copy(a.buf[len(a.buf):min(HeaderSize, cap(a.buf))], p)
			if k == 0 {
				a.err = ErrTooLarge
				return 0, a.err
			}
			a.buf = a.buf[:len(a.buf)+k]
			p = p[k:]
			if len(a.buf) < HeaderSize {
				continue
			}
		}
		h, err := ParseHeader(a.buf)
		if err != nil {
			a.err = err
			return 0, err
		}
		want := HeaderSize + int(h.Len)
		if h.Len > MaxChunkSize || want > cap(a.buf) {
			a.err = ErrTooLarge
			return 0, a.err
		}
		k := copy(a.buf[len(a.buf):want], p)
		a.buf = a.buf[:len(a.buf)+k]
		p = p[k:]
		if len(a.buf) == want {
			if err := a.Add(h, a.buf[HeaderSize:]); err != nil {
				return 0, err
			}
			a.buf = a.buf[:0]
		}
	}
	return n, nil
}

// Finish reports whether the message is complete: nil after the last chunk,
// the sticky error if one occurred, or ErrMissing when the stream stopped
// early (including mid-chunk in stream mode).
func (a *Assembler) Finish() error {
	if a.err != nil {
		return a.err
	}
	if !a.done || len(a.buf) != 0 {
		return ErrMissing
	}
	return nil
}

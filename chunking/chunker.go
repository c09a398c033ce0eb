package chunking

import "errors"

// EmitFunc receives one finished chunk. data is valid only during the call:
// it aliases either the Chunker's buffer or the caller's piece. A non-nil
// error stops the Chunker and is returned from Write or Close.
type EmitFunc func(h Header, data []byte) error

// ErrClosed is returned by a Chunker used after Close without Reset.
var ErrClosed = errors.New("chunking: chunker closed")

// Chunker cuts a payload that arrives in pieces of any size into chunks of a
// fixed size. It holds at most one chunk of data (in the buffer the caller
// gave it) and copies a piece only when it does not line up with a chunk
// boundary: a piece that covers a whole chunk is emitted straight from the
// caller's slice.
//
// When the total size is unknown, a full chunk is held back until more data
// or Close arrives, so that the last chunk always carries FlagLast and no
// empty trailer is needed. A Chunker is not safe for concurrent use.
type Chunker struct {
	buf   []byte // len = bytes buffered, cap = chunk size
	emit  EmitFunc
	id    uint64
	index uint32
	count uint32 // 0 when the total is unknown
	total int64  // declared total or -1
	seen  int64  // bytes accepted so far
	err   error  // sticky
}

// NewChunker returns a Chunker whose chunk size is cap(buf) (buf's contents
// are ignored; the Chunker owns buf until it is dropped). emit is called
// once per chunk, in order. Call Reset before the first Write.
func NewChunker(buf []byte, emit EmitFunc) *Chunker {
	if cap(buf) == 0 {
		buf = make([]byte, 0, DefaultChunkSize)
	}
	return &Chunker{buf: buf[:0], emit: emit, err: ErrClosed}
}

// ChunkSize returns the configured chunk size.
func (c *Chunker) ChunkSize() int { return cap(c.buf) }

// Reset starts a new message. total is the payload size when known (the
// header of every chunk then carries the chunk count, and Write rejects more
// bytes with ErrSize) or -1 when unknown.
func (c *Chunker) Reset(msgID uint64, total int64) {
	c.buf = c.buf[:0]
	c.id, c.index, c.total, c.seen, c.err = msgID, 0, total, 0, nil
	c.count = 0
	if total >= 0 {
		n := (total + int64(cap(c.buf)) - 1) / int64(cap(c.buf))
		if n == 0 {
			n = 1
		}
		c.count = uint32(n)
	}
}

// Write consumes p, emitting every chunk it completes. It returns len(p) or
// the first error (from emit, or ErrSize when p runs past the declared
// total); after an error the Chunker stays failed until Reset.
func (c *Chunker) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.total >= 0 && c.seen+int64(len(p)) > c.total {
		c.err = ErrSize
		return 0, c.err
	}
	n := len(p)
	size := cap(c.buf)
	for len(p) > 0 {
		if len(c.buf) == size {
			// A held-back full chunk: more data proves it is not the last.
			if err := c.flush(c.buf, false); err != nil {
				return 0, err
			}
			c.buf = c.buf[:0]
		}
		if len(c.buf) == 0 && len(p) >= size && !c.mayBeLast(len(p), size) {
			// Zero-copy: the piece covers a whole chunk that is not the last.
			if err := c.flush(p[:size], false); err != nil {
				return 0, err
			}
			c.seen += int64(size)
			p = p[size:]
			continue
		}
		k := copy(c.buf[len(c.buf):size], p)
		c.buf = c.buf[:len(c.buf)+k]
		c.seen += int64(k)
		p = p[k:]
		if len(c.buf) == size && c.total >= 0 && c.seen < c.total {
			if err := c.flush(c.buf, false); err != nil {
				return 0, err
			}
			c.buf = c.buf[:0]
		}
	}
	return n, nil
}

// mayBeLast reports whether a chunk cut now from a piece of n bytes could be
// the final chunk (so it must wait for Close or for more data).
func (c *Chunker) mayBeLast(n, size int) bool {
	if c.total >= 0 {
		return c.seen+int64(size) >= c.total
	}
	return n == size
}

// Close emits the final chunk (FlagLast set; zero length for an empty
// payload). It returns ErrSize when fewer bytes than a declared total
// arrived, or the emit error. The Chunker is then closed until Reset.
func (c *Chunker) Close() error {
	if c.err != nil {
		return c.err
	}
	if c.total >= 0 && c.seen != c.total {
		c.err = ErrSize
		return c.err
	}
	if err := c.flush(c.buf, true); err != nil {
		return err
	}
	c.buf = c.buf[:0]
	c.err = ErrClosed
	return nil
}

func (c *Chunker) flush(data []byte, last bool) error {
	h := Header{MsgID: c.id, Index: c.index, Count: c.count, Last: last, Len: uint32(len(data)), CRC: Checksum(data)}
	c.index++
	if err := c.emit(h, data); err != nil {
		c.err = err
		return err
	}
	return nil
}

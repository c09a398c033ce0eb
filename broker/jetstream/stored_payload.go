package jetstream

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/bargemq/barge/log"
	"github.com/klauspost/compress/s2"
)

// storedPayload is an io.ReaderAt over a stored message's payload as the
// client sees it, read from its extents one at a time when a transport
// asks for the bytes: each extent (a chunk, 1 MiB by default) is read
// whole, its CRC checked before any of its bytes are returned, and, for an
// s2-compressed stream, decoded. It holds one extent at a time, so sending
// a message of any size this way costs a chunk of memory; reads at
// increasing offsets (a transport's) load each extent once. A read that
// reaches the end drops the held extent. A checksum or I/O error fails the
// read (the transport then closes the connection, so the client never
// gets a wrong message whole). It is safe for concurrent use.
type storedPayload struct {
	seq        uint64
	ext        []log.Extent
	compressed bool
	// starts[i] is the payload offset of extent i; starts[len(ext)] is
	// the payload's size.
	starts []int64

	// mu guards the held extent.
	mu struct {
		sync.Mutex
		cur   int    // the extent held in plain, -1 for none
		plain []byte // its payload bytes
		raw   []byte // a compressed extent as stored
	}
}

// newStoredPayload prepares sm's payload for reading (sm may be reused
// afterwards). For a compressed stream it reads the decoded length at the
// head of each s2 block (a few bytes each).
func newStoredPayload(sm *log.StoredMsg) (*storedPayload, error) {
	p := &storedPayload{seq: sm.Seq, ext: append([]log.Extent(nil), sm.Extents...), compressed: sm.Compressed}
	p.mu.cur = -1
	p.starts = make([]int64, len(p.ext)+1)
	var off int64
	for i, x := range p.ext {
		p.starts[i] = off
		n := x.Len
		if p.compressed {
			var hdr [maxVarintLen]byte
			k := min(int64(len(hdr)), x.Len)
			if _, err := x.R.ReadAt(hdr[:k], x.Off); err != nil && err != io.EOF {
				return nil, fmt.Errorf("log: read seq %d payload: %w", sm.Seq, err)
			}
			d, err := s2.DecodedLen(hdr[:k])
			if err != nil {
				return nil, fmt.Errorf("%w: seq %d: %v", log.ErrCorrupt, sm.Seq, err)
			}
			n = int64(d)
		}
		off += n
	}
	p.starts[len(p.ext)] = off
	if off != sm.Size {
		return nil, fmt.Errorf("%w: seq %d payload of %d bytes, stored %d", log.ErrCorrupt, sm.Seq, off, sm.Size)
	}
	return p, nil
}

// maxVarintLen is the longest uvarint an s2 block starts with.
const maxVarintLen = 10

// Size is the payload's length.
func (p *storedPayload) Size() int64 { return p.starts[len(p.ext)] }

// ReadAt fills b with the payload bytes at off.
func (p *storedPayload) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("jetstream: negative offset")
	}
	size := p.Size()
	if off >= size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), size-off))
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.readLocked(b[:n], off); err != nil {
		return 0, err
	}
	if off+int64(n) == size {
		p.releaseLocked()
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// readLocked fills b with the payload bytes at off (within the payload).
func (p *storedPayload) readLocked(b []byte, off int64) error {
	for len(b) > 0 {
		i := p.extentAt(off)
		if err := p.loadLocked(i); err != nil {
			return err
		}
		k := copy(b, p.mu.plain[off-p.starts[i]:])
		b = b[k:]
		off += int64(k)
	}
	return nil
}

// releaseLocked lets the held extent's buffers go.
func (p *storedPayload) releaseLocked() {
	p.mu.cur, p.mu.plain, p.mu.raw = -1, nil, nil
}

// extentAt is the index of the extent holding payload offset off.
func (p *storedPayload) extentAt(off int64) int {
	lo, hi := 0, len(p.ext)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if p.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// loadLocked makes extent i the one held: read, checksummed and, for a
// compressed stream, decoded.
func (p *storedPayload) loadLocked(i int) error {
	m := &p.mu
	if m.cur == i {
		return nil
	}
	x := p.ext[i]
	buf := &m.plain
	if p.compressed {
		buf = &m.raw
	}
	if int64(cap(*buf)) < x.Len {
		*buf = make([]byte, x.Len)
	}
	src := (*buf)[:x.Len]
	m.cur = -1
	if _, err := x.R.ReadAt(src, x.Off); err != nil {
		return fmt.Errorf("log: read seq %d payload: %w", p.seq, err)
	}
	if crc32.Checksum(src, castagnoli) != x.CRC {
		return fmt.Errorf("%w: seq %d payload checksum", log.ErrCorrupt, p.seq)
	}
	if !p.compressed {
		m.plain, m.cur = src, i
		return nil
	}
	want := int(p.starts[i+1] - p.starts[i])
	if cap(m.plain) < want {
		m.plain = make([]byte, want)
	}
	d, err := s2.Decode(m.plain[:want], src)
	if err != nil || len(d) != want {
		return fmt.Errorf("%w: seq %d: s2 block", log.ErrCorrupt, p.seq)
	}
	m.plain, m.cur = d, i
	return nil
}

// castagnoli is the CRC-32C table of the log's checksums (read-only).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

package jetstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/klauspost/compress/s2"
)

// A large STREAM.MSG.GET reply, streamed.
//
// nats-server answers MSG.GET with the message base64-encoded in a JSON
// document:
//
//	{"type":"io.nats.jetstream.api.v1.stream_msg_get_response",
//	 "message":{"subject":…,"seq":…,"hdrs":"<base64>","data":"<base64>","time":…}}
//
// A payload over msgGetInline is not read into memory for it. The reply's
// length is known up front (base64 of n bytes is 4⌈n/3⌉), so it is sent as
// one sized message: the JSON before "data" as its body, then two extents
// read when the client's connection drains: the base64 text, produced by a
// b64Payload from the stored extents, and the JSON after it. The transport
// reads an extent in pieces at increasing offsets; each piece is encoded
// from the groups of three payload bytes it covers, so the pieces
// concatenate to the encoding of the whole. A b64Payload holds one stored
// extent (a chunk: 1 MiB by default) at a time, checks its CRC before any of
// its bytes are encoded, and decompresses it when the stream is s2
// compressed: a reply's memory is a chunk and the transport's watermark,
// whatever the message's size. A checksum or read error in the middle
// closes the client's connection (the transport's rule for a failed
// extent), so a client never receives a wrong message whole.

// msgGetInline is the largest payload a MSG.GET reply encodes in memory.
const msgGetInline = 64 << 10

// sendMsgGetStreamed answers a MSG.GET of the loaded message sm (payload
// over msgGetInline) with the streamed reply; an error means nothing was
// sent.
func (e *Engine) sendMsgGetStreamed(reply []byte, sm *log.StoredMsg) error {
	p, err := newB64Payload(sm)
	if err != nil {
		return err
	}
	head, tail, err := msgGetFrame(sm)
	if err != nil {
		return err
	}
	n := p.Len()
	ext := []broker.Extent{{R: p, Len: n}, {R: bytes.NewReader(tail), Len: int64(len(tail))}}
	e.srv.Send(&broker.Delivery{To: reply, Body: head, Ext: ext, Size: int64(len(head)) + n + int64(len(tail))})
	return nil
}

// msgGetFrame returns the reply's JSON before and after the base64 of
// sm's payload, byte for byte as encoding/json writes the whole response
// (it is encoded with a one-byte placeholder payload and cut around it).
func msgGetFrame(sm *log.StoredMsg) (head, tail []byte, err error) {
	msg := &jsapi.StoredMsg{Subject: sm.Subject, Sequence: sm.Seq, Data: []byte{0}, Time: time.Unix(0, sm.Time).UTC()}
	if len(sm.Hdr) > 0 {
		msg.Header = sm.Hdr
	}
	b, err := json.Marshal(&jsapi.MsgGetResponse{APIResponse: jsapi.APIResponse{Type: jsapi.TypeMsgGetResponse}, Message: msg})
	if err != nil {
		return nil, nil, err
	}
	// The subject is escaped and the header is base64, so the only
	// unescaped `"data":"` is the field's own.
	const mark = `"data":"AA=="`
	i := bytes.Index(b, []byte(mark))
	if i < 0 {
		return nil, nil, errors.New("jetstream: msg get reply without data field")
	}
	at := i + len(`"data":"`)
	return b[:at], b[at+len("AA=="):], nil
}

// b64Payload is an io.ReaderAt over the base64 text of a stored payload.
// It is safe for concurrent use (a reply to several subscribers); reads
// in increasing order, as a transport makes them, load each stored extent
// once.
type b64Payload struct {
	seq        uint64
	ext        []log.Extent
	compressed bool
	// starts[i] is the payload offset of extent i; starts[len(ext)] is
	// the payload's size.
	starts []int64

	// mu guards the scratch below.
	mu struct {
		sync.Mutex
		cur   int    // extent held in plain, -1 for none
		plain []byte // extent cur's payload bytes
		raw   []byte // a compressed extent as stored
		in    []byte // the payload bytes a read encodes
		out   []byte // their base64
	}
}

// newB64Payload prepares sm's payload for encoding. For a compressed
// stream it reads the decoded length of each s2 block (a few bytes each).
func newB64Payload(sm *log.StoredMsg) (*b64Payload, error) {
	p := &b64Payload{seq: sm.Seq, ext: append([]log.Extent(nil), sm.Extents...), compressed: sm.Compressed}
	p.mu.cur = -1
	p.starts = make([]int64, len(p.ext)+1)
	var off int64
	for i, x := range p.ext {
		p.starts[i] = off
		n := x.Len
		if p.compressed {
			var hdr [binaryMaxVarint]byte
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

// binaryMaxVarint is the longest uvarint an s2 block starts with.
const binaryMaxVarint = 10

// Len is the length of the base64 text.
func (p *b64Payload) Len() int64 { return int64(base64.StdEncoding.EncodedLen(int(p.size()))) }

func (p *b64Payload) size() int64 { return p.starts[len(p.ext)] }

// ReadAt fills b with the base64 text at off.
func (p *b64Payload) ReadAt(b []byte, off int64) (int, error) {
	total := p.Len()
	if off < 0 {
		return 0, errors.New("jetstream: negative offset")
	}
	if off >= total {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), total-off))
	// The 4-character groups covering [off, off+n) encode payload bytes
	// [3*g0, 3*g1) (the last group may be short: the payload's end).
	g0, g1 := off/4, (off+int64(n)+3)/4
	lo, hi := 3*g0, min(3*g1, p.size())
	p.mu.Lock()
	defer p.mu.Unlock()
	m := &p.mu
	if cap(m.in) < int(hi-lo) {
		m.in = make([]byte, hi-lo)
	}
	in := m.in[:hi-lo]
	if err := p.readPlainLocked(in, lo); err != nil {
		return 0, err
	}
	enc := base64.StdEncoding.EncodedLen(len(in))
	if cap(m.out) < enc {
		m.out = make([]byte, enc)
	}
	out := m.out[:enc]
	base64.StdEncoding.Encode(out, in)
	copy(b[:n], out[off-4*g0:])
	if off+int64(n) == total {
		// The last piece: let the reply's buffers go.
		m.cur, m.plain, m.raw, m.in, m.out = -1, nil, nil, nil, nil
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// readPlainLocked fills b with the payload bytes at off.
func (p *b64Payload) readPlainLocked(b []byte, off int64) error {
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

// extentAt is the index of the extent holding payload offset off.
func (p *b64Payload) extentAt(off int64) int {
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
func (p *b64Payload) loadLocked(i int) error {
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
	if _, err := x.R.ReadAt(src, x.Off); err != nil {
		return fmt.Errorf("log: read seq %d payload: %w", p.seq, err)
	}
	if crc32.Checksum(src, castagnoli) != x.CRC {
		return fmt.Errorf("%w: seq %d payload checksum", log.ErrCorrupt, p.seq)
	}
	m.cur = -1
	if !p.compressed {
		m.plain = src
		m.cur = i
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
	m.plain = d
	m.cur = i
	return nil
}

// castagnoli is the CRC-32C table the log's checksums use.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

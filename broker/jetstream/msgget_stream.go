package jetstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
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
// concatenate to the encoding of the whole. The payload bytes come from a
// storedPayload (stored_payload.go: one chunk in memory at a time, CRC
// checked, s2 decoded), so a reply's memory is a chunk and the transport's
// watermark, whatever the message's size.

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

// b64Payload is an io.ReaderAt over the base64 text of a stored payload
// (a storedPayload). It is safe for concurrent use (a reply to several
// subscribers).
type b64Payload struct {
	p *storedPayload

	// mu guards the scratch.
	mu struct {
		sync.Mutex
		in  []byte // the payload bytes a read encodes
		out []byte // their base64
	}
}

// newB64Payload prepares sm's payload for encoding.
func newB64Payload(sm *log.StoredMsg) (*b64Payload, error) {
	p, err := newStoredPayload(sm)
	if err != nil {
		return nil, err
	}
	return &b64Payload{p: p}, nil
}

// Len is the length of the base64 text.
func (b *b64Payload) Len() int64 { return int64(base64.StdEncoding.EncodedLen(int(b.p.Size()))) }

// ReadAt fills dst with the base64 text at off.
func (b *b64Payload) ReadAt(dst []byte, off int64) (int, error) {
	total := b.Len()
	if off < 0 {
		return 0, errors.New("jetstream: negative offset")
	}
	if off >= total {
		return 0, io.EOF
	}
	n := int(min(int64(len(dst)), total-off))
	// The 4-character groups covering [off, off+n) encode payload bytes
	// [3*g0, 3*g1) (the last group may be short: the payload's end).
	g0, g1 := off/4, (off+int64(n)+3)/4
	lo, hi := 3*g0, min(3*g1, b.p.Size())
	b.mu.Lock()
	defer b.mu.Unlock()
	m := &b.mu
	if cap(m.in) < int(hi-lo) {
		m.in = make([]byte, hi-lo)
	}
	in := m.in[:hi-lo]
	if _, err := b.p.ReadAt(in, lo); err != nil && !(err == io.EOF && hi == b.p.Size()) {
		return 0, err
	}
	enc := base64.StdEncoding.EncodedLen(len(in))
	if cap(m.out) < enc {
		m.out = make([]byte, enc)
	}
	out := m.out[:enc]
	base64.StdEncoding.Encode(out, in)
	copy(dst[:n], out[off-4*g0:])
	if off+int64(n) == total {
		m.in, m.out = nil, nil // the last piece: let the scratch go
	}
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

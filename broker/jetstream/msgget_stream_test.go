package jetstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// storeOne appends payload (with hdr) to a fresh log with 4 KiB chunks and
// loads it back.
func storeOne(t *testing.T, dir string, comp log.Compression, hdr, payload []byte) (*log.Log, *log.StoredMsg) {
	t.Helper()
	l, err := log.Open(dir, log.Config{Compression: comp}, log.Options{ChunkSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	a, err := l.Append("big.subject", hdr, int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(payload); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	var sm log.StoredMsg
	if err := l.LoadMsg(1, &sm); err != nil {
		t.Fatal(err)
	}
	return l, &sm
}

// TestB64PayloadPieces: the base64 text read in random pieces at
// increasing offsets (as a transport reads an extent), and at random
// offsets, is exactly the encoding of the payload, for sizes around the
// group and chunk boundaries, stored plain and s2 compressed.
func TestB64PayloadPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, comp := range []log.Compression{log.CompressionNone, log.CompressionS2} {
		for _, size := range []int{1, 2, 3, 4 << 10, 4<<10 + 1, 4<<10 + 2, 70001, 3 * 4 << 10} {
			payload := make([]byte, size)
			for i := range payload {
				payload[i] = byte(r.IntN(7)) // compressible, not constant
			}
			_, sm := storeOne(t, t.TempDir(), comp, nil, payload)
			p, err := newB64Payload(sm)
			if err != nil {
				t.Fatal(err)
			}
			want := base64.StdEncoding.EncodeToString(payload)
			if p.Len() != int64(len(want)) {
				t.Fatalf("size %d: Len %d, want %d", size, p.Len(), len(want))
			}
			var got []byte
			for off := int64(0); off < p.Len(); {
				b := make([]byte, 1+r.IntN(9000))
				n, err := p.ReadAt(b, off)
				if err != nil && !(errors.Is(err, io.EOF) && off+int64(n) == p.Len()) {
					t.Fatalf("size %d: read at %d: %v", size, off, err)
				}
				got = append(got, b[:n]...)
				off += int64(n)
			}
			if string(got) != want {
				t.Fatalf("comp %d size %d: pieces differ from the encoding", comp, size)
			}
			for i := 0; i < 20; i++ {
				off := r.Int64N(p.Len())
				b := make([]byte, 1+r.IntN(5000))
				n, _ := p.ReadAt(b, off)
				if string(b[:n]) != want[off:off+int64(n)] {
					t.Fatalf("comp %d size %d: random read at %d differs", comp, size, off)
				}
			}
		}
	}
}

// TestB64PayloadCorrupt: a damaged chunk fails the read that reaches it
// (the transport then closes the connection); nothing of it is encoded.
func TestB64PayloadCorrupt(t *testing.T) {
	dir := t.TempDir()
	payload := bytes.Repeat([]byte("0123456789"), 2000) // 5 chunks of 4 KiB
	_, sm := storeOne(t, dir, log.CompressionNone, nil, payload)
	p, err := newB64Payload(sm)
	if err != nil {
		t.Fatal(err)
	}
	x := sm.Extents[2]
	f, ok := x.R.(*os.File)
	if !ok {
		t.Skip("extent is not a file")
	}
	w, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte{'#'}, x.Off+100); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b := make([]byte, 4<<10)
	if _, err := p.ReadAt(b, 0); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	third := int64(2*4<<10) / 3 * 4 // base64 of payload bytes from 8190; +8: from 8196, chunk 2
	if _, err := p.ReadAt(b, third+8); !errors.Is(err, log.ErrCorrupt) {
		t.Fatalf("read over the damaged chunk: %v, want ErrCorrupt", err)
	}
}

// TestMsgGetFrame: the reply cut around the payload is, with the payload's
// base64 in between, what encoding/json writes for the whole response.
func TestMsgGetFrame(t *testing.T) {
	payload := []byte("a payload with \"quotes\" and <html> & more, 4 KiB+ of it")
	payload = bytes.Repeat(payload, 100)
	hdr := []byte("NATS/1.0\r\nX-Key: \"data\":\"AA==\"\r\n\r\n")
	_, sm := storeOne(t, t.TempDir(), log.CompressionNone, hdr, payload)
	head, tail, err := msgGetFrame(sm)
	if err != nil {
		t.Fatal(err)
	}
	got := append(append(append([]byte{}, head...), base64.StdEncoding.EncodeToString(payload)...), tail...)
	want, _ := json.Marshal(&jsapi.MsgGetResponse{APIResponse: jsapi.APIResponse{Type: jsapi.TypeMsgGetResponse},
		Message: &jsapi.StoredMsg{Subject: sm.Subject, Sequence: 1, Header: hdr, Data: payload, Time: time.Unix(0, sm.Time).UTC()}})
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n%s\nwant\n%s", got, want)
	}
}

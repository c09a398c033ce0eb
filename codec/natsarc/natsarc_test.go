package natsarc

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestWireBytes pins the encoding to nats-server's (server/archive): the
// magic, the five varints in order (timestamp zig-zag), the name, the
// bytes, and the all-zero end entry.
func TestWireBytes(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.WriteEntry(&Header{Name: "a.b", Timestamp: -1, Sequence: 300, HeaderSize: 2}, []byte("hhpay")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEnd(); err != nil {
		t.Fatal(err)
	}
	want := []byte("NATSARC1")
	want = append(want, 3, 1, 0xac, 0x02, 2, 3) // name len, ts -1 (zig-zag 1), seq 300, hdr 2, payload 3
	want = append(want, "a.bhhpay"...)
	want = append(want, 0, 0, 0, 0, 0)
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("encoded\n%x\nwant\n%x", b.Bytes(), want)
	}
}

func TestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	big := bytes.Repeat([]byte("x"), 200<<10)
	must(t, w.WriteEntry(&Header{Name: "state.json"}, []byte(`{"messages":1}`)))
	must(t, w.WriteHeader(&Header{Name: "subj", Timestamp: 42, Sequence: 7, HeaderSize: 4, PayloadSize: int64(len(big))}))
	_, err := w.Write([]byte("NATS"))
	must(t, err)
	for i := 0; i < len(big); i += 1000 {
		_, err := w.Write(big[i:min(i+1000, len(big))])
		must(t, err)
	}
	must(t, w.WriteEntry(&Header{Name: "skipped", Sequence: 8}, []byte("not read")))
	must(t, w.WriteEnd())

	r := NewReader(bytes.NewReader(b.Bytes()))
	h, err := r.Next()
	must(t, err)
	body, err := io.ReadAll(r)
	must(t, err)
	if h.Name != "state.json" || string(body) != `{"messages":1}` {
		t.Fatalf("first entry %+v %q", h, body)
	}
	h, err = r.Next()
	must(t, err)
	if h != (Header{Name: "subj", Timestamp: 42, Sequence: 7, HeaderSize: 4, PayloadSize: int64(len(big))}) {
		t.Fatalf("second header %+v", h)
	}
	got, err := io.ReadAll(r)
	must(t, err)
	if !bytes.Equal(got, append([]byte("NATS"), big...)) {
		t.Fatal("payload differs")
	}
	if h, err = r.Next(); err != nil || h.Name != "skipped" {
		t.Fatalf("third %+v %v", h, err)
	}
	if h, err = r.Next(); err != nil || !h.IsEnd() {
		t.Fatalf("end %+v %v", h, err)
	}
	if _, err = r.Next(); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}
}

func TestWriterChecksEntries(t *testing.T) {
	w := NewWriter(io.Discard)
	must(t, w.WriteHeader(&Header{Name: "m", PayloadSize: 3}))
	if _, err := w.Write([]byte("abcd")); !errors.Is(err, ErrEntry) {
		t.Fatalf("overlong write: %v", err)
	}
	if err := w.WriteHeader(&Header{Name: "n"}); !errors.Is(err, ErrEntry) {
		t.Fatalf("header before the entry is complete: %v", err)
	}
	if err := w.WriteHeader(&Header{Name: "n", PayloadSize: -1}); !errors.Is(err, ErrEntry) {
		t.Fatalf("negative size: %v", err)
	}
}

func TestReaderRefusesGarbage(t *testing.T) {
	var good bytes.Buffer
	w := NewWriter(&good)
	must(t, w.WriteEntry(&Header{Name: "subj", Sequence: 1}, []byte("payload")))
	must(t, w.WriteEnd())
	cases := map[string][]byte{
		"tar":        append([]byte("ustar\x00\x00\x00"), make([]byte, 100)...),
		"cut entry":  good.Bytes()[:len(good.Bytes())-9],
		"cut header": good.Bytes()[:10],
		"huge name":  append([]byte(Magic), 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0),
		"overflow":   append([]byte(Magic), 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"negative":   append([]byte(Magic), 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(b))
			var err error
			for err == nil {
				_, err = r.Next()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := NewReader(bytes.NewReader(nil)).Next(); err != io.EOF {
		t.Fatalf("empty input: %v", err)
	}
}

// FuzzReader: any input yields entries or an error, never a panic or an
// unbounded allocation.
func FuzzReader(f *testing.F) {
	var b bytes.Buffer
	w := NewWriter(&b)
	w.WriteEntry(&Header{Name: "state.json"}, []byte(`{}`))
	w.WriteEntry(&Header{Name: "a", Sequence: 1, HeaderSize: 1}, []byte("hp"))
	w.WriteEnd()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		buf := make([]byte, 7)
		for range 1000 {
			h, err := r.Next()
			if err != nil {
				return
			}
			if h.Size() < 0 {
				t.Fatal("negative size")
			}
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

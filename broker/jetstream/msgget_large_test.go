package jetstream_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// TestMsgGetLargeBoundedMemory stores one large message and reads it back
// with STREAM.MSG.GET (the base64 JSON reply) over a raw connection that
// decodes and hashes the reply as it streams: the bytes must be exact and
// the server's resident memory must grow far less than the message (it
// used to hold the payload, its base64 and a copy: 84 MB to 660 MB for
// 100 MiB). On an s2-compressed stream the same holds, and for a direct
// get too (which read a compressed payload whole).
func TestMsgGetLargeBoundedMemory(t *testing.T) {
	size := int64(64 << 20)
	if testing.Short() {
		size = 16 << 20
	}
	t.Run("plain", func(t *testing.T) { getBounded(t, size, nats.NoCompression) })
	t.Run("s2", func(t *testing.T) { getBounded(t, size, nats.S2Compression) })
}

func getBounded(t *testing.T, size int64, comp nats.StoreCompression) {
	a := startServer(t, "", func(c *app.Config) { c.MaxPayload = 2 << 30 })
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "BIG", Subjects: []string{"big"}, Compression: comp,
		AllowDirect: comp == nats.S2Compression})
	must(t, err)

	rc := dialRaw(t, a.ClientURL(), 60*time.Second)
	c, br, bw, line := rc.Conn, rc.br, rc.bw, rc.line
	fmt.Fprintf(bw, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB ack.in 1\r\nSUB get.in 2\r\nPING\r\n")
	must(t, bw.Flush())
	hdr := "NATS/1.0\r\nX-Big: yes\r\n\r\n"
	want := sha256.New()
	fmt.Fprintf(bw, "HPUB big ack.in %d %d\r\n%s", len(hdr), int64(len(hdr))+size, hdr)
	buf := make([]byte, 256<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		pattern(buf[:n], off)
		want.Write(buf[:n])
		_, err := bw.Write(buf[:n])
		must(t, err)
	}
	fmt.Fprintf(bw, "\r\n")
	must(t, bw.Flush())
	if l := line(); !strings.HasPrefix(l, "MSG ack.in 1 ") {
		t.Fatalf("ack line %q", l)
	}
	if ack := line(); ack != `{"stream":"BIG","seq":1}` {
		t.Fatalf("ack %q", ack)
	}
	bounded := func(what string, read func()) {
		t.Helper()
		// Collect garbage often, so that the peak is what is held
		// rather than the collector's slack over the test's earlier heap.
		defer debug.SetGCPercent(debug.SetGCPercent(20))
		runtime.GC()
		debug.FreeOSMemory()
		base := rss(t)
		resetPeakRSS()
		read()
		peak := peakRSS(t)
		growth := peak - base
		t.Logf("%s of %d MiB: RSS base %d MiB, peak %d MiB, growth %d MiB", what, size>>20, base>>20, peak>>20, growth>>20)
		limit := max(size/4, 48<<20)
		if raceDetector {
			limit *= 2 // shadow memory of what the read touches again
		}
		if growth > limit {
			t.Fatalf("%s: server RSS grew by %d MiB for a %d MiB message", what, growth>>20, size>>20)
		}
	}

	bounded("MSG.GET", func() {
		fmt.Fprintf(bw, "PUB $JS.API.STREAM.MSG.GET.BIG get.in 9\r\n{\"seq\":1}\r\n")
		must(t, bw.Flush())
		ml := line()
		f := strings.Fields(ml)
		if len(f) != 4 || f[0] != "MSG" || f[1] != "get.in" {
			t.Fatalf("reply line %q", ml)
		}
		total, _ := strconv.ParseInt(f[3], 10, 64)
		b64 := int64(base64.StdEncoding.EncodedLen(int(size)))
		c.SetReadDeadline(time.Now().Add(120 * time.Second))
		// The JSON up to the payload's base64.
		var head []byte
		for !bytes.HasSuffix(head, []byte(`"data":"`)) {
			b, err := br.ReadByte()
			must(t, err)
			head = append(head, b)
			if len(head) > 4096 {
				t.Fatalf("no data field in %q", head)
			}
		}
		got := sha256.New()
		if n, err := io.Copy(got, base64.NewDecoder(base64.StdEncoding, io.LimitReader(br, b64))); err != nil || n != size {
			t.Fatalf("decoded %d of %d: %v", n, size, err)
		}
		tail := make([]byte, total-int64(len(head))-b64+2)
		_, err := io.ReadFull(br, tail)
		must(t, err)
		if !bytes.HasSuffix(tail, []byte("\r\n")) {
			t.Fatalf("reply does not end the message: %q", tail)
		}
		var doc struct {
			Type    string `json:"type"`
			Message struct {
				Subject string `json:"subject"`
				Seq     uint64 `json:"seq"`
				Hdrs    []byte `json:"hdrs"`
				Data    string `json:"data"`
				Time    time.Time
			} `json:"message"`
		}
		// The JSON with the payload left out must parse as nats-server's reply.
		whole := append(append(append([]byte{}, head...), "AA=="...), tail[:len(tail)-2]...)
		must(t, json.Unmarshal(whole, &doc))
		if doc.Type != "io.nats.jetstream.api.v1.stream_msg_get_response" || doc.Message.Subject != "big" ||
			doc.Message.Seq != 1 || string(doc.Message.Hdrs) != hdr || doc.Message.Time.IsZero() {
			t.Fatalf("reply %s", whole)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("payload read back differs")
		}
	})
	if comp != nats.S2Compression {
		return
	}
	bounded("DIRECT.GET", func() {
		fmt.Fprintf(bw, "PUB $JS.API.DIRECT.GET.BIG get.in 9\r\n{\"seq\":1}\r\n")
		must(t, bw.Flush())
		rc.wait = 120 * time.Second
		h, sum, n := rc.hmsg(line())
		if !bytes.Contains(h, []byte("X-Big: yes\r\n")) || !bytes.Contains(h, []byte("Nats-Sequence: 1\r\n")) {
			t.Fatalf("direct get header %q", h)
		}
		if n != size || !bytes.Equal(sum, want.Sum(nil)) {
			t.Fatalf("direct get payload differs (%d of %d bytes)", n, size)
		}
	})
}

// TestMsgGetNatsGo: nats.go's GetMsg (MSG.GET, no allow_direct) returns
// messages byte for byte, headers included: a small one (encoded in
// memory) and streamed ones across chunk boundaries, stored plain and s2
// compressed.
func TestMsgGetNatsGo(t *testing.T) {
	a := startServer(t, "", func(c *app.Config) { c.MaxPayload = 64 << 20 })
	_, js := legacy(t, a)
	for _, comp := range []nats.StoreCompression{nats.NoCompression, nats.S2Compression} {
		name := fmt.Sprintf("G%d", comp)
		_, err := js.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Compression: comp})
		must(t, err)
		for i, size := range []int{0, 100, 64<<10 + 1, 64<<10 + 2, 3<<20 + 1} {
			data := make([]byte, size)
			pattern(data, int64(i))
			m := nats.NewMsg(fmt.Sprintf("%s.m%d", name, i))
			m.Data = data
			if i%2 == 0 {
				m.Header.Set("X-Size", strconv.Itoa(size))
				m.Header.Add("X-Quote", `"data":"AA=="`)
			}
			ack, err := js.PublishMsg(m)
			must(t, err)
			got, err := js.GetMsg(name, ack.Sequence)
			must(t, err)
			if !bytes.Equal(got.Data, data) || got.Subject != m.Subject || got.Sequence != ack.Sequence {
				t.Fatalf("%s size %d: got %d bytes on %q seq %d", name, size, len(got.Data), got.Subject, got.Sequence)
			}
			if i%2 == 0 && (got.Header.Get("X-Size") != strconv.Itoa(size) || got.Header.Get("X-Quote") != `"data":"AA=="`) {
				t.Fatalf("%s size %d: header %v", name, size, got.Header)
			}
			last, err := js.GetLastMsg(name, m.Subject)
			must(t, err)
			if !bytes.Equal(last.Data, data) {
				t.Fatalf("%s size %d: last by subject differs", name, size)
			}
		}
	}
}

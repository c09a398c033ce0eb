package broker

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLargePayloadStreamedInPieces(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 16})
	sub := h.connect(`{}`)
	sub.send("SUB big 1\r\n")
	pub := h.connect(`{}`)
	payload := bytes.Repeat([]byte("0123456789"), 10)
	pub.send("PUB big 100\r\n")
	sub.expect("MSG big 1 100\r\n")
	for i := 0; i < len(payload); i += 10 {
		pub.send(string(payload[i : i+10]))
		// Each piece is forwarded as it arrives, before the message ends.
		sub.expect(string(payload[i : i+10]))
	}
	pub.send("\r\n")
	sub.expect("\r\n")
	writes, pieces, _ := sub.tr.counts()
	if pieces < 12 {
		t.Fatalf("stream got %d pieces, want line + 10 pieces + CRLF", pieces)
	}
	_ = writes
	// A small message is not streamed.
	pub.send("PUB big 3\r\nabc\r\n")
	sub.expect("MSG big 1 3\r\nabc\r\n")
	if _, p2, _ := sub.tr.counts(); p2 != pieces {
		t.Fatalf("small message went through a stream")
	}
}

func TestStreamQueuesLaterWrites(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 16})
	sub := h.connect(`{}`)
	sub.send("SUB big 1\r\nSUB small 2\r\n")
	bigPub := h.connect(`{}`)
	smallPub := h.connect(`{}`)
	bigPub.send("PUB big 40\r\n" + strings.Repeat("a", 20))
	smallPub.send("PUB small 2\r\nhi\r\n")
	sub.expect("MSG big 1 40\r\n" + strings.Repeat("a", 20))
	bigPub.send(strings.Repeat("b", 20) + "\r\n")
	sub.expect(strings.Repeat("b", 20) + "\r\nMSG small 2 2\r\nhi\r\n")
}

func TestStreamedHeaders(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 16})
	withHdr := h.connect(`{"headers":true}`)
	noHdr := h.connect(`{}`)
	withHdr.send("SUB big 1\r\n")
	noHdr.send("SUB big 2\r\n")
	pub := h.connect(`{"headers":true}`)
	hdr := "NATS/1.0\r\nK: v\r\n\r\n"
	body := strings.Repeat("z", 30)
	pub.send(fmt.Sprintf("HPUB big %d %d\r\n%s", len(hdr), len(hdr)+len(body), hdr))
	pub.send(body[:15])
	pub.send(body[15:] + "\r\n")
	withHdr.expect(fmt.Sprintf("HMSG big 1 %d %d\r\n%s%s\r\n", len(hdr), len(hdr)+len(body), hdr, body))
	noHdr.expect(fmt.Sprintf("MSG big 2 %d\r\n%s\r\n", len(body), body))
}

func TestPublisherClosedMidStream(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 16})
	sub := h.connect(`{}`)
	sub.send("SUB big 1\r\n")
	// A second receiver whose stream is queued behind another stream never
	// had a byte on the wire: its slot is dropped and it stays open.
	queued := h.connect(`{}`)
	queued.send("SUB big 1\r\nSUB other 2\r\n")
	other := h.connect(`{}`)
	other.send("PUB other 30\r\n" + strings.Repeat("o", 10))

	pub := h.connect(`{}`)
	pub.send("PUB big 100\r\n" + strings.Repeat("x", 40))
	sub.expect("MSG big 1 100\r\n" + strings.Repeat("x", 40))
	pub.s.Closed(errors.New("gone"))

	_, _, aborts := sub.tr.counts()
	if aborts != 1 {
		t.Fatalf("sub aborts = %d, want 1", aborts)
	}
	if closed, _ := sub.tr.closed(); !closed {
		t.Fatal("a receiver that got part of an aborted message must be cut")
	}
	if _, _, a := queued.tr.counts(); a != 1 {
		t.Fatalf("queued aborts = %d, want 1", a)
	}
	other.send(strings.Repeat("o", 20) + "\r\n")
	queued.expect("MSG other 2 30\r\n" + strings.Repeat("o", 30) + "\r\n")
	if closed, _ := queued.tr.closed(); closed {
		t.Fatal("receiver that got nothing of the aborted message was closed")
	}
	if v := h.srv.Varz(); v.InMsgs != 1 || v.OutMsgs != 1 {
		t.Fatalf("aborted message counted: in=%d out=%d", v.InMsgs, v.OutMsgs)
	}
}

func TestPublisherClosedMidSmallMessage(t *testing.T) {
	h := newHarness(t, Options{})
	sub := h.connect(`{}`)
	sub.send("SUB foo 1\r\n")
	pub := h.connect(`{}`)
	pub.send("PUB foo 10\r\nabcde")
	pub.s.Closed(nil)
	sub.expect("")
	if closed, _ := sub.tr.closed(); closed {
		t.Fatal("subscriber closed")
	}
	// The pooled buffer went back and is reusable by the next publisher.
	pub2 := h.connect(`{}`)
	pub2.send("PUB foo 3\r\nxyz\r\n")
	sub.expect("MSG foo 1 3\r\nxyz\r\n")
}

func TestReceiverGoneMidStream(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 16})
	a := h.connect(`{}`)
	b := h.connect(`{}`)
	a.send("SUB big 1\r\n")
	b.send("SUB big 1\r\n")
	pub := h.connect(`{}`)
	pub.send("PUB big 50\r\n" + strings.Repeat("1", 25))
	b.tr.Close(errors.New("peer reset"))
	pub.send(strings.Repeat("2", 25) + "\r\n")
	a.expect("MSG big 1 50\r\n" + strings.Repeat("1", 25) + strings.Repeat("2", 25) + "\r\n")
	if v := h.srv.Varz(); v.OutMsgs != 1 {
		t.Fatalf("out_msgs = %d, want 1 (only the receiver that got it)", v.OutMsgs)
	}
}

func TestStreamEverythingWithNegativeThreshold(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: -1})
	sub := h.connect(`{}`)
	sub.send("SUB s 1\r\n")
	pub := h.connect(`{}`)
	pub.send("PUB s 0\r\n\r\nPUB s 2\r\nok\r\n")
	sub.expect("MSG s 1 0\r\n\r\nMSG s 1 2\r\nok\r\n")
	if _, pieces, _ := sub.tr.counts(); pieces == 0 {
		t.Fatal("no stream used")
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, Options{})
	sub := h.connect(`{"name":"subber","lang":"go","version":"1.55.0","headers":true}`)
	sub.send("SUB foo 1\r\nSUB bar 2\r\n")
	pub := h.connect(`{"name":"pubber"}`)
	pub.send("PUB foo 5\r\nhello\r\nPUB foo 3\r\nabc\r\nPUB none 4\r\nabcd\r\n")
	pub.send("HPUB bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
	sub.tr.mu.Lock()
	sub.tr.mu.pending = 1234
	sub.tr.mu.Unlock()
	h.clock.Advance(90 * time.Second)

	v := h.srv.Varz()
	if v.Connections != 2 || v.TotalConnections != 2 || v.Subscriptions != 2 {
		t.Errorf("varz conns/subs = %+v", v)
	}
	if v.InMsgs != 4 || v.InBytes != 5+3+4+14 || v.OutMsgs != 3 || v.OutBytes != 5+3+14 {
		t.Errorf("varz traffic in=%d/%d out=%d/%d", v.InMsgs, v.InBytes, v.OutMsgs, v.OutBytes)
	}
	if v.Uptime != "1m30s" || v.Version != NATSVersion || v.MaxPayload != DefaultMaxPayload || v.ID != h.srv.ID() {
		t.Errorf("varz = %+v", v)
	}
	z := h.srv.Connz()
	if z.NumConns != 2 || len(z.Conns) != 2 || z.ID != h.srv.ID() {
		t.Fatalf("connz = %+v", z)
	}
	s, p := z.Conns[0], z.Conns[1]
	if s.Name != "subber" || s.Lang != "go" || s.Version != "1.55.0" || s.NumSubs != 2 || s.Pending != 1234 {
		t.Errorf("sub conn = %+v", s)
	}
	if s.OutMsgs != 3 || s.OutBytes != 22 || s.InMsgs != 0 || s.IP != "127.0.0.1" || s.Port == 0 {
		t.Errorf("sub conn = %+v", s)
	}
	if p.Name != "pubber" || p.InMsgs != 4 || p.InBytes != 26 || p.OutMsgs != 0 || p.Uptime != "1m30s" {
		t.Errorf("pub conn = %+v", p)
	}
	if s.Cid >= p.Cid {
		t.Errorf("connz not ordered by cid")
	}
	sub.s.Closed(nil)
	if v := h.srv.Varz(); v.Connections != 1 || v.TotalConnections != 2 || v.Subscriptions != 0 {
		t.Errorf("after close: %+v", v)
	}
}

func TestFormatUptime(t *testing.T) {
	cases := map[time.Duration]string{
		0:                                       "0s",
		59 * time.Second:                        "59s",
		time.Hour + 2*time.Second:               "1h0m2s",
		26 * time.Hour:                          "1d2h0m0s",
		366*24*time.Hour + 500*time.Millisecond: "1y1d0h0m0s",
	}
	for d, want := range cases {
		if got := formatUptime(d); got != want {
			t.Errorf("formatUptime(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestConcurrentPublishers runs publishers on their own goroutines (as on
// separate event loops) against shared subscribers while another client
// churns subscriptions and the monitor reads stats; run it with -race.
func TestConcurrentPublishers(t *testing.T) {
	h := newHarness(t, Options{StreamThreshold: 64})
	sub := h.connect(`{"headers":true}`)
	sub.send("SUB load.* 1\r\n")
	q1, q2 := h.connect(`{}`), h.connect(`{}`)
	q1.send("SUB load.> g 1\r\n")
	q2.send("SUB load.> g 1\r\n")
	churn := h.connect(`{}`)
	const pubs, msgs = 4, 200
	conns := make([]*conn, pubs)
	for i := range conns {
		conns[i] = h.connect(`{}`)
	}
	var wg sync.WaitGroup
	var failed atomic.Bool
	for i, c := range conns {
		wg.Go(func() {
			big := "PUB load.x 100\r\n" + strings.Repeat("b", 100) + "\r\n"
			for j := range msgs {
				msg := "PUB load.x 5\r\nhello\r\n"
				if (i+j)%10 == 0 {
					msg = big
				}
				if err := c.s.Data([]byte(msg)); err != nil {
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for j := range 200 {
			sid := fmt.Sprint(j)
			if err := churn.s.Data([]byte("SUB load.x " + sid + "\r\nUNSUB " + sid + "\r\n")); err != nil {
				failed.Store(true)
				return
			}
		}
	})
	wg.Go(func() {
		for range 50 {
			h.srv.Varz()
			h.srv.Connz()
		}
	})
	wg.Wait()
	if failed.Load() {
		t.Fatal("a session returned an error")
	}
	if got := strings.Count(sub.tr.take(), "MSG load.x 1 "); got != pubs*msgs {
		t.Fatalf("plain subscriber got %d, want %d", got, pubs*msgs)
	}
	qn := strings.Count(q1.tr.take(), "MSG load.x 1 ") + strings.Count(q2.tr.take(), "MSG load.x 1 ")
	if qn != pubs*msgs {
		t.Fatalf("queue group got %d, want %d", qn, pubs*msgs)
	}
	if v := h.srv.Varz(); v.InMsgs != pubs*msgs || v.Subscriptions != 3 {
		t.Fatalf("varz = in %d subs %d", v.InMsgs, v.Subscriptions)
	}
}

// discardTransport accepts everything and keeps only a byte count.
type discardTransport struct{ n atomic.Int64 }

func (d *discardTransport) Write(b []byte) error         { d.n.Add(int64(len(b))); return nil }
func (d *discardTransport) BeginStream() (Stream, error) { return discardStream{d}, nil }
func (d *discardTransport) WriteExtents(head []byte, ext []Extent, tail []byte) error {
	n := int64(len(head) + len(tail))
	for _, e := range ext {
		n += e.Len
	}
	d.n.Add(n)
	return nil
}
func (d *discardTransport) Close(error)        {}
func (d *discardTransport) Pending() int64     { return 0 }
func (d *discardTransport) RemoteAddr() string { return "127.0.0.1:4000" }

type discardStream struct{ d *discardTransport }

func (s discardStream) Write(p []byte) error { s.d.n.Add(int64(len(p))); return nil }
func (s discardStream) End()                 {}
func (s discardStream) Abort()               {}

// setupPublish returns a publishing session with subs subscribers on
// "bench.subject", all on discard transports.
func setupPublish(tb testing.TB, o Options, subs int) (Session, []*discardTransport) {
	h := newHarness(tb, o)
	var trs []*discardTransport
	for i := range subs {
		tr := &discardTransport{}
		s := h.srv.Accept(tr)
		// Every other subscriber takes headers, so HPUB exercises both
		// the HMSG and the stripped MSG deliveries.
		connect := "{}"
		if i%2 == 0 {
			connect = `{"headers":true}`
		}
		if err := s.Data(fmt.Appendf(nil, "CONNECT %s\r\nSUB bench.subject %d\r\n", connect, i+1)); err != nil {
			tb.Fatal(err)
		}
		trs = append(trs, tr)
	}
	pub := h.srv.Accept(&discardTransport{})
	if err := pub.Data([]byte("CONNECT {}\r\n")); err != nil {
		tb.Fatal(err)
	}
	return pub, trs
}

func TestPublishSmallAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	hdr := "NATS/1.0\r\nK: v\r\n\r\n"
	cases := []struct {
		name string
		subs int
		msg  string
	}{
		{"pub/subs=1", 1, "PUB bench.subject 11\r\nhello world\r\n"},
		{"pub-reply/subs=1", 1, "PUB bench.subject reply.x 11\r\nhello world\r\n"},
		{"pub/subs=5", 5, "PUB bench.subject 5\r\nhello\r\n"},
		{"hpub/subs=3", 3, fmt.Sprintf("HPUB bench.subject %d %d\r\n%shello\r\n", len(hdr), len(hdr)+5, hdr)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub, trs := setupPublish(t, Options{}, tc.subs)
			msg := []byte(tc.msg)
			for range 10 {
				if err := pub.Data(msg); err != nil {
					t.Fatal(err)
				}
			}
			n := testing.AllocsPerRun(1000, func() {
				if err := pub.Data(msg); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Fatalf("publishing allocates %v times per message", n)
			}
			for i, tr := range trs {
				if tr.n.Load() == 0 {
					t.Fatalf("subscriber %d got nothing", i)
				}
			}
		})
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		for _, subs := range []int{1, 10} {
			b.Run(fmt.Sprintf("size=%s/subs=%d", sizeName(size), subs), func(b *testing.B) {
				pub, _ := setupPublish(b, Options{}, subs)
				msg := append(fmt.Appendf(nil, "PUB bench.subject %d\r\n", size), bytes.Repeat([]byte{'x'}, size)...)
				msg = append(msg, "\r\n"...)
				const read = 64 << 10 // feed the session in socket-read-sized pieces
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					for off := 0; off < len(msg); off += read {
						if err := pub.Data(msg[off:min(off+read, len(msg))]); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

package consumer

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// discard is a client connection that drops what it is sent (extents
// are not read).
type discard struct{}

func (discard) Write([]byte) error                                 { return nil }
func (discard) WriteExtents([]byte, []broker.Extent, []byte) error { return nil }
func (discard) BeginStream() (broker.Stream, error)                { return nil, errors.New("no streams") }
func (discard) Close(error)                                        {}
func (discard) Pending() int64                                     { return 0 }
func (discard) RemoteAddr() string                                 { return "127.0.0.1:1" }

// benchConsumer is an unstarted push consumer over a memory log holding n
// messages of size bytes, delivering to a client connection that discards
// them: the tests drive stepLocked by hand.
func benchConsumer(tb testing.TB, n, size int, ack jsapi.AckPolicy) (*consumer, *deliverer, func()) {
	tb.Helper()
	l, err := log.Open("mem", log.Config{Storage: log.MemoryStorage}, log.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	payload := make([]byte, size)
	for range n {
		if _, _, err := l.AppendMsg("s.x", nil, payload); err != nil {
			tb.Fatal(err)
		}
	}
	srv := broker.NewServer(broker.Options{})
	sess := srv.Accept(discard{})
	if err := sess.Data([]byte("CONNECT {\"headers\":true}\r\nSUB push.bench 1\r\n")); err != nil {
		tb.Fatal(err)
	}
	st := &testStream{name: "S", l: l}
	st.mu.cfg = streamCfg(func(c *jsapi.StreamConfig) { c.Storage = jsapi.MemoryStorage })
	s := &Set{env: Env{Server: srv.GlobalAccount(), Clock: broker.SystemClock{}}, st: st, name: "S"}
	s.mu.consumers = map[string]*consumer{}
	cfg := jsapi.ConsumerConfig{Durable: "B", AckPolicy: ack, DeliverSubject: "push.bench", AckWait: time.Hour}
	applyDefaults(&cfg, &st.mu.cfg)
	c := newConsumer(s, "B", cfg, time.Now(), false)
	c.initPositionLocked(l)
	return c, &deliverer{}, func() { _ = l.Close(); srv.Shutdown() }
}

func TestDeliverAllocs(t *testing.T) {
	c, d, done := benchConsumer(t, 300, 1024, jsapi.AckNone)
	defer done()
	now := time.Now()
	step := func() {
		c.mu.Lock()
		if !c.stepLocked(now, d) {
			t.Fatal("nothing delivered")
		}
		c.mu.Unlock()
	}
	step() // grow the buffers
	if n := testing.AllocsPerRun(200, step); n > 0 && !raceOn {
		t.Fatalf("a delivery allocates %.1f times", n)
	}
	if c.mu.dseq != 202 {
		t.Fatalf("delivered %d", c.mu.dseq)
	}
}

func BenchmarkDeliver(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		for _, ack := range []jsapi.AckPolicy{jsapi.AckNone, jsapi.AckExplicit} {
			name := "size=" + strconv.Itoa(size>>10) + "KiB/ack=" + ack.String()
			if size >= 1<<20 {
				name = "size=" + strconv.Itoa(size>>20) + "MiB/ack=" + ack.String()
			}
			b.Run(name, func(b *testing.B) {
				c, d, done := benchConsumer(b, b.N+1, size, ack)
				defer done()
				c.mu.cfg.MaxAckPending = -1
				now := time.Now()
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				for range b.N {
					c.mu.Lock()
					c.stepLocked(now, d)
					c.mu.Unlock()
				}
			})
		}
	}
}

func BenchmarkAck(b *testing.B) {
	c, d, done := benchConsumer(b, b.N+1, 16, jsapi.AckExplicit)
	defer done()
	c.mu.cfg.MaxAckPending = -1
	now := time.Now()
	for range b.N {
		c.mu.Lock()
		c.stepLocked(now, d)
		c.mu.Unlock()
	}
	var replies [][]byte
	for seq := uint64(1); seq <= uint64(b.N); seq++ {
		replies = append(replies, jsapi.AppendAckReply(nil, "S", "B", 1, seq, seq, 0, 0))
	}
	body := []byte("+ACK")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r, _ := jsapi.ParseAckReply(replies[i])
		c.processAck(&r, body, nil)
	}
}

package consumer_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestJetStreamPackageConsumers(t *testing.T) {
	a := startServer(t, "")
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "J", Subjects: []string{"j.>"}})
	must(t, err)
	for i := range 10 {
		_, err := js.Publish(c, "j.x", fmt.Appendf(nil, "m%d", i))
		must(t, err)
	}
	cons, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	must(t, err)

	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(2*time.Second))
	must(t, err)
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
		must(t, m.DoubleAck(c))
	}
	if batch.Error() != nil || join(got) != "m0 m1 m2" {
		t.Fatalf("fetch %q %v", got, batch.Error())
	}
	// FetchBytes: each message is 2 bytes of data plus subject and reply.
	fb, err := cons.FetchBytes(300, jetstream.FetchMaxWait(2*time.Second))
	must(t, err)
	n, bytesGot := 0, 0
	for m := range fb.Messages() {
		n++
		bytesGot += len(m.Subject()) + len(m.Reply()) + len(m.Data())
		if m.Subject() != "j.x" {
			t.Fatalf("delivered under %q", m.Subject())
		}
		must(t, m.Ack())
	}
	if n == 0 || bytesGot > 300 {
		t.Fatalf("FetchBytes(300) got %d messages, %d bytes", n, bytesGot)
	}
	nw, err := cons.FetchNoWait(100)
	must(t, err)
	left := 0
	for m := range nw.Messages() {
		left++
		must(t, m.Ack())
	}
	if left != 7-n {
		t.Fatalf("FetchNoWait got %d, want %d", left, 7-n)
	}
	if _, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond)); !errors.Is(err, jetstream.ErrNoMessages) && err == nil {
		t.Fatalf("Next on empty: %v", err)
	}

	// Consume and Messages.
	recv := make(chan string, 10)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		recv <- string(m.Data())
		_ = m.Ack()
	})
	must(t, err)
	_, err = js.Publish(c, "j.x", []byte("live"))
	must(t, err)
	select {
	case s := <-recv:
		if s != "live" {
			t.Fatalf("consume got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("consume: nothing")
	}
	cc.Stop()
	// Until its UNSUB is out, the stopped Consume's pull request still has
	// an inbox with interest: the next message would go there, be dropped
	// by the client, and come back only after ack_wait (30 s).
	select {
	case <-cc.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("consume did not stop")
	}
	it, err := cons.Messages()
	must(t, err)
	_, err = js.Publish(c, "j.x", []byte("iter"))
	must(t, err)
	m, err := it.Next()
	must(t, err)
	md, err := m.Metadata()
	must(t, err)
	if string(m.Data()) != "iter" || md.Sequence.Stream != 12 || md.Consumer != "C" {
		t.Fatalf("messages: %q %+v", m.Data(), md)
	}
	must(t, m.Ack())
	it.Stop()

	info, err := cons.Info(c)
	must(t, err)
	if info.Delivered.Stream != 12 || info.NumPending != 0 {
		t.Fatalf("info %+v", info)
	}

	// Ordered consumer reads everything in order.
	oc, err := s.OrderedConsumer(c, jetstream.OrderedConsumerConfig{})
	must(t, err)
	ob, err := oc.Fetch(12, jetstream.FetchMaxWait(3*time.Second))
	must(t, err)
	k := 0
	for range ob.Messages() {
		k++
	}
	if k != 12 {
		t.Fatalf("ordered fetch got %d", k)
	}

	must(t, s.DeleteConsumer(c, "C"))
	if _, err := s.Consumer(c, "C"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// TestRestartResumes: a durable consumer resumes where its acks left it,
// with its redelivery counts.
func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir)
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "R", Subjects: []string{"r"}})
	must(t, err)
	for i := range 5 {
		_, err := js.Publish(c, "r", []byte{'0' + byte(i)})
		must(t, err)
	}
	cons, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second})
	must(t, err)
	b, err := cons.Fetch(3, jetstream.FetchMaxWait(2*time.Second))
	must(t, err)
	var ms []jetstream.Msg
	for m := range b.Messages() {
		ms = append(ms, m)
	}
	must(t, ms[0].DoubleAck(c))
	must(t, ms[1].Nak())
	b, err = cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	must(t, err)
	for m := range b.Messages() {
		if md, _ := m.Metadata(); md.NumDelivered != 2 {
			t.Fatalf("redelivered %+v", md)
		}
	}
	nc.Close()
	stop(a)

	a = startServer(t, dir)
	nc = connect(t, a)
	js = newJS(t, nc)
	cons, err = js.Consumer(c, "R", "D")
	must(t, err)
	info, err := cons.Info(c)
	must(t, err)
	if info.AckFloor.Stream != 1 || info.NumAckPending != 2 || info.Delivered.Stream != 3 || info.NumPending != 2 || info.NumRedelivered != 1 {
		t.Fatalf("after restart %+v", info)
	}
	b, err = cons.Fetch(4, jetstream.FetchMaxWait(3*time.Second))
	must(t, err)
	var got []string
	for m := range b.Messages() {
		md, _ := m.Metadata()
		got = append(got, fmt.Sprintf("%s/%d", m.Data(), md.NumDelivered))
		must(t, m.Ack())
	}
	slices.Sort(got)
	if join(got) != "1/3 2/2 3/1 4/1" {
		t.Fatalf("after restart got %q", got)
	}
}

// TestLargeMessagePull: a 64 MiB stored message is refused by a too-small
// max_bytes (409) and streamed from the log otherwise, without the server
// holding it in memory.
func TestLargeMessagePull(t *testing.T) {
	if testing.Short() {
		t.Skip("large message")
	}
	a := startServer(t, "")
	nc := connect(t, a)
	js := newJS(t, nc)
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "L", Subjects: []string{"l"}})
	must(t, err)
	const size = 64 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	_, err = js.Publish(c, "l", payload)
	must(t, err)
	cons, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	must(t, err)
	// nats.go ends a FetchBytes quietly on the 409, so look at the wire.
	inbox := nc.NewRespInbox()
	raw, err := nc.SubscribeSync(inbox)
	must(t, err)
	must(t, nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.L.D", inbox, []byte(`{"batch":1,"max_bytes":1048576,"expires":2000000000}`)))
	st, err := raw.NextMsg(5 * time.Second)
	must(t, err)
	if st.Header.Get("Status") != "409" || len(st.Data) != 0 || !contains(st.Header.Get("Description"), "Message Size Exceeds MaxBytes") {
		t.Fatalf("want 409 Message Size Exceeds MaxBytes, got %v %q", st.Header, st.Data)
	}
	b, err := cons.FetchBytes(1<<20, jetstream.FetchMaxWait(2*time.Second))
	must(t, err)
	for range b.Messages() {
		t.Fatal("message delivered past max_bytes")
	}
	// The client keeps its own copy of what it reads: measure the server
	// side by what the process gains beyond the one received payload.
	payload = nil
	before := rssKB()
	b, err = cons.FetchBytes(size+1<<20, jetstream.FetchMaxWait(3*time.Second))
	must(t, err)
	n := 0
	for m := range b.Messages() {
		n++
		if len(m.Data()) != size || !bytes.Equal(m.Data()[:16], []byte("0123456789abcdef")) {
			t.Fatalf("got %d bytes", len(m.Data()))
		}
		must(t, m.Ack())
	}
	after := rssKB()
	if n != 1 {
		t.Fatalf("got %d messages (%v)", n, b.Error())
	}
	t.Logf("RSS before %d MiB, after %d MiB", before>>10, after>>10)
	// The client's read buffer and the message hold ~2x size; a server that
	// buffered the message too would add a third copy.
	if growth := (after - before) << 10; growth > 3*size && !raceEnabled {
		t.Fatalf("process grew %d MiB for a %d MiB message", growth>>20, size>>20)
	}
}

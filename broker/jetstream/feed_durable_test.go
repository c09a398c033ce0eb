package jetstream_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// flowAckConsumer is a durable push consumer with ack policy
// flow_control, as durable sourcing needs.
func flowAckConsumer(name, filter string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: name, DeliverSubject: "dsrc." + name, AckPolicy: jetstream.AckFlowControlPolicy,
		FlowControl: true, IdleHeartbeat: time.Second, MaxAckPending: 1000, FilterSubject: filter}
}

// durable names consumer name as a source's or mirror's durable consumer.
func durable(name string) *jetstream.StreamConsumerSource {
	return &jetstream.StreamConsumerSource{Name: name, DeliverSubject: "dsrc." + name}
}

// sourcedSeqs reads the origin sequences of the copies in stream name, in
// order, checking that each is under the index name iname.
func sourcedSeqs(t *testing.T, ctx context.Context, js jetstream.JetStream, name, iname string) []uint64 {
	t.Helper()
	s, err := js.Stream(ctx, name)
	must(t, err)
	si, err := s.Info(ctx)
	must(t, err)
	var out []uint64
	for seq := si.State.FirstSeq; seq <= si.State.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		must(t, err)
		f := strings.Split(m.Header.Get("Nats-Stream-Source"), " ")
		if len(f) < 5 || f[0] != iname {
			t.Fatalf("seq %d Nats-Stream-Source %q, want index name %q", seq, m.Header.Get("Nats-Stream-Source"), iname)
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		must(t, err)
		out = append(out, n)
	}
	return out
}

// TestDurableSource sources a stream through a filtered durable consumer
// (nats-server 2.14's durable sourcing): only the consumer's messages are
// copied, its delivered and ack floor follow the copies, and after a
// restart the source resumes with no gap and no duplicate; a second
// source starts at its consumer's start sequence.
func TestDurableSource(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	must(t, err)
	publish := func(js jetstream.JetStream, from, to int) {
		for i := from; i <= to; i++ {
			_, err := js.Publish(ctx, fmt.Sprintf("o.%c", "ab"[i%2]), []byte(fmt.Sprint("v", i)))
			must(t, err)
		}
	}
	publish(js, 1, 10) // o.a at the even sequences
	_, err = js.CreatePushConsumer(ctx, "O", flowAckConsumer("C", "o.a"))
	must(t, err)
	c2 := flowAckConsumer("C2", "")
	c2.DeliverPolicy, c2.OptStartSeq = jetstream.DeliverByStartSequencePolicy, 7
	_, err = js.CreatePushConsumer(ctx, "O", c2)
	must(t, err)

	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.own"},
		Sources: []*jetstream.StreamSource{{Name: "O", Consumer: durable("C")}}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S2", Subjects: []string{"s2.own"},
		Sources: []*jetstream.StreamSource{{Name: "O", Consumer: durable("C2")}}})
	must(t, err)
	waitStream(t, ctx, js, "S", "S sourced", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 5 })
	waitStream(t, ctx, js, "S2", "S2 sourced", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 4 })
	iname := "O:C=" + nameHash("C")
	if got := fmt.Sprint(sourcedSeqs(t, ctx, js, "S", iname)); got != "[2 4 6 8 10]" {
		t.Fatalf("S holds origin sequences %s", got)
	}
	if got := fmt.Sprint(sourcedSeqs(t, ctx, js, "S2", "O:C="+nameHash("C2"))); got != "[7 8 9 10]" {
		t.Fatalf("S2 holds origin sequences %s", got)
	}
	consumerAt := func(js jetstream.JetStream, name string, delivered, floor uint64) {
		t.Helper()
		var last *jetstream.ConsumerInfo
		defer func() {
			if t.Failed() {
				t.Logf("%s: %+v", name, last)
			}
		}()
		eventually(t, 30*time.Second, name+" follows its source", func() bool {
			c, err := js.PushConsumer(ctx, "O", name)
			if err != nil {
				return false
			}
			ci := c.CachedInfo()
			last = ci
			return ci.Delivered.Consumer == delivered && ci.AckFloor.Consumer == delivered &&
				ci.AckFloor.Stream == floor && ci.NumPending == 0 && ci.NumAckPending == 0
		})
	}
	consumerAt(js, "C", 5, 10)
	consumerAt(js, "C2", 4, 10)

	// A reset of the consumer (here ahead, to 13) takes effect at the
	// source's next start; a restart resumes from the later of the
	// copies and the consumer.
	nc := connect(t, a.ClientURL())
	r, err := nc.Request("$JS.API.CONSUMER.RESET.O.C", []byte(`{"seq":13}`), 5*time.Second)
	must(t, err)
	if strings.Contains(string(r.Data), `"error"`) {
		t.Fatalf("reset: %s", r.Data)
	}
	stop(a)
	a = startServer(t, dir, nil)
	js = newJS(t, a.ClientURL())
	publish(js, 11, 20)
	waitStream(t, ctx, js, "S2", "S2 resumed", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 14 })
	if got := fmt.Sprint(sourcedSeqs(t, ctx, js, "S2", "O:C="+nameHash("C2"))); got != "[7 8 9 10 11 12 13 14 15 16 17 18 19 20]" {
		t.Fatalf("S2 holds origin sequences %s after a restart", got)
	}
	waitStream(t, ctx, js, "S", "S resumed", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 9 })
	if got := fmt.Sprint(sourcedSeqs(t, ctx, js, "S", iname)); got != "[2 4 6 8 10 14 16 18 20]" {
		t.Fatalf("S holds origin sequences %s after a reset and a restart", got)
	}
	consumerAt(js, "C", 4, 20)
	consumerAt(js, "C2", 14, 20)
}

// TestDurableMirror mirrors a stream through a filtered durable consumer:
// the mirror holds the consumer's messages at their origin sequences.
func TestDurableMirror(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	must(t, err)
	for i := 1; i <= 10; i++ {
		_, err := js.Publish(ctx, fmt.Sprintf("o.%c", "ab"[i%2]), []byte(fmt.Sprint("v", i)))
		must(t, err)
	}
	_, err = js.CreatePushConsumer(ctx, "O", flowAckConsumer("CM", "o.b"))
	must(t, err)
	m, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O", Consumer: durable("CM")}})
	must(t, err)
	si := waitStream(t, ctx, js, "M", "mirror caught up", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 5 })
	if si.State.FirstSeq != 1 || si.State.LastSeq != 9 {
		t.Fatalf("mirror state %+v", si.State)
	}
	sameMsgs(t, ctx, o, m, []uint64{1, 3, 9}, func(s string) string { return s })
	eventually(t, 30*time.Second, "CM follows the mirror", func() bool {
		c, err := js.PushConsumer(ctx, "O", "CM")
		return err == nil && c.CachedInfo().AckFloor.Consumer == 5 && c.CachedInfo().NumPending == 0
	})
}

// TestDurableSourceErrors: the config refusals of durable sourcing and
// the errors a source or mirror reports for a consumer it cannot use.
func TestDurableSourceErrors(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	must(t, err)
	src := func(s jetstream.StreamSource) jetstream.StreamConfig {
		return jetstream.StreamConfig{Name: "B", Subjects: []string{"b"}, Sources: []*jetstream.StreamSource{&s}}
	}
	start := time.Now()
	for _, bad := range []struct {
		cfg  jetstream.StreamConfig
		code jetstream.ErrorCode
	}{
		{src(jetstream.StreamSource{Name: "O", Consumer: &jetstream.StreamConsumerSource{Name: "C"}}), 10215},
		{src(jetstream.StreamSource{Name: "O", Consumer: &jetstream.StreamConsumerSource{Name: "C", DeliverSubject: "d.*"}}), 10215},
		{src(jetstream.StreamSource{Name: "O", Consumer: &jetstream.StreamConsumerSource{Name: "C.x", DeliverSubject: "d"}}), 10215},
		{src(jetstream.StreamSource{Name: "O", Consumer: durable("C"), FilterSubject: "o.a"}), 10215},
		{src(jetstream.StreamSource{Name: "O", Consumer: durable("C"), OptStartSeq: 3}), 10215},
		{src(jetstream.StreamSource{Name: "O", Consumer: durable("C"), OptStartTime: &start}), 10215},
		{jetstream.StreamConfig{Name: "B", Subjects: []string{"b"}, Sources: []*jetstream.StreamSource{
			{Name: "O", Consumer: durable("C")},
			{Name: "O", Consumer: durable("C"), SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.a", Destination: "x"}}},
		}}, 10216},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O", Consumer: durable("C"), FilterSubject: "o.a"}}, 10213},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O", Consumer: &jetstream.StreamConsumerSource{Name: "C"}}}, 10213},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O", Consumer: durable("C"), OptStartSeq: 2}}, 10213},
	} {
		_, err := js.CreateStream(ctx, bad.cfg)
		wantJSCode(t, err, bad.code)
	}

	// A consumer that is missing, or does not ack by flow control: the
	// source and the mirror report it and copy nothing, then copy once
	// the consumer is right.
	_, err = js.Publish(ctx, "o.a", []byte("x"))
	must(t, err)
	_, err = js.CreateStream(ctx, src(jetstream.StreamSource{Name: "O", Consumer: durable("C")}))
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O", Consumer: durable("CM")}})
	must(t, err)
	hasErr := func(si *jetstream.StreamSourceInfo, code jetstream.ErrorCode) bool {
		return si != nil && si.Error != nil && si.Error.ErrorCode == code
	}
	waitStream(t, ctx, js, "B", "source reports no consumer", func(si *jetstream.StreamInfo) bool {
		return len(si.Sources) == 1 && hasErr(si.Sources[0], 10014)
	})
	explicit := jetstream.ConsumerConfig{Durable: "C", DeliverSubject: "dsrc.C", AckPolicy: jetstream.AckExplicitPolicy}
	_, err = js.CreatePushConsumer(ctx, "O", explicit)
	must(t, err)
	explicit.Durable, explicit.DeliverSubject = "CM", "dsrc.CM"
	_, err = js.CreatePushConsumer(ctx, "O", explicit)
	must(t, err)
	waitStream(t, ctx, js, "B", "source reports the ack policy", func(si *jetstream.StreamInfo) bool {
		return len(si.Sources) == 1 && hasErr(si.Sources[0], 10217) && si.State.Msgs == 0
	})
	waitStream(t, ctx, js, "M", "mirror reports the ack policy", func(si *jetstream.StreamInfo) bool {
		return hasErr(si.Mirror, 10214) && si.State.Msgs == 0
	})
	must(t, js.DeleteConsumer(ctx, "O", "C"))
	_, err = js.CreatePushConsumer(ctx, "O", flowAckConsumer("C", ""))
	must(t, err)
	waitStream(t, ctx, js, "B", "source copies", func(si *jetstream.StreamInfo) bool {
		return len(si.Sources) == 1 && si.Sources[0].Error == nil && si.State.Msgs == 1
	})
}

// nameHash is nats-server's 8-digit hash of a name (getHash).
func nameHash(name string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(name))
	var b [8]byte
	for i := range b {
		b[i] = digits[int(sum[i])%len(digits)]
	}
	return string(b[:])
}

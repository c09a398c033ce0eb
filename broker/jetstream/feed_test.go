package jetstream_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// waitStream waits until cond holds for stream name's info.
func waitStream(t testing.TB, ctx context.Context, js jetstream.JetStream, name string, what string, cond func(*jetstream.StreamInfo) bool) *jetstream.StreamInfo {
	t.Helper()
	var last *jetstream.StreamInfo
	eventually(t, 30*time.Second, what, func() bool {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return false
		}
		last, err = s.Info(ctx)
		return err == nil && cond(last)
	})
	return last
}

// sameMsgs checks that mirror holds origin's message seq with the same
// subject (through subj), header, payload and timestamp.
func sameMsgs(t testing.TB, ctx context.Context, origin, mirror jetstream.Stream, seqs []uint64, subj func(string) string) {
	t.Helper()
	for _, seq := range seqs {
		o, err := origin.GetMsg(ctx, seq)
		must(t, err)
		m, err := mirror.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("mirror seq %d: %v", seq, err)
		}
		if m.Subject != subj(o.Subject) || string(m.Data) != string(o.Data) || !m.Time.Equal(o.Time) ||
			m.Header.Get("X-K") != o.Header.Get("X-K") {
			t.Fatalf("seq %d: mirror %s %q %v %v, origin %s %q %v %v", seq, m.Subject, m.Data, m.Time, m.Header, o.Subject, o.Data, o.Time, o.Header)
		}
	}
}

// TestMirror mirrors a stream with nats.go: the origin's sequences,
// timestamps, headers and gaps, the mirror's stream info, a filtered and
// transformed mirror, opt_start_seq, and the config refusals.
func TestMirror(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	must(t, err)
	for i := 1; i <= 10; i++ {
		m := nats.NewMsg(fmt.Sprintf("o.%d", i%3))
		m.Header.Set("X-K", fmt.Sprint(i))
		m.Header.Set("Nats-Expected-Last-Sequence", fmt.Sprint(i-1)) // checked by the origin only
		m.Data = []byte(fmt.Sprint("v", i))
		_, err := js.PublishMsg(ctx, m)
		must(t, err)
	}
	must(t, o.DeleteMsg(ctx, 4))
	must(t, o.DeleteMsg(ctx, 1))

	for _, bad := range []struct {
		cfg  jetstream.StreamConfig
		code jetstream.ErrorCode
	}{
		{jetstream.StreamConfig{Name: "B", Subjects: []string{"b"}, Mirror: &jetstream.StreamSource{Name: "O"}}, 10034},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O"}, Sources: []*jetstream.StreamSource{{Name: "O"}}}, 10031},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O", OptStartSeq: 2, OptStartTime: &time.Time{}}}, 10032},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O", FilterSubject: "o.1",
			SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.2", Destination: "x"}}}}, 10150},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O.x"}}, 10142},
		{jetstream.StreamConfig{Name: "B", Mirror: &jetstream.StreamSource{Name: "O", External: &jetstream.ExternalStream{APIPrefix: "$JS.hub.API"}}}, 10052},
	} {
		_, err := js.CreateStream(ctx, bad.cfg)
		wantJSCode(t, err, bad.code)
	}

	m, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}})
	must(t, err)
	si := waitStream(t, ctx, js, "M", "mirror caught up", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 10 })
	if si.State.Msgs != 8 || si.State.FirstSeq != 2 || si.State.NumDeleted != 1 || len(si.Config.Subjects) != 0 {
		t.Fatalf("mirror state %+v subjects %v", si.State, si.Config.Subjects)
	}
	if si.Mirror == nil || si.Mirror.Name != "O" || si.Mirror.Lag != 0 || si.Mirror.Active < 0 {
		t.Fatalf("mirror info %+v", si.Mirror)
	}
	sameMsgs(t, ctx, o, m, []uint64{2, 3, 5, 10}, func(s string) string { return s })
	// A mirror captures nothing (it has no subjects): a publish to its
	// name finds no stream, as on nats-server.
	if _, err := js.Publish(ctx, "M", []byte("x")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish to a mirror: %v", err)
	}
	if _, err := m.GetMsg(ctx, 4); err == nil {
		t.Fatal("a deleted origin message is in the mirror")
	}
	// New messages follow.
	_, err = js.Publish(ctx, "o.new", []byte("later"))
	must(t, err)
	waitStream(t, ctx, js, "M", "mirror follows", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 11 })
	sameMsgs(t, ctx, o, m, []uint64{11}, func(s string) string { return s })

	// Filtered and transformed, from sequence 3.
	mt, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MT", Mirror: &jetstream.StreamSource{Name: "O", OptStartSeq: 3,
		SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.1", Destination: "one"}, {Source: "o.2", Destination: "two"}}}})
	must(t, err)
	si = waitStream(t, ctx, js, "MT", "filtered mirror caught up", func(si *jetstream.StreamInfo) bool {
		return si.Mirror != nil && si.Mirror.Lag == 0 && si.State.LastSeq == 10
	})
	// o.1: 7, 10; o.2: 5, 8 (1 and 2 are before the start, 4 deleted).
	if si.State.Msgs != 4 || si.State.FirstSeq != 5 {
		t.Fatalf("filtered mirror state %+v", si.State)
	}
	sameMsgs(t, ctx, o, mt, []uint64{5, 7, 8}, func(s string) string {
		if s == "o.1" {
			return "one"
		}
		return "two"
	})
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O", OptStartSeq: 5}})
	wantJSCode(t, err, 10055)
}

// TestMirrorRestart restarts the server while a mirror copies, and after:
// the mirror resumes where it stopped, with no gap and no duplicate.
func TestMirrorRestart(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}})
	must(t, err)
	n := 0
	publish := func(k int) {
		for range k {
			n++
			_, err := js.Publish(ctx, fmt.Sprintf("o.%d", n%5), []byte(fmt.Sprint("v", n)))
			must(t, err)
		}
	}
	publish(200)
	stop(a) // the mirror may be anywhere in the 200
	for round := range 2 {
		a = startServer(t, dir, nil)
		js = newJS(t, a.ClientURL())
		publish(50)
		si := waitStream(t, ctx, js, "M", "mirror resumed", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == uint64(n) })
		if si.State.Msgs != uint64(n) || si.State.FirstSeq != 1 || si.State.NumDeleted != 0 {
			t.Fatalf("round %d: mirror state %+v", round, si.State)
		}
		o, err := js.Stream(ctx, "O")
		must(t, err)
		m, err := js.Stream(ctx, "M")
		must(t, err)
		sameMsgs(t, ctx, o, m, []uint64{1, 199, 200, 201, uint64(n)}, func(s string) string { return s })
		stop(a)
	}
}

// TestMirrorLargeBoundedMemory mirrors one large message (64 MiB; set
// BARGE_MIRROR_MB=1024 for 1 GiB), published over a raw connection so the
// test holds none of it: the process's resident memory grows far less than
// the message while the mirror copies it, and a direct get of the mirror
// streams back the same bytes.
func TestMirrorLargeBoundedMemory(t *testing.T) {
	size := int64(64 << 20)
	if s := os.Getenv("BARGE_MIRROR_MB"); s != "" {
		n, _ := strconv.Atoi(s)
		size = int64(n) << 20
	}
	a := startServer(t, "", func(c *app.Config) { c.MaxPayload = 2 << 30 })
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big"}})
	must(t, err)

	rc := dialRaw(t, a.ClientURL(), 5*time.Minute)
	bw, line := rc.bw, rc.line
	fmt.Fprintf(bw, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB ack.in 1\r\nSUB get.in 2\r\n")
	want := sha256.New()
	fmt.Fprintf(bw, "PUB big ack.in %d\r\n", size)
	buf := make([]byte, 256<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		pattern(buf[:n], off)
		want.Write(buf[:n])
		if _, err := bw.Write(buf[:n]); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	fmt.Fprintf(bw, "\r\n")
	must(t, bw.Flush())
	if l := line(); !strings.HasPrefix(l, "MSG ack.in 1 ") {
		t.Fatalf("ack line %q", l)
	}
	if ack := line(); ack != `{"stream":"BIG","seq":1}` {
		t.Fatalf("ack %q", ack)
	}

	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	resetPeakRSS()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "BIGM", AllowDirect: true, Mirror: &jetstream.StreamSource{Name: "BIG"}})
	must(t, err)
	start := time.Now()
	waitStream(t, ctx, js, "BIGM", "large message mirrored", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 1 })
	took := time.Since(start)
	peak := peakRSS(t)
	growth := peak - base
	t.Logf("mirrored %d MiB in %v: RSS base %d MiB, peak %d MiB, growth %d MiB", size>>20, took.Round(time.Millisecond), base>>20, peak>>20, growth>>20)
	if growth > size/4 && growth > 48<<20 {
		t.Fatalf("RSS grew by %d MiB mirroring a %d MiB message", growth>>20, size>>20)
	}

	req := `{"seq":1}`
	fmt.Fprintf(bw, "PUB $JS.API.DIRECT.GET.BIGM get.in %d\r\n%s\r\n", len(req), req)
	must(t, bw.Flush())
	hdr, sum, n := rc.hmsg(line())
	if !bytes.Contains(hdr, []byte("Nats-Sequence: 1\r\n")) || !bytes.Contains(hdr, []byte("Nats-Stream: BIGM\r\n")) {
		t.Fatalf("direct get header %q", hdr)
	}
	if n != size || !bytes.Equal(sum, want.Sum(nil)) {
		t.Fatalf("mirrored payload differs (%d of %d bytes)", n, size)
	}
}

// TestSources aggregates two origins and the stream's own subject: each
// copy carries Nats-Stream-Source as nats-server writes it, filters and
// transforms apply, stream info lists each source with its lag, and a
// restart resumes every source with no gap and no duplicate.
func TestSources(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range []string{"A", "B"} {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n, Subjects: []string{strings.ToLower(n) + ".>"}})
		must(t, err)
	}
	counts := map[string]int{}
	publish := func(subj string, k int) {
		for range k {
			counts[subj]++
			m := nats.NewMsg(subj)
			m.Header.Set("X-N", fmt.Sprint(counts[subj]))
			m.Data = []byte(fmt.Sprint(subj, counts[subj]))
			_, err := js.PublishMsg(ctx, m)
			must(t, err)
		}
	}
	publish("a.1", 3)
	publish("a.2", 3) // filtered out
	publish("b.x", 2)

	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{{Name: "A", FilterSubject: "a.1"}, {Name: "A", FilterSubject: "a.1"}}})
	wantJSCode(t, err, 10140)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.own"}, Sources: []*jetstream.StreamSource{
		{Name: "A", FilterSubject: "a.1"},
		{Name: "B", SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "b.*", Destination: "fromb.{{wildcard(1)}}"}}},
	}})
	must(t, err)
	_, err = js.Publish(ctx, "s.own", []byte("own"))
	must(t, err)
	waitStream(t, ctx, js, "S", "sources copied", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 6 })

	check := func(wantMsgs uint64) {
		t.Helper()
		si := waitStream(t, ctx, js, "S", "sources caught up", func(si *jetstream.StreamInfo) bool {
			return si.State.Msgs == wantMsgs && len(si.Sources) == 2 && si.Sources[0].Lag == 0 && si.Sources[1].Lag == 0
		})
		s, err := js.Stream(ctx, "S")
		must(t, err)
		seen := map[string]bool{}
		for seq := si.State.FirstSeq; seq <= si.State.LastSeq; seq++ {
			m, err := s.GetMsg(ctx, seq)
			must(t, err)
			hdr := m.Header.Get("Nats-Stream-Source")
			if m.Subject == "s.own" {
				if hdr != "" {
					t.Fatalf("own message with %q", hdr)
				}
				continue
			}
			key := m.Subject + "/" + m.Header.Get("X-N")
			if seen[key] {
				t.Fatalf("duplicate %s", key)
			}
			seen[key] = true
			f := strings.Split(hdr, " ")
			switch {
			case m.Subject == "a.1" && len(f) == 6 && f[0] == "A" && f[2] == "a.1" && f[3] == ">" && f[4] == "a.1":
			case m.Subject == "fromb.x" && len(f) == 6 && f[0] == "B" && f[2] == "b.*" && f[3] == "fromb.{{wildcard(1)}}" && f[4] == "b.x":
			default:
				t.Fatalf("seq %d: %s with Nats-Stream-Source %q", seq, m.Subject, hdr)
			}
			if string(m.Data) != strings.Replace(m.Subject, "fromb", "b", 1)+m.Header.Get("X-N") {
				t.Fatalf("seq %d: payload %q", seq, m.Data)
			}
		}
		if len(seen) != counts["a.1"]+counts["b.x"] {
			t.Fatalf("%d sourced messages, want %d", len(seen), counts["a.1"]+counts["b.x"])
		}
	}
	check(6)
	publish("a.1", 50)
	publish("b.x", 50)
	stop(a) // the sources may be anywhere
	a = startServer(t, dir, nil)
	js = newJS(t, a.ClientURL())
	publish("a.1", 5)
	publish("b.x", 5)
	check(6 + 110)
}

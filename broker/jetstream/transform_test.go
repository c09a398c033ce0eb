package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStreamSubjectTransform stores messages under their transformed
// subject (wildcard and partition), keeps a subject the source does not
// match, and refuses bad transforms with nats-server's codes.
func TestStreamSubjectTransform(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"in.>", "raw"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "in.*.*", Destination: "out.{{wildcard(2)}}.{{partition(3,1)}}.$1"}})
	must(t, err)
	for _, subj := range []string{"in.a.b", "in.x.y.z", "raw"} {
		_, err := js.Publish(ctx, subj, []byte(subj))
		must(t, err)
	}
	want := []string{"out.b.", "in.x.y.z", "raw"}
	for i, w := range want {
		m, err := s.GetMsg(ctx, uint64(i+1))
		must(t, err)
		if !strings.HasPrefix(m.Subject, w) {
			t.Fatalf("msg %d subject %q, want %q...", i+1, m.Subject, w)
		}
	}
	m, _ := s.GetMsg(ctx, 1)
	if parts := strings.Split(m.Subject, "."); len(parts) != 4 || parts[3] != "a" || !strings.Contains("012", parts[2]) {
		t.Fatalf("partitioned subject %q", m.Subject)
	}

	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "B1", Subjects: []string{"b1"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "b1..x", Destination: "y"}})
	wantJSCode(t, err, 10155)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "B2", Subjects: []string{"b2.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "b2.*", Destination: "y.{{nope(1)}}"}})
	wantJSCode(t, err, 10156)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "B3", Subjects: []string{"b3.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "b3.*", Destination: "y.{{wildcard(2)}}"}})
	wantJSCode(t, err, 10156)
}

// TestStreamRepublish republishes stored messages with nats-server's
// headers (Nats-Last-Sequence the previous message on the subject),
// headers only, a large body from the stored chunks, and refuses a
// destination that would feed the stream itself.
func TestStreamRepublish(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"},
		RePublish: &jetstream.RePublish{Source: "r.*", Destination: "rp.{{wildcard(1)}}"}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "H", Subjects: []string{"h.>"},
		RePublish: &jetstream.RePublish{Destination: "hp.>", HeadersOnly: true}})
	must(t, err)
	sub, err := nc.SubscribeSync("rp.>")
	must(t, err)
	hsub, err := nc.SubscribeSync("hp.>")
	must(t, err)
	must(t, nc.Flush())

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	msg := nats.NewMsg("r.a")
	msg.Header.Set("X-Own", "kept")
	msg.Data = []byte("one")
	_, err = js.PublishMsg(ctx, msg)
	must(t, err)
	_, err = js.Publish(ctx, "r.b", []byte("two"))
	must(t, err)
	_, err = js.Publish(ctx, "r.a", big)
	must(t, err)
	_, err = js.Publish(ctx, "r.a.deep", []byte("not matched"))
	must(t, err)

	type want struct {
		subj, orig string
		seq, last  string
		data       []byte
	}
	for _, w := range []want{{"rp.a", "r.a", "1", "0", []byte("one")}, {"rp.b", "r.b", "2", "0", []byte("two")}, {"rp.a", "r.a", "3", "1", big}} {
		m, err := sub.NextMsg(10 * time.Second)
		must(t, err)
		if m.Subject != w.subj || m.Header.Get("Nats-Stream") != "R" || m.Header.Get("Nats-Subject") != w.orig ||
			m.Header.Get("Nats-Sequence") != w.seq || m.Header.Get("Nats-Last-Sequence") != w.last || !bytes.Equal(m.Data, w.data) {
			t.Fatalf("republished %s %v (%d bytes), want %+v", m.Subject, m.Header, len(m.Data), w.subj)
		}
		if _, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp")); err != nil {
			t.Fatalf("Nats-Time-Stamp: %v", err)
		}
		if w.seq == "1" && m.Header.Get("X-Own") != "kept" {
			t.Fatalf("own header lost: %v", m.Header)
		}
	}
	if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("unmatched subject republished: %s", m.Subject)
	}

	_, err = js.Publish(ctx, "h.x", big)
	must(t, err)
	m, err := hsub.NextMsg(10 * time.Second)
	must(t, err)
	if m.Subject != "hp.h.x" || len(m.Data) != 0 || m.Header.Get("Nats-Msg-Size") != "1048576" || m.Header.Get("Nats-Sequence") != "1" {
		t.Fatalf("headers only: %s %v %d", m.Subject, m.Header, len(m.Data))
	}

	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"c.>"},
		RePublish: &jetstream.RePublish{Source: ">", Destination: "c.x.>"}})
	wantJSCode(t, err, 10052)
}

// wantJSCode fails unless err is a jetstream package API error with
// err_code code.
func wantJSCode(t testing.TB, err error, code jetstream.ErrorCode) {
	t.Helper()
	var ae *jetstream.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != code {
		t.Fatalf("err = %v, want API error %d", err, code)
	}
}

package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/nats-io/nats.go/jetstream"
)

func newJS(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(connect(t, url))
	must(t, err)
	return js
}

// TestJetStreamPackageStreams drives the stream half of the newer
// jetstream package: CreateStream/UpdateStream/Stream/Info/ListStreams/
// StreamNames/DeleteStream/Purge/GetMsg/GetLastMsgForSubject/DeleteMsg,
// with and without direct get.
func TestJetStreamPackageStreams(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, direct := range []bool{false, true} {
		name := fmt.Sprintf("J%v", direct)
		subj := fmt.Sprintf("j%v", direct)
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj + ".>"}, AllowDirect: direct})
		must(t, err)
		for i := 1; i <= 6; i++ {
			ack, err := js.Publish(ctx, fmt.Sprintf("%s.%d", subj, i%3), []byte(fmt.Sprint("v", i)),
				jetstream.WithMsgID(fmt.Sprint(name, i)))
			must(t, err)
			if ack.Sequence != uint64(i) || ack.Stream != name {
				t.Fatalf("ack %+v", ack)
			}
		}
		m, err := s.GetMsg(ctx, 2)
		must(t, err)
		if string(m.Data) != "v2" || m.Subject != subj+".2" || m.Header.Get("Nats-Msg-Id") != name+"2" {
			t.Fatalf("direct=%v get: %+v", direct, m)
		}
		m, err = s.GetLastMsgForSubject(ctx, subj+".0")
		must(t, err)
		if m.Sequence != 6 {
			t.Fatalf("direct=%v last: %d", direct, m.Sequence)
		}
		m, err = s.GetMsg(ctx, 2, jetstream.WithGetMsgSubject(subj+".0"))
		must(t, err)
		if m.Sequence != 3 {
			t.Fatalf("direct=%v next by subject: %d", direct, m.Sequence)
		}
		if _, err := s.GetMsg(ctx, 100); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("direct=%v missing: %v", direct, err)
		}
		if _, err := s.GetLastMsgForSubject(ctx, subj+".none"); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("direct=%v missing last: %v", direct, err)
		}
		must(t, s.DeleteMsg(ctx, 1))
		if _, err := s.GetMsg(ctx, 1); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("direct=%v deleted: %v", direct, err)
		}
		must(t, s.Purge(ctx, jetstream.WithPurgeSubject(subj+".1")))
		must(t, s.Purge(ctx, jetstream.WithPurgeKeep(2)))
		info, err := s.Info(ctx)
		must(t, err)
		if info.State.Msgs != 2 || info.State.LastSeq != 6 {
			t.Fatalf("direct=%v after purges: %+v", direct, info.State)
		}
		must(t, s.Purge(ctx, jetstream.WithPurgeSequence(6)))
		info, _ = s.Info(ctx)
		if info.State.Msgs != 1 {
			t.Fatalf("direct=%v after seq purge: %+v", direct, info.State)
		}
	}

	s, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: "Jtrue", Subjects: []string{"jtrue.>"}, AllowDirect: true, MaxMsgs: 10,
		Description: "updated"})
	must(t, err)
	if s.CachedInfo().Config.Description != "updated" {
		t.Fatalf("update: %+v", s.CachedInfo().Config)
	}
	if _, err := js.Stream(ctx, "nope"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("missing stream: %v", err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "OV", Subjects: []string{"jtrue.x"}})
	if ae := (*jetstream.APIError)(nil); !errors.As(err, &ae) || ae.ErrorCode != 10065 {
		t.Fatalf("overlap: %v", err)
	}
	var names []string
	nl := js.StreamNames(ctx)
	for n := range nl.Name() {
		names = append(names, n)
	}
	must(t, nl.Err())
	slices.Sort(names)
	if !slices.Equal(names, []string{"Jfalse", "Jtrue"}) {
		t.Fatalf("names %v", names)
	}
	n := 0
	ll := js.ListStreams(ctx)
	for range ll.Info() {
		n++
	}
	must(t, ll.Err())
	if n != 2 {
		t.Fatalf("list %d", n)
	}
	must(t, js.DeleteStream(ctx, "Jfalse"))
	if err := js.DeleteStream(ctx, "Jfalse"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	ai, err := js.AccountInfo(ctx)
	must(t, err)
	if ai.Streams != 1 || ai.API.Level != jsapi.BargeAPILevel {
		t.Fatalf("account %+v", ai)
	}
	// Publishing to a subject no stream takes: no responders.
	if _, err := js.Publish(ctx, "nowhere", []byte("x")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish to nowhere: %v", err)
	}
}

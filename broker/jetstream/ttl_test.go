package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startClocked runs a server in dir on the manual clock clk.
func startClocked(t *testing.T, dir string, clk *clocktest.Manual) *app.App {
	return startServer(t, dir, func(c *app.Config) { c.Clock = clk })
}

// hdrMsg is a message on subj with one header.
func hdrMsg(subj, key, val string) *nats.Msg {
	m := nats.NewMsg(subj)
	m.Header.Set(key, val)
	return m
}

// gone reports whether message seq of stream s is no longer stored.
func gone(ctx context.Context, t *testing.T, s jetstream.Stream, seq uint64) bool {
	t.Helper()
	_, err := s.GetMsg(ctx, seq)
	if err == nil {
		return false
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("get %d: %v", seq, err)
	}
	return true
}

// TestMsgTTL covers ADR-43 on an R1 stream: the Nats-TTL header (a
// duration, seconds, "never"), its refusals (10165 invalid, 10166 on a
// stream without allow_msg_ttl), expiry at the message's timestamp plus
// its TTL by the server's clock, "never" outliving max_age, and expiry
// after a restart.
func TestMsgTTL(t *testing.T) {
	dir := t.TempDir()
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := startClocked(t, dir, clk)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	plain, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"p.>"}})
	must(t, err)
	_, err = js.Publish(ctx, "p.1", nil, jetstream.WithMsgTTL(time.Minute))
	wantJSCode(t, err, 10166)
	if n := plain.CachedInfo().State.Msgs; n != 0 {
		t.Fatalf("refused message stored: %d", n)
	}

	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, AllowMsgTTL: true, MaxAge: time.Hour})
	must(t, err)
	if md := s.CachedInfo().Config.Metadata; md["_nats.req.level"] != "1" {
		t.Fatalf("required level %v", md)
	}
	for _, bad := range []string{"abc", "500ms", "-1"} {
		_, err := js.PublishMsg(ctx, hdrMsg("t.bad", "Nats-TTL", bad))
		wantJSCode(t, err, 10165)
	}
	ack1, err := js.Publish(ctx, "t.1", []byte("a"), jetstream.WithMsgTTL(2*time.Second))
	must(t, err)
	_, err = js.PublishMsg(ctx, hdrMsg("t.2", "Nats-TTL", "5")) // seconds
	must(t, err)
	ackNever, err := js.PublishMsg(ctx, hdrMsg("t.3", "Nats-TTL", "never"))
	must(t, err)
	ackPlain, err := js.Publish(ctx, "t.4", []byte("d"))
	must(t, err)

	clk.Advance(1900 * time.Millisecond)
	if gone(ctx, t, s, ack1.Sequence) {
		t.Fatal("expired before its TTL")
	}
	clk.Advance(200 * time.Millisecond)
	eventually(t, 5*time.Second, "2s TTL expiry", func() bool { return gone(ctx, t, s, ack1.Sequence) })
	if gone(ctx, t, s, ack1.Sequence+1) {
		t.Fatal("5s TTL expired at 2s")
	}

	// A restart: the TTLs are learned again from the stored headers.
	stop(a)
	a = startClocked(t, dir, clk)
	js = newJS(t, a.ClientURL())
	s, err = js.Stream(ctx, "T")
	must(t, err)
	clk.Advance(3 * time.Second)
	eventually(t, 5*time.Second, "5s TTL expiry after a restart", func() bool { return gone(ctx, t, s, ack1.Sequence+1) })

	// max_age removes the plain message; "never" stays.
	clk.Advance(time.Hour)
	eventually(t, 5*time.Second, "max_age expiry", func() bool { return gone(ctx, t, s, ackPlain.Sequence) })
	if gone(ctx, t, s, ackNever.Sequence) {
		t.Fatal(`"never" removed by max_age`)
	}

	// A stream that was empty: its first message still reaches max_age.
	e, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "E", Subjects: []string{"e"}, AllowMsgTTL: true, MaxAge: 2 * time.Second})
	must(t, err)
	clk.Advance(time.Second)
	ackE, err := js.Publish(ctx, "e", nil)
	must(t, err)
	clk.Advance(2 * time.Second)
	eventually(t, 5*time.Second, "max_age on a stream that was empty", func() bool { return gone(ctx, t, e, ackE.Sequence) })

	// allow_msg_ttl cannot be turned off.
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, MaxAge: time.Hour})
	wantJSCode(t, err, 10052)
}

// TestSubjectDeleteMarkers covers subject_delete_marker_ttl: max_age or a
// TTL removing a subject's only message leaves a marker (Nats-Marker-Reason
// MaxAge, Nats-TTL the marker TTL) that expires in turn and leaves none;
// a subject with other messages gets no marker.
func TestSubjectDeleteMarkers(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := startClocked(t, t.TempDir(), clk)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BAD", Subjects: []string{"b"}, SubjectDeleteMarkerTTL: 500 * time.Millisecond})
	wantJSCode(t, err, 10052)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"m.>"},
		MaxAge: 10 * time.Second, SubjectDeleteMarkerTTL: 5 * time.Second})
	must(t, err)
	if cfg := s.CachedInfo().Config; !cfg.AllowMsgTTL || !cfg.AllowRollup {
		t.Fatalf("markers need TTL and rollups: %+v", cfg)
	}
	_, err = js.Publish(ctx, "m.a", []byte("1"))
	must(t, err)
	_, err = js.Publish(ctx, "m.b", []byte("1"))
	must(t, err)
	clk.Advance(5 * time.Second)
	_, err = js.Publish(ctx, "m.b", []byte("2"))
	must(t, err)
	clk.Advance(6 * time.Second) // m.a and the first m.b reach max_age
	var marker *jetstream.RawStreamMsg
	eventually(t, 5*time.Second, "marker", func() bool {
		m, err := s.GetLastMsgForSubject(ctx, "m.a")
		if err != nil || m.Header.Get("Nats-Marker-Reason") == "" {
			return false
		}
		marker = m
		return true
	})
	if marker.Header.Get("Nats-Marker-Reason") != "MaxAge" || marker.Header.Get("Nats-TTL") != "5s" || len(marker.Data) != 0 {
		t.Fatalf("marker %v %q", marker.Header, marker.Data)
	}
	eventually(t, 5*time.Second, "first m.b expiry", func() bool {
		info, err := s.Info(ctx)
		must(t, err)
		return info.State.Msgs == 2 // the marker and the second m.b
	})
	if m, err := s.GetLastMsgForSubject(ctx, "m.b"); err != nil || string(m.Data) != "2" {
		t.Fatalf("m.b: %v", err)
	}
	// The m.a marker expires (no marker of its own); the second m.b, its
	// subject's last, leaves one.
	clk.Advance(5 * time.Second)
	eventually(t, 5*time.Second, "marker expiry", func() bool {
		_, err := s.GetLastMsgForSubject(ctx, "m.a")
		m, err2 := s.GetLastMsgForSubject(ctx, "m.b")
		return errors.Is(err, jetstream.ErrMsgNotFound) && err2 == nil && m.Header.Get("Nats-Marker-Reason") == "MaxAge"
	})
}

// TestKVLimitMarkers drives ADR-48 through nats.go's KeyValue: a bucket
// with LimitMarkerTTL, kv.Create with KeyTTL, kv.Purge with PurgeTTL, and a
// watcher seeing the expiry marker as a purge.
func TestKVLimitMarkers(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := startClocked(t, t.TempDir(), clk)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "lm", LimitMarkerTTL: 5 * time.Second, History: 2})
	must(t, err)
	if _, err := kv.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = kv.Put(ctx, "p", []byte("v"))
	must(t, err)
	must(t, kv.Purge(ctx, "p", jetstream.PurgeTTL(2*time.Second)))
	w, err := kv.Watch(ctx, "k", jetstream.UpdatesOnly())
	must(t, err)
	defer w.Stop()

	// The key's TTL is below the marker TTL: it counts as 5s.
	clk.Advance(5 * time.Second)
	select {
	case e := <-w.Updates():
		if e == nil || e.Key() != "k" || e.Operation() != jetstream.KeyValuePurge {
			t.Fatalf("watch: %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("no marker seen by the watcher")
	}
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("expired key: %v", err)
	}
	// The key can be created again once it expired.
	_, err = kv.Create(ctx, "k", []byte("again"))
	must(t, err)
	// The purge marker expired too, and left no marker of its own.
	s, err := js.Stream(ctx, "KV_lm")
	must(t, err)
	eventually(t, 5*time.Second, "purge marker expiry", func() bool {
		_, err := s.GetLastMsgForSubject(ctx, "$KV.lm.p")
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
}

package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestFeedConfigNeedsOrigin covers the checks of a mirror's or source's
// config that look at the origin, as nats-server makes them: a
// max_msg_size below the origin's (10030, 10046) and a cycle of sources
// (10052 "detected cycle"), which would otherwise copy messages round the
// cycle for ever.
func TestFeedConfigNeedsOrigin(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}, MaxMsgSize: 1024})
	must(t, err)

	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", MaxMsgSize: 512, Mirror: &jetstream.StreamSource{Name: "O"}})
	wantJSCode(t, err, 10030)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", MaxMsgSize: 512, Sources: []*jetstream.StreamSource{{Name: "O"}}})
	wantJSCode(t, err, 10046)
	// Unlimited, equal or larger is fine, and so is an origin not known yet.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", MaxMsgSize: 1024, Mirror: &jetstream.StreamSource{Name: "O"}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Sources: []*jetstream.StreamSource{{Name: "O"}, {Name: "LATER"}}})
	must(t, err)
	// An update is checked too.
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, MaxMsgSize: 100, Sources: []*jetstream.StreamSource{{Name: "O"}, {Name: "LATER"}}})
	wantJSCode(t, err, 10046)

	// T sources S, which sources O: O sourcing T closes a cycle.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Sources: []*jetstream.StreamSource{{Name: "S"}}})
	must(t, err)
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}, MaxMsgSize: 1024, Sources: []*jetstream.StreamSource{{Name: "T"}}})
	wantCycle(t, err)
	// LATER, created last, sourcing T: the same cycle through the source
	// S made before LATER existed.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "LATER", Subjects: []string{"l.>"}, Sources: []*jetstream.StreamSource{{Name: "T"}}})
	wantCycle(t, err)
	// A filter on the edge into LATER does not help: S takes all of LATER.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "LATER", Subjects: []string{"l.>"}, Sources: []*jetstream.StreamSource{{Name: "T", FilterSubject: "t.only"}}})
	wantCycle(t, err)
	// A mirror of a stream of the chain is no cycle; a stream sourcing a
	// chain that does not come back to it neither.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "M2", Mirror: &jetstream.StreamSource{Name: "T"}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "U", Subjects: []string{"u.>"}, Sources: []*jetstream.StreamSource{{Name: "T"}, {Name: "S"}}})
	must(t, err)
	// A mirror back to a stream of the chain is a cycle.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "LATER", Mirror: &jetstream.StreamSource{Name: "T"}})
	wantCycle(t, err)
	for _, n := range []string{"O", "S", "T", "U", "M", "M2"} {
		_, err := js.Stream(ctx, n)
		must(t, err)
	}
}

func wantCycle(t testing.TB, err error) {
	t.Helper()
	var ae *jetstream.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != 10052 || ae.Description != "detected cycle" {
		t.Fatalf("err = %v, want 10052 detected cycle", err)
	}
}

// TestFeedOriginRecreated deletes an origin and creates it again (its
// sequences start at 1) under a source and a mirror. As in nats-server the
// source notices the new identity in its Nats-Stream-Source headers and
// copies the new origin from its start, across a restart with no
// duplicate; the mirror keeps its sequences and copies the new origin's
// messages past its last one.
func TestFeedOriginRecreated(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	origin := func() {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
		must(t, err)
	}
	pub := func(n int, tag string) {
		for i := range n {
			_, err := js.Publish(ctx, "o.x", []byte(fmt.Sprint(tag, i+1)))
			must(t, err)
		}
	}
	origin()
	pub(3, "old")
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Sources: []*jetstream.StreamSource{{Name: "O"}}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}})
	must(t, err)
	waitStream(t, ctx, js, "S", "S sourced 3", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 3 })
	waitStream(t, ctx, js, "M", "M mirrored 3", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 3 })

	must(t, js.DeleteStream(ctx, "O"))
	origin()
	pub(2, "new")
	waitStream(t, ctx, js, "S", "S sourced the new origin", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 5 })
	pub(3, "new+") // new origin sequences 3..5: the mirror takes 4 and 5
	waitStream(t, ctx, js, "S", "S sourced 8", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 8 })
	waitStream(t, ctx, js, "M", "M past the new origin's 3", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 5 })
	stop(a)
	a = startServer(t, dir, nil)
	js = newJS(t, a.ClientURL())
	pub(1, "after")
	waitStream(t, ctx, js, "S", "S sourced 9", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 9 })
	waitStream(t, ctx, js, "M", "M at 6", func(si *jetstream.StreamInfo) bool { return si.State.LastSeq == 6 })

	s, err := js.Stream(ctx, "S")
	must(t, err)
	var ids []string
	want := []string{"old1", "old2", "old3", "new1", "new2", "new+1", "new+2", "new+3", "after1"}
	for seq := uint64(1); seq <= 9; seq++ {
		m, err := s.GetMsg(ctx, seq)
		must(t, err)
		f := strings.Split(m.Header.Get("Nats-Stream-Source"), " ")
		if string(m.Data) != want[seq-1] || len(f) != 6 {
			t.Fatalf("S seq %d: %q %q", seq, m.Data, m.Header.Get("Nats-Stream-Source"))
		}
		ids = append(ids, f[5])
	}
	if ids[2] == ids[3] || ids[3] != ids[8] {
		t.Fatalf("origin identities %v", ids)
	}
	m, err := js.Stream(ctx, "M")
	must(t, err)
	for seq, data := range map[uint64]string{3: "old3", 4: "new+2", 6: "after1"} {
		msg, err := m.GetMsg(ctx, seq)
		must(t, err)
		if string(msg.Data) != data {
			t.Fatalf("M seq %d: %q, want %q", seq, msg.Data, data)
		}
	}
}

// TestSourcedRollupAndSourceHeader: a source's copy carrying Nats-Rollup
// rolls up the sourcing stream even without allow_rollup, and a client
// publish carrying Nats-Stream-Source is refused (10227), both as in
// nats-server.
func TestSourcedRollupAndSourceHeader(t *testing.T) {
	a := startServer(t, "", nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}, AllowRollup: true})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Sources: []*jetstream.StreamSource{{Name: "O"}}})
	must(t, err)
	for i := range 3 {
		_, err := js.Publish(ctx, "o.k", []byte(fmt.Sprint(i)))
		must(t, err)
	}
	m := nats.NewMsg("o.k")
	m.Header.Set("Nats-Rollup", "sub")
	m.Data = []byte("roll")
	_, err = js.PublishMsg(ctx, m)
	must(t, err)
	s, err := js.Stream(ctx, "S")
	must(t, err)
	// The origin's own rollup may have removed o.k messages the source had
	// not copied yet: the copy's rollup leaves the one message either way.
	waitStream(t, ctx, js, "S", "the rollup copied", func(si *jetstream.StreamInfo) bool {
		if si.State.Msgs != 1 || len(si.Sources) != 1 || si.Sources[0].Lag != 0 || si.Sources[0].Error != nil {
			return false
		}
		last, err := s.GetLastMsgForSubject(ctx, "o.k")
		return err == nil && string(last.Data) == "roll"
	})

	own := nats.NewMsg("s.x")
	own.Header.Set("Nats-Stream-Source", "O 9 > > o.k")
	_, err = js.PublishMsg(ctx, own)
	wantJSCode(t, err, 10227)
	si, err := s.Info(ctx)
	must(t, err)
	if si.State.Msgs != 1 {
		t.Fatalf("S holds %d messages after a refused publish", si.State.Msgs)
	}
}

// TestSourcePositionSurvivesPurge: a source's position is kept apart from
// the copies (sources.json), so a purge of the sourcing stream followed by
// a restart does not make the source copy its origin again, as in
// nats-server.
func TestSourcePositionSurvivesPurge(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	js := newJS(t, a.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	must(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Sources: []*jetstream.StreamSource{{Name: "O"}}})
	must(t, err)
	for i := range 5 {
		_, err := js.Publish(ctx, "o.x", []byte(fmt.Sprint(i)))
		must(t, err)
	}
	waitStream(t, ctx, js, "S", "S sourced 5", func(si *jetstream.StreamInfo) bool { return si.State.Msgs == 5 })
	s, err := js.Stream(ctx, "S")
	must(t, err)
	must(t, s.Purge(ctx))
	_, err = js.Publish(ctx, "s.own", []byte("own")) // the newest message is no copy
	must(t, err)
	stop(a)
	a = startServer(t, dir, nil)
	js = newJS(t, a.ClientURL())
	_, err = js.Publish(ctx, "o.x", []byte("after"))
	must(t, err)
	si := waitStream(t, ctx, js, "S", "S sourced the new message only", func(si *jetstream.StreamInfo) bool {
		return len(si.Sources) == 1 && si.Sources[0].Lag == 0 && si.State.LastSeq >= 7
	})
	if si.State.Msgs != 2 || si.State.LastSeq != 7 {
		t.Fatalf("S state %+v, want the own message and the new copy", si.State)
	}
	s, err = js.Stream(ctx, "S")
	must(t, err)
	m, err := s.GetMsg(ctx, 7)
	must(t, err)
	if string(m.Data) != "after" || !strings.HasPrefix(m.Header.Get("Nats-Stream-Source"), "O 6 ") {
		t.Fatalf("S seq 7: %q %q", m.Data, m.Header.Get("Nats-Stream-Source"))
	}
}

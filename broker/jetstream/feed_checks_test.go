package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

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

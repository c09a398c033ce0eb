package consumer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// npCase is a consumer to create and the num_pending nats-server 2.15.2
// reports for it (checked by hand against the same streams).
type npCase struct {
	filter string
	sseq   uint64 // 0: deliver all
	want   uint64
}

// checkNumPending creates each case's consumer on stream, compares its
// num_pending, and deletes it.
func checkNumPending(t *testing.T, js nats.JetStreamContext, stream, when string, cases []npCase) {
	t.Helper()
	for i, c := range cases {
		cc := &nats.ConsumerConfig{Durable: fmt.Sprintf("np%d", i), AckPolicy: nats.AckExplicitPolicy, FilterSubject: c.filter}
		if c.sseq > 0 {
			cc.DeliverPolicy, cc.OptStartSeq = nats.DeliverByStartSequencePolicy, c.sseq
		}
		ci, err := js.AddConsumer(stream, cc)
		must(t, err)
		if ci.NumPending != c.want {
			t.Errorf("%s: filter %q start %d: num_pending %d, want %d", when, c.filter, c.sseq, ci.NumPending, c.want)
		}
		must(t, js.DeleteConsumer(stream, cc.Durable))
	}
}

// TestNumPendingSkipsDeletedMessages: num_pending counts the messages left,
// not the sequences, when messages inside the consumer's range were removed
// (interior deletes, purge with keep or seq, max_msgs_per_subject), for
// file and memory streams, with and without a filter, from the start and
// from a start sequence; and an ack reply's pending count is as exact.
func TestNumPendingSkipsDeletedMessages(t *testing.T) {
	a := startServer(t, "")
	js := legacyJS(t, connect(t, a))
	for _, st := range []nats.StorageType{nats.FileStorage, nats.MemoryStorage} {
		name := fmt.Sprintf("NP%d", st)
		_, err := js.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: st})
		must(t, err)
		a, b := name+".a", name+".b"
		for i := 1; i <= 50; i++ {
			subj := a
			if i%2 == 0 {
				subj = b
			}
			_, err := js.Publish(subj, []byte("x"))
			must(t, err)
		}
		must(t, js.DeleteMsg(name, 10))
		checkNumPending(t, js, name, "delete 10", []npCase{
			{"", 0, 49}, {"", 4, 46}, {"", 10, 40}, {"", 11, 40}, {"", 50, 1}, {"", 51, 0},
		})
		must(t, js.DeleteMsg(name, 11))
		checkNumPending(t, js, name, "delete 10 and 11", []npCase{
			{"", 0, 48}, {"", 1, 48}, {"", 4, 45}, {"", 10, 39}, {"", 11, 39}, {"", 12, 39}, {"", 30, 21}, {"", 51, 0},
			{a, 0, 24}, {a, 4, 22}, {a, 10, 19}, {a, 30, 10}, {a, 50, 0},
		})

		// The ack reply's pending count after each delivery of an
		// unfiltered consumer starting at 4: 5..9, then 12 (10 and 11
		// deleted) with 38 left after it.
		sub, err := js.PullSubscribe("", "", nats.BindStream(name), nats.StartSequence(4))
		must(t, err)
		msgs, err := sub.Fetch(7, nats.MaxWait(5*time.Second))
		must(t, err)
		var got []string
		for _, m := range msgs {
			md, err := m.Metadata()
			must(t, err)
			got = append(got, fmt.Sprintf("%d:%d", md.Sequence.Stream, md.NumPending))
		}
		if want := "[4:44 5:43 6:42 7:41 8:40 9:39 12:38]"; fmt.Sprint(got) != want {
			t.Errorf("ack reply pending %v, want %s", got, want)
		}
		must(t, sub.Unsubscribe()) // deletes the ephemeral consumer

		must(t, js.DeleteMsg(name, 40))
		must(t, js.PurgeStream(name, &nats.StreamPurgeRequest{Keep: 30}))
		checkNumPending(t, js, name, "purge keep 30", []npCase{
			{"", 0, 30}, {"", 12, 30}, {"", 30, 20}, {"", 50, 1}, {a, 0, 15}, {a, 30, 10},
		})
		must(t, js.PurgeStream(name, &nats.StreamPurgeRequest{Sequence: 35}))
		checkNumPending(t, js, name, "purge to 35", []npCase{
			{"", 0, 15}, {"", 30, 15}, {"", 36, 14}, {"", 41, 10}, {a, 0, 8},
		})

		// max_msgs_per_subject: every third message is on one subject
		// that keeps 2, so 3, 6 ... 24 are removed.
		pname := name + "P"
		_, err = js.AddStream(&nats.StreamConfig{Name: pname, Subjects: []string{pname + ".>"}, Storage: st, MaxMsgsPerSubject: 2})
		must(t, err)
		for i := 1; i <= 30; i++ {
			subj := fmt.Sprintf("%s.c%d", pname, i)
			if i%3 == 0 {
				subj = pname + ".hot"
			}
			_, err := js.Publish(subj, []byte("x"))
			must(t, err)
		}
		checkNumPending(t, js, pname, "max_msgs_per_subject", []npCase{
			{"", 0, 22}, {"", 1, 22}, {"", 3, 20}, {"", 4, 20}, {"", 10, 16}, {"", 20, 9}, {"", 25, 6}, {"", 27, 4}, {"", 28, 3}, {"", 30, 1},
		})
	}
}

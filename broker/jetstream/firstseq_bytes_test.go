package jetstream_test

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// TestStreamFirstSeq: first_seq places a new stream's first message, as on
// nats-server: the empty stream reports first N and last N-1, the first
// message gets N, and the start survives a restart. An update cannot change
// it (one that leaves it out keeps it); a mirror cannot have one (10143).
func TestStreamFirstSeq(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	_, js := legacy(t, a)
	si, err := js.AddStream(&nats.StreamConfig{Name: "F", Subjects: []string{"f.>"}, FirstSeq: 100})
	must(t, err)
	if si.Config.FirstSeq != 100 || si.State.FirstSeq != 100 || si.State.LastSeq != 99 || si.State.Msgs != 0 {
		t.Fatalf("new stream: config first_seq %d, state %+v", si.Config.FirstSeq, si.State)
	}
	ack, err := js.Publish("f.1", []byte("one"))
	must(t, err)
	if ack.Sequence != 100 {
		t.Fatalf("first message got %d, want 100", ack.Sequence)
	}
	_, err = js.AddStream(&nats.StreamConfig{Name: "M", Subjects: []string{"m"}, Storage: nats.MemoryStorage, FirstSeq: 50})
	must(t, err)
	ack, err = js.Publish("m", []byte("mem"))
	must(t, err)
	if ack.Sequence != 50 {
		t.Fatalf("memory stream: first message got %d, want 50", ack.Sequence)
	}
	_, err = js.AddStream(&nats.StreamConfig{Name: "MIR", Mirror: &nats.StreamSource{Name: "F"}, FirstSeq: 10})
	wantCode(t, err, 10143)

	si, err = js.UpdateStream(&nats.StreamConfig{Name: "F", Subjects: []string{"f.>"}, MaxMsgs: 1000})
	must(t, err)
	if si.Config.FirstSeq != 100 {
		t.Fatalf("an update without first_seq dropped it: %d", si.Config.FirstSeq)
	}
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "F", Subjects: []string{"f.>"}, FirstSeq: 200})
	wantCode(t, err, 10052)
	stop(a)

	b := startServer(t, dir, nil)
	_, js = legacy(t, b)
	ack, err = js.Publish("f.2", []byte("two"))
	must(t, err)
	if ack.Sequence != 101 {
		t.Fatalf("after restart: seq %d, want 101", ack.Sequence)
	}
	si, err = js.StreamInfo("F")
	must(t, err)
	if si.State.FirstSeq != 100 || si.State.LastSeq != 101 || si.State.Msgs != 2 || si.State.NumDeleted != 0 {
		t.Fatalf("after restart: %+v", si.State)
	}
	must(t, js.PurgeStream("F"))
	si, err = js.StreamInfo("F")
	must(t, err)
	if si.State.FirstSeq != 102 || si.State.LastSeq != 101 {
		t.Fatalf("after purge: %+v", si.State)
	}
	// The memory stream starts over at its first_seq.
	ack, err = js.Publish("m", []byte("again"))
	must(t, err)
	if ack.Sequence != 50 {
		t.Fatalf("memory stream after restart: seq %d, want 50", ack.Sequence)
	}
}

// TestStreamBytesLikeNats: stream info, account info and max_bytes count a
// message as nats-server does: five 5-byte messages on orders.eu are 220 B
// in a file stream (22+9+5+8 each) and 150 B in a memory one (9+5+16), and
// the figure survives a restart.
func TestStreamBytesLikeNats(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	must(t, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "MEM", Subjects: []string{"mem.>"}, Storage: nats.MemoryStorage})
	must(t, err)
	// max_bytes 100 keeps two file messages of 44 B (nats-server: the same).
	_, err = js.AddStream(&nats.StreamConfig{Name: "OLD", Subjects: []string{"old.eu.xx"}, MaxBytes: 100})
	must(t, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "NEW", Subjects: []string{"new.eu.xx"}, MaxBytes: 100, Discard: nats.DiscardNew})
	must(t, err)
	for range 5 {
		_, err = js.Publish("orders.eu", []byte("hello"))
		must(t, err)
		_, err = js.Publish("mem.eu.xx", []byte("hello"))
		must(t, err)
		_, err = js.Publish("old.eu.xx", []byte("hello"))
		must(t, err)
	}
	for i := range 3 {
		_, err = js.Publish("new.eu.xx", []byte("hello"))
		if i < 2 {
			must(t, err)
		} else {
			wantCode(t, err, 10077) // maximum bytes exceeded
		}
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			name        string
			msgs, bytes uint64
		}{{"ORDERS", 5, 220}, {"OLD", 2, 88}, {"NEW", 2, 88}} {
			si, err := js.StreamInfo(c.name)
			must(t, err)
			if si.State.Msgs != c.msgs || si.State.Bytes != c.bytes {
				t.Fatalf("%s: %s has %d msgs, %d bytes; want %d, %d", when, c.name, si.State.Msgs, si.State.Bytes, c.msgs, c.bytes)
			}
		}
		ai, err := js.AccountInfo()
		must(t, err)
		if ai.Store != 220+88+88 {
			t.Fatalf("%s: account store %d, want %d", when, ai.Store, 220+88+88)
		}
	}
	check("before restart")
	si, err := js.StreamInfo("MEM")
	must(t, err)
	if si.State.Bytes != 150 {
		t.Fatalf("memory stream: %d bytes, want 150", si.State.Bytes)
	}
	ai, err := js.AccountInfo()
	must(t, err)
	if ai.Memory != 150 {
		t.Fatalf("account memory %d, want 150", ai.Memory)
	}
	stop(a)
	b := startServer(t, dir, nil)
	_, js = legacy(t, b)
	check("after restart")
}

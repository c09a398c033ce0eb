package jetstream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestPublishHeaderChecks covers Nats-Msg-Id dedup and the Nats-Expected-*
// checks with their error codes.
func TestPublishHeaderChecks(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "H", Subjects: []string{"h.>"}})
	must(t, err)

	ack, err := js.Publish("h.a", []byte("1"), nats.MsgId("id-1"))
	must(t, err)
	dup, err := js.Publish("h.a", []byte("1 again"), nats.MsgId("id-1"))
	must(t, err)
	if !dup.Duplicate || dup.Sequence != ack.Sequence {
		t.Fatalf("dup ack %+v, first %+v", dup, ack)
	}
	_, err = js.Publish("h.a", []byte("x"), nats.ExpectStream("OTHER"))
	wantCode(t, err, 10060)
	_, err = js.Publish("h.a", []byte("x"), nats.ExpectLastSequence(7))
	wantCode(t, err, 10071)
	_, err = js.Publish("h.a", []byte("2"), nats.ExpectLastSequence(1), nats.ExpectStream("H"))
	must(t, err)
	_, err = js.Publish("h.b", []byte("x"), nats.ExpectLastSequencePerSubject(1))
	wantCode(t, err, 10071)
	_, err = js.Publish("h.b", []byte("3"), nats.ExpectLastSequencePerSubject(0))
	must(t, err)
	_, err = js.Publish("h.a", []byte("4"), nats.ExpectLastSequencePerSubject(2))
	must(t, err)
	_, err = js.Publish("h.c", []byte("x"), nats.ExpectLastMsgId("id-1"))
	wantCode(t, err, 10070)
	_, err = js.Publish("h.c", []byte("5"), nats.MsgId("id-5"))
	must(t, err)
	_, err = js.Publish("h.c", []byte("6"), nats.ExpectLastMsgId("id-5"))
	must(t, err)
	si, err := js.StreamInfo("H")
	must(t, err)
	if si.State.Msgs != 6 || si.State.LastSeq != 6 {
		t.Fatalf("state %+v", si.State)
	}
	// Rollup refused without allow_rollup_hdrs.
	m := nats.NewMsg("h.a")
	m.Header.Set("Nats-Rollup", "sub")
	_, err = js.PublishMsg(m)
	wantCode(t, err, 10111)
}

// TestRollupAndLimits covers Nats-Rollup, max_msg_size, discard new,
// max_msgs_per_subject, sealed, deny_delete and deny_purge.
func TestRollupAndLimits(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)

	_, err := js.AddStream(&nats.StreamConfig{Name: "R", Subjects: []string{"r.>"}, AllowRollup: true})
	must(t, err)
	for i := 0; i < 3; i++ {
		_, err := js.Publish("r.a", []byte("a"))
		must(t, err)
		_, err = js.Publish("r.b", []byte("b"))
		must(t, err)
	}
	m := nats.NewMsg("r.a")
	m.Header.Set("Nats-Rollup", "sub")
	m.Data = []byte("rolled")
	_, err = js.PublishMsg(m)
	must(t, err)
	si, _ := js.StreamInfo("R")
	if si.State.Msgs != 4 {
		t.Fatalf("after sub rollup: %d msgs", si.State.Msgs)
	}
	m = nats.NewMsg("r.b")
	m.Header.Set("Nats-Rollup", "all")
	_, err = js.PublishMsg(m)
	must(t, err)
	si, _ = js.StreamInfo("R")
	if si.State.Msgs != 1 || si.State.FirstSeq != 8 {
		t.Fatalf("after all rollup: %+v", si.State)
	}
	m = nats.NewMsg("r.b")
	m.Header.Set("Nats-Rollup", "bogus")
	_, err = js.PublishMsg(m)
	wantCode(t, err, 10111)

	_, err = js.AddStream(&nats.StreamConfig{Name: "L", Subjects: []string{"l.>"}, MaxMsgSize: 16,
		MaxMsgs: 3, Discard: nats.DiscardNew})
	must(t, err)
	_, err = js.Publish("l.a", make([]byte, 17))
	wantCode(t, err, 10054)
	for i := 0; i < 3; i++ {
		_, err := js.Publish("l.a", []byte("x"))
		must(t, err)
	}
	_, err = js.Publish("l.a", []byte("x"))
	wantCode(t, err, 10077)

	_, err = js.AddStream(&nats.StreamConfig{Name: "P", Subjects: []string{"p.>"}, MaxMsgsPerSubject: 2})
	must(t, err)
	for i := 0; i < 5; i++ {
		_, err := js.Publish("p.a", []byte(fmt.Sprint(i)))
		must(t, err)
	}
	si, _ = js.StreamInfo("P")
	if si.State.Msgs != 2 || si.State.FirstSeq != 4 {
		t.Fatalf("per-subject limit: %+v", si.State)
	}
	_, err = js.AddStream(&nats.StreamConfig{Name: "PN", Subjects: []string{"pn.>"}, MaxMsgsPerSubject: 1,
		Discard: nats.DiscardNew, DiscardNewPerSubject: true})
	must(t, err)
	_, err = js.Publish("pn.a", []byte("1"))
	must(t, err)
	_, err = js.Publish("pn.a", []byte("2"))
	wantCode(t, err, 10077)
	_, err = js.Publish("pn.b", []byte("1"))
	must(t, err)

	_, err = js.AddStream(&nats.StreamConfig{Name: "D", Subjects: []string{"d"}, DenyDelete: true, DenyPurge: true})
	must(t, err)
	_, err = js.Publish("d", []byte("x"))
	must(t, err)
	wantCode(t, js.DeleteMsg("D", 1), 10057)
	wantCode(t, js.PurgeStream("D"), 10110)
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "D", Subjects: []string{"d"}})
	wantCode(t, err, 10052)

	// Sealing: publishes, deletes and purges are refused; unsealing is too.
	si, err = js.UpdateStream(&nats.StreamConfig{Name: "P", Subjects: []string{"p.>"}, MaxMsgsPerSubject: 2, Sealed: true})
	must(t, err)
	if !si.Config.Sealed || !si.Config.DenyDelete || !si.Config.DenyPurge {
		t.Fatalf("sealed config %+v", si.Config)
	}
	_, err = js.Publish("p.a", []byte("x"))
	wantCode(t, err, 10109)
	wantCode(t, js.DeleteMsg("P", 5), 10109)
	wantCode(t, js.PurgeStream("P"), 10109)
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "P", Subjects: []string{"p.>"}, MaxMsgsPerSubject: 2})
	wantCode(t, err, 10052)
	_, err = js.AddStream(&nats.StreamConfig{Name: "SEALED", Subjects: []string{"sealed"}, Sealed: true})
	wantCode(t, err, 10052)
}

// TestStorageVariants: memory storage, s2 compression, max_age expiry,
// max_bytes, and interest retention with no consumer keeps nothing.
func TestStorageVariants(t *testing.T) {
	a := startServer(t, "", nil)
	_, js := legacy(t, a)
	payload := []byte("compressible compressible compressible compressible")
	for _, cfg := range []*nats.StreamConfig{
		{Name: "MEM", Subjects: []string{"mem"}, Storage: nats.MemoryStorage},
		{Name: "S2", Subjects: []string{"s2"}, Compression: nats.S2Compression},
	} {
		_, err := js.AddStream(cfg)
		must(t, err)
		for i := 0; i < 3; i++ {
			_, err := js.Publish(cfg.Subjects[0], payload)
			must(t, err)
		}
		m, err := js.GetMsg(cfg.Name, 2)
		must(t, err)
		if string(m.Data) != string(payload) {
			t.Fatalf("%s: got %q", cfg.Name, m.Data)
		}
	}
	_, err := js.AddStream(&nats.StreamConfig{Name: "AGE", Subjects: []string{"age"}, MaxAge: 200 * time.Millisecond})
	must(t, err)
	_, err = js.Publish("age", []byte("x"))
	must(t, err)
	eventually(t, 5*time.Second, "max_age expiry", func() bool {
		si, err := js.StreamInfo("AGE")
		return err == nil && si.State.Msgs == 0
	})
	_, err = js.AddStream(&nats.StreamConfig{Name: "BYTES", Subjects: []string{"bytes"}, MaxBytes: 100})
	must(t, err)
	for i := 0; i < 10; i++ {
		_, err := js.Publish("bytes", make([]byte, 30))
		must(t, err)
	}
	si, _ := js.StreamInfo("BYTES")
	if si.State.Bytes > 100 || si.State.Msgs == 0 {
		t.Fatalf("max_bytes: %+v", si.State)
	}
	_, err = js.AddStream(&nats.StreamConfig{Name: "INT", Subjects: []string{"int"}, Retention: nats.InterestPolicy})
	must(t, err)
	ack, err := js.Publish("int", []byte("nobody listens"))
	must(t, err)
	if ack.Sequence != 1 {
		t.Fatalf("ack %+v", ack)
	}
	eventually(t, 5*time.Second, "interest stream without consumers to drop", func() bool {
		si, err := js.StreamInfo("INT")
		return err == nil && si.State.Msgs == 0 && si.State.LastSeq == 1
	})
}

// TestCorePublishIsStored: a plain PUB without reply on a stream subject is
// stored too, and a core subscriber still receives it.
func TestCorePublishIsStored(t *testing.T) {
	a := startServer(t, "", nil)
	nc, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "C", Subjects: []string{"c.*"}})
	must(t, err)
	sub, err := nc.SubscribeSync("c.*")
	must(t, err)
	for i := 0; i < 10; i++ {
		must(t, nc.Publish("c.x", []byte("fire and forget")))
	}
	must(t, nc.Flush())
	for i := 0; i < 10; i++ {
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "10 stored", func() bool {
		si, err := js.StreamInfo("C")
		return err == nil && si.State.Msgs == 10
	})
}

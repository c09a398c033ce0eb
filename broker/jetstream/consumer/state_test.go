package consumer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

func TestStateRoundTrip(t *testing.T) {
	st := &savedState{next: 9, dcseq: 7, dsseq: 8, dts: 5, acseq: 3, asseq: 4, ats: 2,
		pending: []pendingRec{{sseq: 5, cseq: 4, ts: 11, dc: 2}, {sseq: 8, cseq: 7, ts: 12, dc: 1}}}
	b := appendState(nil, st)
	got, err := decodeState(b)
	if err != nil || got.next != 9 || got.asseq != 4 || len(got.pending) != 2 || got.pending[0].dc != 2 {
		t.Fatalf("got %+v, %v", got, err)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, err := decodeState(c); err == nil {
			t.Fatalf("flipped byte %d not detected", i)
		}
	}
	if _, err := decodeState(b[:len(b)-1]); err == nil {
		t.Fatal("truncation not detected")
	}
}

func TestDurableRestart(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		for _, d := range []string{"a", "b", "c"} {
			e.pub("s.x", d)
		}
		e.create(jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: 10 * time.Second})
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 3})
		got := in.take()
		ackIn := e.sub("_INBOX.ack")
		e.ack(got[0].Reply, "+ACK", "_INBOX.ack")
		if len(ackIn.take()) != 1 {
			t.Fatal("no double-ack reply")
		}
		// What a kill -9 would leave: the file as it is now.
		b, err := os.ReadFile(filepath.Join(e.dir, "D", stateFile))
		if err != nil {
			t.Fatal(err)
		}
		st, err := decodeState(b)
		if err != nil || st.asseq != 1 || len(st.pending) != 2 {
			t.Fatalf("durable state after double ack: %+v %v", st, err)
		}
		e.ack(got[1].Reply, "-NAK", "")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 1})
		if m := in.take(); len(m) != 1 || m[0].meta(t).Delivered != 2 {
			t.Fatalf("redelivery before restart: %q", m)
		}
		e.restart()
		ci := e.info("D")
		if ci.Delivered.Consumer != 4 || ci.Delivered.Stream != 3 || ci.AckFloor.Stream != 1 || ci.NumAckPending != 2 || ci.NumRedelivered != 1 {
			t.Fatalf("after restart: %+v", ci)
		}
		if ci.Config.AckWait != 10*time.Second || ci.Config.Durable != "D" {
			t.Fatalf("config after restart: %+v", ci.Config)
		}
		e.pub("s.x", "d")
		in2 := e.sub("_INBOX.2")
		e.next("D", "_INBOX.2", jsapi.NextRequest{Batch: 5, Expires: time.Second})
		if got := data(in2.take()); got != "d" {
			t.Fatalf("resume: %q", got)
		}
		sleep(11 * time.Second)
		e.next("D", "_INBOX.2", jsapi.NextRequest{Batch: 5, Expires: time.Second})
		got = in2.take()
		// The earlier request timed out; b (nak'd once), c and d are due again.
		if data(got) != "<408> b c d" || got[1].meta(t).Delivered != 3 || got[2].meta(t).Delivered != 2 {
			t.Fatalf("redelivery after restart: %q", got)
		}
		// Delete removes the state.
		if err := e.set.Delete("D"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(e.dir, "D")); !os.IsNotExist(err) {
			t.Fatalf("state dir kept: %v", err)
		}
		e.restart()
		if e.set.Count() != 0 {
			t.Fatal("deleted consumer came back")
		}
	})
}

func TestEphemeralNotPersisted(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.create(jsapi.ConsumerConfig{Name: "eph", AckPolicy: jsapi.AckExplicit})
		e.create(jsapi.ConsumerConfig{Durable: "mem", AckPolicy: jsapi.AckExplicit, MemoryStorage: true})
		e.restart()
		if n := e.set.Names(); len(n) != 0 {
			t.Fatalf("restored %v", n)
		}
	})
}

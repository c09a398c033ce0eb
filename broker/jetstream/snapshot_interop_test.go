package jetstream_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/internal/testport"
	"github.com/nats-io/nats.go"
)

// TestBackupInteropNatsServer moves backups both ways between barge and a
// real nats-server 2.15 (its binary in BARGE_NATS_SERVER, else the test is
// skipped): a nats-server stream with a gap and a durable consumer part
// way through restores into barge, and a barge one into nats-server, with
// the same state, messages and consumer positions on both sides.
func TestBackupInteropNatsServer(t *testing.T) {
	bin := os.Getenv("BARGE_NATS_SERVER")
	if bin == "" {
		t.Skip("BARGE_NATS_SERVER names no nats-server binary")
	}
	addr, err := testport.Addr()
	must(t, err)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", port, "-js", "-sd", t.TempDir())
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var nsc *nats.Conn
	eventually(t, 10*time.Second, "nats-server up", func() bool {
		nsc, err = nats.Connect("nats://" + addr)
		return err == nil
	})
	defer nsc.Close()
	njs, err := nsc.JetStream()
	must(t, err)
	a := startServer(t, "", nil)
	bnc, bjs := legacy(t, a)

	fill := func(js nats.JetStreamContext, name string) {
		t.Helper()
		_, err := js.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}})
		must(t, err)
		for i := range 120 {
			m := nats.NewMsg(fmt.Sprintf("%s.%d", strings.ToLower(name), i%4))
			m.Header.Set("I", fmt.Sprint(i))
			m.Data = bytes.Repeat([]byte{byte(i)}, 10+i*100)
			_, err := js.PublishMsg(m)
			must(t, err)
		}
		must(t, js.DeleteMsg(name, 9))
		_, err = js.AddConsumer(name, &nats.ConsumerConfig{Durable: "D", AckPolicy: nats.AckExplicitPolicy})
		must(t, err)
		sub, err := js.PullSubscribe("", "D", nats.Bind(name, "D"))
		must(t, err)
		msgs, err := sub.Fetch(5)
		must(t, err)
		for _, m := range msgs[:2] {
			must(t, m.AckSync())
		}
	}
	same := func(from, to nats.JetStreamContext, name string) {
		t.Helper()
		a, err := from.StreamInfo(name)
		must(t, err)
		b, err := to.StreamInfo(name)
		must(t, err)
		if a.State.Msgs != b.State.Msgs || a.State.Bytes != b.State.Bytes || a.State.FirstSeq != b.State.FirstSeq ||
			a.State.LastSeq != b.State.LastSeq || a.State.NumDeleted != b.State.NumDeleted || !a.State.LastTime.Equal(b.State.LastTime) {
			t.Fatalf("%s: restored state %+v\nsource %+v", name, b.State, a.State)
		}
		for seq := uint64(1); seq <= a.State.LastSeq; seq++ {
			ma, erra := from.GetMsg(name, seq)
			mb, errb := to.GetMsg(name, seq)
			if (erra == nil) != (errb == nil) {
				t.Fatalf("%s seq %d: %v / %v", name, seq, erra, errb)
			}
			if erra == nil && msgDigest(ma) != msgDigest(mb) {
				t.Fatalf("%s seq %d differs", name, seq)
			}
		}
		ca, err := from.ConsumerInfo(name, "D")
		must(t, err)
		cb, err := to.ConsumerInfo(name, "D")
		must(t, err)
		if ca.AckFloor.Stream != cb.AckFloor.Stream || ca.Delivered.Stream != cb.Delivered.Stream || ca.NumAckPending != cb.NumAckPending {
			t.Fatalf("%s consumer: restored %+v %+v %d, source %+v %+v %d", name, cb.Delivered, cb.AckFloor, cb.NumAckPending,
				ca.Delivered, ca.AckFloor, ca.NumAckPending)
		}
	}

	fill(njs, "FROMNS")
	dir := t.TempDir()
	_, err = backup(t, nsc, "FROMNS", dir, false, 0)
	must(t, err)
	_, err = restoreFrom(t, bnc, "FROMNS", dir, nil)
	must(t, err)
	same(njs, bjs, "FROMNS")

	fill(bjs, "FROMBARGE")
	dir = t.TempDir()
	_, err = backup(t, bnc, "FROMBARGE", dir, false, 0)
	must(t, err)
	_, err = restoreFrom(t, nsc, "FROMBARGE", dir, nil)
	must(t, err)
	same(bjs, njs, "FROMBARGE")
}

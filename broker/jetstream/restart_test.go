package jetstream_test

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// TestRestartKeepsStreams: after Shutdown and Start on the same store_dir,
// streams, configs, messages and the dedup window are back.
func TestRestartKeepsStreams(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	_, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "K", Subjects: []string{"k.>"}, MaxMsgs: 1000, Description: "kept"})
	must(t, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "M", Subjects: []string{"m"}, Storage: nats.MemoryStorage})
	must(t, err)
	for i := 1; i <= 20; i++ {
		_, err := js.Publish(fmt.Sprintf("k.%d", i%4), []byte(fmt.Sprint(i)), nats.MsgId(fmt.Sprint("id", i)))
		must(t, err)
	}
	_, err = js.Publish("m", []byte("volatile"))
	must(t, err)
	must(t, js.DeleteMsg("K", 5))
	stop(a)

	b := startServer(t, dir, nil)
	_, js = legacy(t, b)
	si, err := js.StreamInfo("K")
	must(t, err)
	if si.Config.Description != "kept" || si.Config.MaxMsgs != 1000 || si.State.Msgs != 19 || si.State.LastSeq != 20 {
		t.Fatalf("after restart: %+v %+v", si.Config, si.State)
	}
	m, err := js.GetMsg("K", 7)
	must(t, err)
	if string(m.Data) != "7" {
		t.Fatalf("msg 7 = %q", m.Data)
	}
	dup, err := js.Publish("k.0", []byte("again"), nats.MsgId("id20"))
	must(t, err)
	if !dup.Duplicate || dup.Sequence != 20 {
		t.Fatalf("dedup not restored: %+v", dup)
	}
	_, err = js.Publish("k.0", []byte("21"), nats.ExpectLastMsgId("id20"), nats.ExpectLastSequence(20))
	must(t, err)
	// A memory stream keeps its config, not its messages.
	si, err = js.StreamInfo("M")
	must(t, err)
	if si.State.Msgs != 0 || si.Config.Storage != nats.MemoryStorage {
		t.Fatalf("memory stream after restart: %+v", si.State)
	}
	// A deleted stream stays deleted.
	must(t, js.DeleteStream("M"))
	stop(b)
	c := startServer(t, dir, nil)
	_, js = legacy(t, c)
	if _, err := js.StreamInfo("M"); err != nats.ErrStreamNotFound {
		t.Fatalf("deleted stream came back: %v", err)
	}
}

// TestKill9LosesNoAcknowledgedPublish runs the barge binary, publishes
// asynchronously while it is SIGKILLed, then restarts on the same store:
// every publish that was acknowledged must be there.
func TestKill9LosesNoAcknowledgedPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "barge")
	build := exec.Command("go", "build", "-o", bin, "github.com/bargemq/barge/cmd/barge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-p", fmt.Sprint(port), "-m", "0", "-sd", dir)
	stderr, _ := cmd.StderrPipe()
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "barge ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("binary did not start")
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	nc, err := nats.Connect(url, nats.NoReconnect())
	must(t, err)
	defer nc.Close()
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(256))
	must(t, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "CRASH", Subjects: []string{"crash"}})
	must(t, err)

	var mu sync.Mutex
	acked := map[uint64]string{}
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; ; i++ {
			select {
			case <-stopPub:
				return
			default:
			}
			body := fmt.Sprint("msg-", i)
			f, err := js.PublishAsync("crash", []byte(body))
			if err != nil {
				return
			}
			go func() {
				select {
				case ack := <-f.Ok():
					mu.Lock()
					acked[ack.Sequence] = body
					mu.Unlock()
				case <-f.Err():
				}
			}()
		}
	}()
	eventually(t, 30*time.Second, "some acknowledged publishes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 500
	})
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	close(stopPub)
	<-pubDone
	nc.Close()
	mu.Lock()
	want := make(map[uint64]string, len(acked))
	for k, v := range acked {
		want[k] = v
	}
	mu.Unlock()

	b := startServer(t, dir, func(c *app.Config) { c.LogFile = dir + "/restart.log" })
	_, js2 := legacy(t, b)
	si, err := js2.StreamInfo("CRASH")
	must(t, err)
	for seq, body := range want {
		m, err := js2.GetMsg("CRASH", seq)
		if err != nil {
			t.Fatalf("acknowledged seq %d missing after kill -9 (stream %+v): %v", seq, si.State, err)
		}
		if string(m.Data) != body {
			t.Fatalf("seq %d = %q, want %q", seq, m.Data, body)
		}
	}
	t.Logf("%d acknowledged publishes all present; stream has %d", len(want), si.State.Msgs)
}

package jetstream_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/clock/clocktest"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
)

// smallBackup makes stream name with n messages and a durable consumer,
// backs it up into a new directory and returns it.
func smallBackup(t *testing.T, nc *nats.Conn, js nats.JetStreamContext, name string, n int) string {
	t.Helper()
	_, err := js.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}})
	must(t, err)
	for i := range n {
		_, err := js.Publish(fmt.Sprintf("%s.%d", strings.ToLower(name), i%3), bytes.Repeat([]byte{byte(i)}, 1000+i))
		must(t, err)
	}
	_, err = js.AddConsumer(name, &nats.ConsumerConfig{Durable: "D", AckPolicy: nats.AckExplicitPolicy})
	must(t, err)
	dir := t.TempDir()
	_, err = backup(t, nc, name, dir, false, 0)
	must(t, err)
	return dir
}

// noStream checks that stream name does not exist and left no directory.
func noStream(t *testing.T, js nats.JetStreamContext, store, name string) {
	t.Helper()
	if _, err := js.StreamInfo(name); err == nil {
		t.Fatalf("stream %s exists after a failed restore", name)
	}
	ents, _ := os.ReadDir(filepath.Join(store, "jetstream"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name) {
			t.Fatalf("restore left %s behind", e.Name())
		}
	}
}

// TestRestoreRefusals: a restore of an existing stream is refused with
// nats-server's 10130; a corrupt, truncated or foreign archive fails with
// 10062 and a clear reason, and leaves no stream and no directory; the
// same backup then restores fine.
func TestRestoreRefusals(t *testing.T) {
	store := t.TempDir()
	a := startServer(t, store, nil)
	nc, js := legacy(t, a)
	dir := smallBackup(t, nc, js, "R", 300)
	arc, err := os.ReadFile(filepath.Join(dir, "stream.arc.s2"))
	must(t, err)

	_, err = restoreFrom(t, nc, "R", dir, nil)
	wantCode(t, err, 10130)
	must(t, js.DeleteStream("R"))

	corrupt := bytes.Clone(arc)
	for i := len(corrupt) / 2; i < len(corrupt)/2+8; i++ {
		corrupt[i] ^= 0x5a
	}
	_, err = restoreFrom(t, nc, "R", dir, bytes.NewReader(corrupt))
	wantCode(t, err, 10062)
	if !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt archive: %v", err)
	}
	noStream(t, js, store, "R")

	for _, cut := range []int{len(arc) / 2, len(arc) - 1, 10} {
		_, err = restoreFrom(t, nc, "R", dir, bytes.NewReader(arc[:cut]))
		wantCode(t, err, 10062)
		if !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("archive cut at %d: %v", cut, err)
		}
		noStream(t, js, store, "R")
	}

	// An s2 stream that is not NATSARC1 (a tar of nats-server before 2.15).
	var foreign bytes.Buffer
	w := s2.NewWriter(&foreign)
	w.Write(bytes.Repeat([]byte("ustar\x00"), 2000))
	w.Close()
	_, err = restoreFrom(t, nc, "R", dir, &foreign)
	wantCode(t, err, 10062)
	if !strings.Contains(err.Error(), "NATSARC1") {
		t.Fatalf("foreign archive: %v", err)
	}
	noStream(t, js, store, "R")

	info, err := restoreFrom(t, nc, "R", dir, nil)
	must(t, err)
	if info.State.Msgs != 300 || info.State.Consumers != 1 {
		t.Fatalf("restored %+v", info.State)
	}
}

// TestRestoreRequestErrors: the request's own errors, as nats-server
// words them.
func TestRestoreRequestErrors(t *testing.T) {
	a := startServer(t, "", nil)
	nc, _ := legacy(t, a)
	ask := func(subj string, body []byte) *jsapi.APIError {
		t.Helper()
		m, err := nc.Request(subj, body, 5*time.Second)
		must(t, err)
		var r jsapi.APIResponse
		must(t, json.Unmarshal(m.Data, &r))
		if r.Error == nil {
			t.Fatalf("%s %s: no error: %s", subj, body, m.Data)
		}
		return r.Error
	}
	for _, c := range []struct {
		subj, body string
		code       jsapi.ErrCode
	}{
		{jsapi.PreStreamRestore + "X", "", 10003},
		{jsapi.PreStreamRestore + "X", "{", 10025},
		{jsapi.PreStreamRestore + "X", `{"config":{"name":"Y","subjects":["y"]},"state":{}}`, 10056},
		{jsapi.PreStreamRestore + "X", `{"config":{"name":"X","subjects":["x"],"storage":"memory"},"state":{}}`, 10062},
		{jsapi.PreStreamSnapshot + "X", "", 10003},
		{jsapi.PreStreamSnapshot + "X", `{"deliver_subject":"a"}`, 10059},
	} {
		if e := ask(c.subj, []byte(c.body)); e.ErrCode != c.code {
			t.Fatalf("%s %s: %+v, want %d", c.subj, c.body, e, c.code)
		}
	}
	js, _ := nc.JetStream()
	_, err := js.AddStream(&nats.StreamConfig{Name: "X", Subjects: []string{"x"}})
	must(t, err)
	if e := ask(jsapi.PreStreamSnapshot+"X", []byte(`{"deliver_subject":"a.*"}`)); e.ErrCode != 10015 {
		t.Fatalf("wildcard deliver subject: %+v", e)
	}
}

// TestBackupRestoreLikeCLI: the CLI's defaults (window 8 MiB, consumers
// left out as `nats stream backup` does without --consumers): the
// restored stream has the messages and no consumer, and is an ordinary
// stream after a restart. A directory left by a restore cut short by a
// crash is removed at startup.
func TestBackupRestoreLikeCLI(t *testing.T) {
	store := t.TempDir()
	a := startServer(t, store, nil)
	nc, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "C", Subjects: []string{"c.>"}, Compression: nats.S2Compression})
	must(t, err)
	for i := range 500 {
		_, err := js.Publish(fmt.Sprintf("c.%d", i%5), bytes.Repeat([]byte("ab"), 100+i*10))
		must(t, err)
	}
	_, err = js.AddConsumer("C", &nats.ConsumerConfig{Durable: "D", AckPolicy: nats.AckExplicitPolicy})
	must(t, err)
	dir := t.TempDir()
	meta, err := backup(t, nc, "C", dir, true, 0)
	must(t, err)
	if meta.State.Consumers != 0 {
		t.Fatalf("no_consumers snapshot state %+v", meta.State)
	}
	before, err := js.StreamInfo("C")
	must(t, err)
	must(t, js.DeleteStream("C"))
	info, err := restoreFrom(t, nc, "C", dir, nil)
	must(t, err)
	if info.State.Msgs != 500 || info.State.Consumers != 0 || info.State.Bytes != before.State.Bytes {
		t.Fatalf("restored %+v, before %+v", info.State, before.State)
	}
	nc.Close()
	stop(a)

	must(t, os.MkdirAll(filepath.Join(store, "jetstream", "Z.restoring", "msgs"), 0o755))
	a = startServer(t, store, nil)
	_, js = legacy(t, a)
	si, err := js.StreamInfo("C")
	must(t, err)
	if si.State.Msgs != 500 || si.State.LastSeq != 500 {
		t.Fatalf("after restart %+v", si.State)
	}
	m, err := js.GetMsg("C", 500)
	must(t, err)
	if m.Subject != "c.4" || !bytes.Equal(m.Data, bytes.Repeat([]byte("ab"), 100+499*10)) {
		t.Fatalf("seq 500 after restart: %s %d bytes", m.Subject, len(m.Data))
	}
	if _, err := os.Stat(filepath.Join(store, "jetstream", "Z.restoring")); !os.IsNotExist(err) {
		t.Fatalf("leftover restore directory: %v", err)
	}
}

// TestRestoreAbandoned: a client that stops sending half way through a
// restore (gone, or stalled) leaves nothing: once no chunk came for 5 s
// (the engine's clock) the restore ends, its directory is removed, the
// name is free again and a complete upload then restores it.
func TestRestoreAbandoned(t *testing.T) {
	src := startServer(t, "", nil)
	snc, sjs := legacy(t, src)
	dir := smallBackup(t, snc, sjs, "AB", 400)
	arc, err := os.ReadFile(filepath.Join(dir, "stream.arc.s2"))
	must(t, err)
	meta, err := os.ReadFile(filepath.Join(dir, "backup.json"))
	must(t, err)

	clk := clocktest.New(time.Now())
	store := t.TempDir()
	a := startServer(t, store, func(c *app.Config) { c.Clock = clk })
	nc, js := legacy(t, a)
	m, err := nc.Request(jsapi.PreStreamRestore+"AB", meta, 5*time.Second)
	must(t, err)
	var resp jsapi.StreamRestoreResponse
	must(t, json.Unmarshal(m.Data, &resp))
	if resp.Error != nil {
		t.Fatalf("restore: %+v", resp.Error)
	}
	for off := 0; off < len(arc)/2; off += 64 << 10 {
		_, err := nc.Request(resp.DeliverSubject, arc[off:min(off+64<<10, len(arc)/2)], 5*time.Second)
		must(t, err)
	}
	staging := filepath.Join(store, "jetstream", "AB.restoring")
	if _, err := os.Stat(staging); err != nil {
		t.Fatalf("no staging directory during the restore: %v", err)
	}
	eventually(t, 10*time.Second, "the stalled restore to end", func() bool {
		clk.Advance(6 * time.Second)
		_, err := os.Stat(staging)
		return os.IsNotExist(err)
	})
	noStream(t, js, store, "AB")
	info, err := restoreFrom(t, nc, "AB", dir, nil)
	must(t, err)
	if info.State.Msgs != 400 {
		t.Fatalf("restored %+v", info.State)
	}
}

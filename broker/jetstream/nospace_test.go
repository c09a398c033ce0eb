package jetstream_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/internal/diskfull"
	"github.com/bargemq/barge/log"
	"github.com/nats-io/nats.go"
)

func diskPayload(i int) []byte {
	b := bytes.Repeat([]byte{byte('a' + i%26)}, 2000)
	copy(b, fmt.Sprintf("m%06d:", i))
	return b
}

// wantNoSpace fails unless err is the PubAck error of a write that failed
// on a full disk: 10077 naming the cause, without the server's paths.
func wantNoSpace(t *testing.T, err error, dir string) {
	t.Helper()
	wantCode(t, err, 10077)
	var ae *nats.APIError
	errors.As(err, &ae)
	if !strings.Contains(ae.Description, "no space left on device") || strings.Contains(ae.Description, dir) ||
		strings.Contains(ae.Description, "/") {
		t.Fatalf("description %q", ae.Description)
	}
}

// TestFullDiskEndToEnd runs a server whose stream logs sit behind a
// diskfull.FS over the real disk: a publish on a full disk gets an error
// PubAck, publishing resumes by itself once space returns, nothing acked
// is lost across restarts, and purge and stream delete work on a full disk.
func TestFullDiskEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dfs := diskfull.New(log.OSFS{}, -1)
	cfg := func(c *app.Config) { c.StoreFS = dfs; c.SegmentSize = 32 << 10 }
	a := startServer(t, dir, cfg)
	_, js := legacy(t, a)
	if _, err := js.AddStream(&nats.StreamConfig{Name: "D", Subjects: []string{"d.>"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]int{}
	i := 0
	publish := func() (uint64, error) {
		i++
		pa, err := js.Publish(fmt.Sprint("d.", i%3), diskPayload(i))
		if err != nil {
			return 0, err
		}
		acked[pa.Sequence] = i
		return pa.Sequence, nil
	}
	for range 50 {
		if _, err := publish(); err != nil {
			t.Fatal(err)
		}
	}

	dfs.Fill(100)
	_, err := publish()
	wantNoSpace(t, err, dir)
	_, err = publish() // refused at once during the retry backoff
	wantNoSpace(t, err, dir)

	dfs.SetCapacity(-1) // space returns: publishing resumes by itself
	var seq uint64
	eventually(t, 5*time.Second, "a publish after space returned", func() bool {
		seq, err = publish()
		return err == nil
	})
	if seq != 51 {
		t.Fatalf("first publish after the failure got seq %d, want 51 (failed publishes take no sequence)", seq)
	}
	if seq, err := publish(); err != nil || seq != 52 {
		t.Fatalf("next publish: %d %v", seq, err)
	}
	// A publish with Nats-Expected-Last-Sequence sees the rollback too.
	msg := nats.NewMsg("d.0")
	msg.Data = []byte("x")
	msg.Header.Set(nats.ExpectedLastSeqHdr, "52")
	if pa, err := js.PublishMsg(msg); err != nil || pa.Sequence != 53 {
		t.Fatalf("expected-last-sequence after the rollback: %v %v", pa, err)
	}
	acked[53] = 0

	// Nothing acked is lost across a restart.
	stop(a)
	a = startServer(t, dir, cfg)
	_, js = legacy(t, a)
	checkStored(t, js, acked, 53)

	// Purge on a full disk frees space and publishing works at once.
	dfs.Fill(0)
	_, err = publish()
	wantNoSpace(t, err, dir)
	if err := js.PurgeStream("D"); err != nil {
		t.Fatalf("purge on a full disk: %v", err)
	}
	if seq, err := publish(); err != nil || seq != 54 {
		t.Fatalf("publish after the purge: %d %v", seq, err)
	}
	stop(a)
	a = startServer(t, dir, cfg)
	_, js = legacy(t, a)
	si, err := js.StreamInfo("D")
	if err != nil || si.State.Msgs != 1 || si.State.FirstSeq != 54 || si.State.LastSeq != 54 {
		t.Fatalf("after purge and restart: %+v %v", si, err)
	}

	// Deleting the stream on a full disk works and removes its files.
	dfs.Fill(0)
	_, err = publish()
	wantNoSpace(t, err, dir)
	if err := js.DeleteStream("D"); err != nil {
		t.Fatalf("delete on a full disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream", "D")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stream files left after delete: %v", err)
	}
}

// checkStored reads every acked message back by direct get and checks the
// stream holds nothing else.
func checkStored(t *testing.T, js nats.JetStreamContext, acked map[uint64]int, last uint64) {
	t.Helper()
	si, err := js.StreamInfo("D")
	if err != nil {
		t.Fatal(err)
	}
	if si.State.LastSeq != last || si.State.Msgs != uint64(len(acked)) || si.State.NumDeleted != 0 {
		t.Fatalf("state %+v, want %d messages up to %d", si.State, len(acked), last)
	}
	for seq, i := range acked {
		m, err := js.GetMsg("D", seq, nats.DirectGet())
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		if i > 0 && !bytes.Equal(m.Data, diskPayload(i)) {
			t.Fatalf("seq %d: payload differs", seq)
		}
	}
}

// TestFullDiskRealFS is TestFullDiskEndToEnd on a real, small file system,
// opt-in: BARGE_FULLDISK_DIR names an empty directory on a file system of
// a few MiB that the test may fill, e.g.
//
//	mount -t tmpfs -o size=8m tmpfs /mnt/small
//	BARGE_FULLDISK_DIR=/mnt/small go test -run TestFullDiskRealFS ./broker/jetstream
func TestFullDiskRealFS(t *testing.T) {
	root := os.Getenv("BARGE_FULLDISK_DIR")
	if root == "" {
		t.Skip("BARGE_FULLDISK_DIR not set")
	}
	dir, err := os.MkdirTemp(root, "barge-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filler) })
	cfg := func(c *app.Config) { c.LogFile = filepath.Join(t.TempDir(), "barge.log"); c.SegmentSize = 256 << 10 }
	a := startServer(t, dir, cfg)
	_, js := legacy(t, a)
	if _, err := js.AddStream(&nats.StreamConfig{Name: "D", Subjects: []string{"d.>"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]int{}
	i := 0
	publish := func() (uint64, error) {
		i++
		pa, err := js.Publish("d.x", diskPayload(i))
		if err != nil {
			return 0, err
		}
		acked[pa.Sequence] = i
		return pa.Sequence, nil
	}
	fillUp := func() {
		t.Helper()
		for {
			if _, err := publish(); err != nil {
				wantNoSpace(t, err, dir)
				return
			}
		}
	}
	fillUp()
	last := uint64(len(acked))
	os.Remove(filler) // space returns
	var seq uint64
	eventually(t, 5*time.Second, "a publish after space returned", func() bool {
		seq, err = publish()
		return err == nil
	})
	if seq != last+1 {
		t.Fatalf("seq %d after the failure, want %d", seq, last+1)
	}
	fillUp()
	stop(a)
	a = startServer(t, dir, cfg)
	_, js = legacy(t, a)
	checkStored(t, js, acked, uint64(len(acked)))

	fillUp()
	if err := js.PurgeStream("D"); err != nil {
		t.Fatalf("purge on a full disk: %v", err)
	}
	if _, err := publish(); err != nil {
		t.Fatalf("publish after the purge: %v", err)
	}
	fillUp()
	if err := js.DeleteStream("D"); err != nil {
		t.Fatalf("delete on a full disk: %v", err)
	}
}

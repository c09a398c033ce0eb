package jetstream_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/nats-io/nats.go"
)

// The client side of a backup and a restore, as the CLI's jsm.go
// (SnapshotToDirectory, RestoreSnapshotFromDirectory) drives them: a
// snapshot request naming an inbox, the subscription made after the
// response, every chunk acknowledged with an empty reply before it is
// written, the end told by an empty message with a status header; a
// restore request with backup.json's config and state, the archive sent
// in 64 KiB requests each waiting for its reply, then an empty request
// answered with the stream's create response.

// backupMeta is backup.json.
type backupMeta struct {
	Config json.RawMessage   `json:"config"`
	State  jsapi.StreamState `json:"state"`
}

// backup snapshots stream into dir/stream.arc.s2 and dir/backup.json.
// window is the request's window_size (0: the server's default, as the
// CLI sends it).
func backup(t testing.TB, nc *nats.Conn, stream, dir string, noConsumers bool, window int) (*backupMeta, error) {
	t.Helper()
	ib := nc.NewRespInbox()
	req, _ := json.Marshal(map[string]any{"deliver_subject": ib, "no_consumers": noConsumers, "chunk_size": 128 << 10, "window_size": window})
	m, err := nc.Request(jsapi.PreStreamSnapshot+stream, req, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var resp struct {
		jsapi.APIResponse
		Config json.RawMessage   `json:"config"`
		State  jsapi.StreamState `json:"state"`
	}
	must(t, json.Unmarshal(m.Data, &resp))
	if resp.Error != nil {
		return nil, fmt.Errorf("%d: %s", resp.Error.ErrCode, resp.Error.Description)
	}
	f, err := os.Create(filepath.Join(dir, "stream.arc.s2"))
	must(t, err)
	defer f.Close()
	done := make(chan error, 1)
	sub, err := nc.Subscribe(ib, func(m *nats.Msg) {
		if len(m.Data) == 0 {
			if st := m.Header.Get("Status"); st != "" && st != "204" {
				done <- fmt.Errorf("%s %s", st, m.Header.Get("Description"))
				return
			}
			done <- nil
			return
		}
		if m.Reply != "" {
			m.Respond(nil)
		}
		if _, err := f.Write(m.Data); err != nil {
			done <- err
		}
	})
	must(t, err)
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
	case <-time.After(120 * time.Second):
		t.Fatal("snapshot did not end")
	}
	meta := &backupMeta{Config: resp.Config, State: resp.State}
	b, _ := json.Marshal(meta)
	must(t, os.WriteFile(filepath.Join(dir, "backup.json"), b, 0o644))
	return meta, nil
}

// restoreFrom restores stream from dir's backup (its archive read through
// data when not nil) and returns the create response's info.
func restoreFrom(t testing.TB, nc *nats.Conn, stream, dir string, data io.Reader) (*jsapi.StreamInfo, error) {
	t.Helper()
	meta, err := os.ReadFile(filepath.Join(dir, "backup.json"))
	must(t, err)
	m, err := nc.Request(jsapi.PreStreamRestore+stream, meta, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var resp jsapi.StreamRestoreResponse
	must(t, json.Unmarshal(m.Data, &resp))
	if resp.Error != nil {
		return nil, &nats.APIError{ErrorCode: nats.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description}
	}
	if data == nil {
		f, err := os.Open(filepath.Join(dir, "stream.arc.s2"))
		must(t, err)
		defer f.Close()
		data = f
	}
	var chunk [64 << 10]byte
	for {
		n, err := data.Read(chunk[:])
		if err == io.EOF {
			break
		}
		must(t, err)
		r, err := nc.Request(resp.DeliverSubject, chunk[:n], 10*time.Second)
		if err != nil {
			return nil, err
		}
		if len(r.Data) > 0 {
			return nil, apiErr(t, r.Data)
		}
	}
	r, err := nc.Request(resp.DeliverSubject, nil, 60*time.Second)
	if err != nil {
		return nil, err
	}
	var cr jsapi.StreamCreateResponse
	must(t, json.Unmarshal(r.Data, &cr))
	if cr.Type != jsapi.TypeStreamCreateResponse {
		t.Fatalf("final response type %q", cr.Type)
	}
	if cr.Error != nil {
		return nil, &nats.APIError{ErrorCode: nats.ErrorCode(cr.Error.ErrCode), Description: cr.Error.Description}
	}
	return cr.StreamInfo, nil
}

func apiErr(t testing.TB, b []byte) error {
	var r jsapi.APIResponse
	must(t, json.Unmarshal(b, &r))
	if r.Error == nil {
		t.Fatalf("chunk reply %q", b)
	}
	return &nats.APIError{ErrorCode: nats.ErrorCode(r.Error.ErrCode), Description: r.Error.Description}
}

// msgDigest identifies a stored message: subject, time, headers, payload.
func msgDigest(m *nats.RawStreamMsg) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|", m.Subject, m.Time.UnixNano())
	for k, v := range m.Header {
		fmt.Fprintf(h, "%s=%v|", k, v)
	}
	h.Write(m.Data)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestSnapshotRestoreRoundTrip: a stream of many small messages and a few
// large ones, with gaps (an interior and a trailing delete) and a durable
// consumer part way through, backed up and restored under its name after
// a delete: every message comes back at its sequence with its subject,
// time, headers and payload, the deleted ones stay deleted, the consumer
// resumes where it was; the server's memory grows far less than a large
// message while the archive streams out and back in.
func TestSnapshotRestoreRoundTrip(t *testing.T) {
	large := 64 << 20
	if s := os.Getenv("BARGE_SNAPSHOT_LARGE_MB"); s != "" {
		n, _ := strconv.Atoi(s)
		large = n << 20
	}
	switch {
	case testing.Short():
		large = 8 << 20
	case raceDetector && os.Getenv("BARGE_SNAPSHOT_LARGE_MB") == "":
		large = 32 << 20 // the same paths, in half the time
	}
	const small = 2000
	store := t.TempDir()
	a := startServer(t, store, func(c *app.Config) { c.MaxPayload = int64(large + 1<<20) })
	nc, js := legacy(t, a)
	_, err := js.AddStream(&nats.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowDirect: true})
	must(t, err)
	for i := range small {
		m := nats.NewMsg(fmt.Sprintf("s.small.%d", i%7))
		m.Header.Set("K", strconv.Itoa(i))
		m.Data = []byte(strings.Repeat("x", i%300))
		_, err := js.PublishMsgAsync(m)
		must(t, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishes not acknowledged")
	}
	big := make([]byte, large)
	for i := range 2 {
		pattern(big, int64(i)*977)
		_, err := js.Publish("s.big", big)
		must(t, err)
	}
	big = nil
	_, err = js.Publish("s.tail", []byte("last"))
	must(t, err)
	must(t, js.DeleteMsg("S", 3))
	must(t, js.DeleteMsg("S", small+3)) // the trailing message: a gap up to last_seq
	_, err = js.AddConsumer("S", &nats.ConsumerConfig{Durable: "C", AckPolicy: nats.AckExplicitPolicy, FilterSubject: "s.small.>"})
	must(t, err)
	sub, err := js.PullSubscribe("s.small.>", "C", nats.Bind("S", "C"))
	must(t, err)
	msgs, err := sub.Fetch(10, nats.MaxWait(5*time.Second))
	must(t, err)
	for _, m := range msgs[:6] {
		must(t, m.AckSync())
	}
	before, err := js.StreamInfo("S")
	must(t, err)
	cbefore, err := js.ConsumerInfo("S", "C")
	must(t, err)
	digests := map[uint64]string{}
	for seq := before.State.FirstSeq; seq <= before.State.LastSeq; seq++ {
		if seq >= small+1 && seq <= small+2 {
			continue // the large ones: checked by hash below
		}
		m, err := js.GetMsg("S", seq)
		if err != nil {
			continue
		}
		digests[seq] = msgDigest(m)
	}

	// The client's side runs in this process too: it makes garbage of
	// every chunk. A low GC target keeps that garbage from counting, so
	// the figure is what is held.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	resetPeakRSS()
	dir := t.TempDir()
	// A 1 MiB window: what is in flight (in the server's buffers to the
	// client and in the client's) is at most about twice the window; the
	// CLI's default of 8 MiB adds ~14 MiB to the figure.
	meta, err := backup(t, nc, "S", dir, false, 1<<20)
	must(t, err)
	if meta.State.Msgs != before.State.Msgs || meta.State.Consumers != 1 {
		t.Fatalf("snapshot state %+v, stream %+v", meta.State, before.State)
	}
	must(t, js.DeleteStream("S"))
	peakSnap := peakRSS(t)
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	info, err := restoreFrom(t, nc, "S", dir, nil)
	must(t, err)
	peak := max(peakRSS(t), peakSnap)
	t.Logf("snapshot peak %d MiB, restore peak %d MiB", peakSnap>>20, peakRSS(t)>>20)
	fi, _ := os.Stat(filepath.Join(dir, "stream.arc.s2"))
	t.Logf("%d small + 2 × %d MiB: archive %d MiB; RSS base %d MiB, peak %d MiB, growth %d MiB",
		small, large>>20, fi.Size()>>20, base>>20, peak>>20, (peak-base)>>20)
	limit := max(int64(large)/3, 24<<20)
	if raceDetector {
		limit *= 2 // its shadow memory counts in RSS
	}
	if !testing.Short() && peak-base > limit {
		t.Fatalf("server RSS grew by %d MiB for %d MiB messages", (peak-base)>>20, large>>20)
	}

	st := info.State
	if st.Msgs != before.State.Msgs || st.Bytes != before.State.Bytes || st.FirstSeq != before.State.FirstSeq ||
		st.LastSeq != before.State.LastSeq || st.NumDeleted != before.State.NumDeleted ||
		!st.FirstTime.Equal(before.State.FirstTime) || !st.LastTime.Equal(before.State.LastTime) {
		t.Fatalf("restored state %+v\nwant %+v", st, before.State)
	}
	for seq, want := range digests {
		m, err := js.GetMsg("S", seq)
		must(t, err)
		if got := msgDigest(m); got != want {
			t.Fatalf("seq %d differs after restore", seq)
		}
	}
	for _, seq := range []uint64{3, small + 3} {
		if _, err := js.GetMsg("S", seq); !errors.Is(err, nats.ErrMsgNotFound) {
			t.Fatalf("deleted seq %d: %v", seq, err)
		}
	}
	want := make([]byte, large)
	inbox := nc.NewInbox()
	getSub, err := nc.SubscribeSync(inbox)
	must(t, err)
	getSub.SetPendingLimits(-1, -1) // a reply larger than the default 64 MiB
	for i := range 2 {
		must(t, nc.PublishRequest("$JS.API.DIRECT.GET.S", inbox, []byte(fmt.Sprintf(`{"seq":%d}`, small+1+i))))
		m, err := getSub.NextMsg(60 * time.Second)
		must(t, err)
		m.Subject = m.Header.Get("Nats-Subject")
		pattern(want, int64(i)*977)
		if !bytes.Equal(m.Data, want) || m.Subject != "s.big" {
			t.Fatalf("large message %d differs after restore", i)
		}
	}
	want = nil
	cafter, err := js.ConsumerInfo("S", "C")
	must(t, err)
	// The last delivery and ack times have no place in nats-server's
	// consumer state: they are not carried.
	if cafter.Delivered.Consumer != cbefore.Delivered.Consumer || cafter.Delivered.Stream != cbefore.Delivered.Stream ||
		cafter.AckFloor.Consumer != cbefore.AckFloor.Consumer ||
		cafter.AckFloor.Stream != cbefore.AckFloor.Stream || cafter.NumAckPending != cbefore.NumAckPending ||
		cafter.NumPending != cbefore.NumPending {
		t.Fatalf("consumer after restore %+v %+v %d %d\nbefore %+v %+v %d %d", cafter.Delivered, cafter.AckFloor,
			cafter.NumAckPending, cafter.NumPending, cbefore.Delivered, cbefore.AckFloor, cbefore.NumAckPending, cbefore.NumPending)
	}
	// The restored consumer goes on from where it was.
	sub, err = js.PullSubscribe("s.small.>", "C", nats.Bind("S", "C"))
	must(t, err)
	next, err := sub.Fetch(1, nats.MaxWait(5*time.Second))
	must(t, err)
	if md, _ := next[0].Metadata(); md.Sequence.Stream != cbefore.Delivered.Stream+1 && md.NumDelivered < 2 {
		t.Fatalf("next delivery after restore: %+v", md)
	}
	// And the restored stream takes new messages after its last sequence.
	ack, err := js.Publish("s.new", []byte("n"))
	must(t, err)
	if ack.Sequence != before.State.LastSeq+1 {
		t.Fatalf("new message at %d, want %d", ack.Sequence, before.State.LastSeq+1)
	}
	// No staging directory is left behind.
	if ents, _ := os.ReadDir(filepath.Join(store, "jetstream")); len(ents) != 1 || ents[0].Name() != "S" {
		t.Fatalf("store dir holds %v", ents)
	}
}

package jetstream_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
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

	"github.com/bargemq/barge/clock/clocktest"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// batchAck is a batch message's reply: empty (staged), a PubAck, or an
// error.
type batchAck struct {
	empty  bool
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Batch  string `json:"batch"`
	Count  uint64 `json:"count"`
	Error  *struct {
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

func (a batchAck) code() int {
	if a.Error == nil {
		return 0
	}
	return a.Error.ErrCode
}

// batchPub publishes one batch message (seq 0: no Nats-Batch-Sequence;
// commit "": none) as a request and returns the reply.
func batchPub(t *testing.T, nc *nats.Conn, subj, id string, seq int, commit string, data []byte, hdr ...string) batchAck {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = data
	m.Header.Set("Nats-Batch-Id", id)
	if seq > 0 {
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(seq))
	}
	if commit != "" {
		m.Header.Set("Nats-Batch-Commit", commit)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := nc.RequestMsg(m, 10*time.Second)
	if err != nil {
		t.Fatalf("batch %s seq %d: %v", id, seq, err)
	}
	if len(r.Data) == 0 {
		return batchAck{empty: true}
	}
	var a batchAck
	if err := json.Unmarshal(r.Data, &a); err != nil {
		t.Fatalf("reply %q: %v", r.Data, err)
	}
	return a
}

func atomicStream(t *testing.T, nc *nats.Conn, name string, storage jetstream.StorageType) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(nc)
	must(t, err)
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"},
		Storage: storage, AllowAtomicPublish: true, AllowDirect: true, AllowRollup: true, Duplicates: time.Minute})
	must(t, err)
	return s
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(context.Background())
	must(t, err)
	return info.State.Msgs
}

// TestAtomicBatchCommit: staged messages get an empty reply and are not
// visible; the commit ("1", and "eob" which is not stored) stores the
// whole batch at once with the batch headers, the last message marked
// committed, and answers {"stream","seq","batch","count"}. File and memory
// streams.
func TestAtomicBatchCommit(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	for _, storage := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		name := "AB" + storage.String()
		s := atomicStream(t, nc, name, storage)
		for i := 1; i <= 2; i++ {
			if r := batchPub(t, nc, name+".a", "b1", i, "", []byte("m"+strconv.Itoa(i))); !r.empty {
				t.Fatalf("%s: staged message %d answered %+v", name, i, r)
			}
		}
		if n := streamMsgs(t, s); n != 0 {
			t.Fatalf("%s: %d messages visible before the commit", name, n)
		}
		if _, err := s.GetMsg(context.Background(), 1); err == nil {
			t.Fatalf("%s: staged message readable", name)
		}
		r := batchPub(t, nc, name+".b", "b1", 3, "1", []byte("m3"))
		if r.code() != 0 || r.Stream != name || r.Seq != 3 || r.Batch != "b1" || r.Count != 3 {
			t.Fatalf("%s: commit ack %+v", name, r)
		}
		if n := streamMsgs(t, s); n != 3 {
			t.Fatalf("%s: %d messages after the commit", name, n)
		}
		for seq := uint64(1); seq <= 3; seq++ {
			m, err := s.GetMsg(context.Background(), seq)
			must(t, err)
			if string(m.Data) != "m"+strconv.FormatUint(seq, 10) || m.Header.Get("Nats-Batch-Id") != "b1" ||
				m.Header.Get("Nats-Batch-Sequence") != strconv.FormatUint(seq, 10) {
				t.Fatalf("%s: message %d: %q %v", name, seq, m.Data, m.Header)
			}
			if c := m.Header.Get("Nats-Batch-Commit"); (seq == 3) != (c == "1") {
				t.Fatalf("%s: message %d commit header %q", name, seq, c)
			}
		}
		// "eob": the end-of-batch message commits and is not stored.
		batchPub(t, nc, name+".a", "b2", 1, "", []byte("e1"))
		batchPub(t, nc, name+".a", "b2", 2, "", []byte("e2"))
		r = batchPub(t, nc, name+".a", "b2", 3, "eob", nil)
		if r.code() != 0 || r.Seq != 5 || r.Batch != "b2" || r.Count != 2 {
			t.Fatalf("%s: eob ack %+v", name, r)
		}
		m, err := s.GetMsg(context.Background(), 5)
		must(t, err)
		if string(m.Data) != "e2" || m.Header.Get("Nats-Batch-Commit") != "1" {
			t.Fatalf("%s: eob-committed last message %q %v", name, m.Data, m.Header)
		}
		if n := streamMsgs(t, s); n != 5 {
			t.Fatalf("%s: %d messages after the eob batch", name, n)
		}
	}
}

// TestAtomicBatchErrors: nats-server's codes for every malformed or
// refused batch, and a refused batch stores nothing.
func TestAtomicBatchErrors(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	s := atomicStream(t, nc, "AE", jetstream.FileStorage)
	data := []byte("x")
	want := func(r batchAck, code int, desc string) {
		t.Helper()
		if r.code() != code || (desc != "" && !strings.Contains(r.Error.Description, desc)) {
			t.Fatalf("got %+v, want %d %q", r, code, desc)
		}
	}
	want(batchPub(t, nc, "AE.a", "noseq", 0, "", data), 10175, "sequence is missing")
	want(batchPub(t, nc, "AE.a", strings.Repeat("i", 65), 1, "", data), 10179, "batch ID is invalid")
	want(batchPub(t, nc, "AE.a", "late", 2, "", data), 10176, "incomplete")
	want(batchPub(t, nc, "AE.a", "huge", 1001, "1", data), 10199, "too large: 1000")
	want(batchPub(t, nc, "AE.a", "badc", 1, "yes", data), 10200, "commit is invalid")
	want(batchPub(t, nc, "AE.a", "eob1", 1, "eob", nil), 10176, "incomplete")
	// A gap drops the batch: the missing message comes too late.
	batchPub(t, nc, "AE.a", "gap", 1, "", data)
	want(batchPub(t, nc, "AE.a", "gap", 3, "1", data), 10176, "incomplete")
	want(batchPub(t, nc, "AE.a", "gap", 2, "1", data), 10176, "incomplete")
	// Refused at the commit by the rules: the whole batch is refused.
	batchPub(t, nc, "AE.a", "elm", 1, "", data)
	want(batchPub(t, nc, "AE.a", "elm", 2, "1", data, "Nats-Expected-Last-Msg-Id", "x"), 10177, "Nats-Expected-Last-Msg-Id")
	batchPub(t, nc, "AE.a", "dup", 1, "", data, "Nats-Msg-Id", "same")
	want(batchPub(t, nc, "AE.a", "dup", 2, "1", data, "Nats-Msg-Id", "same"), 10201, "duplicate message id")
	batchPub(t, nc, "AE.a", "rall", 1, "", data)
	want(batchPub(t, nc, "AE.a", "rall", 2, "1", data, "Nats-Rollup", "all"), 10111, "batch rollup all invalid")
	batchPub(t, nc, "AE.a", "els", 1, "", data)
	want(batchPub(t, nc, "AE.a", "els", 2, "1", data, "Nats-Expected-Last-Sequence", "0"), 10164, "")
	if n := streamMsgs(t, s); n != 0 {
		t.Fatalf("%d messages stored by refused batches", n)
	}
	// The stream goes on: a good batch, then its Nats-Msg-Id again in
	// another batch is refused as a duplicate (10201), not acknowledged.
	batchPub(t, nc, "AE.a", "ok", 1, "", data, "Nats-Msg-Id", "m1")
	if r := batchPub(t, nc, "AE.a", "ok", 2, "1", data); r.code() != 0 || r.Seq != 2 || r.Count != 2 {
		t.Fatalf("good batch %+v", r)
	}
	want(batchPub(t, nc, "AE.a", "again", 1, "1", data, "Nats-Msg-Id", "m1"), 10201, "")
	if n := streamMsgs(t, s); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// TestAtomicBatchTimeout: a batch idle for 10 s (the server's clock, moved
// by hand) is abandoned: its commit is incomplete and nothing is stored.
func TestAtomicBatchTimeout(t *testing.T) {
	clk := clocktest.New(time.Now())
	a := startServer(t, "", func(c *app.Config) { c.Clock = clk })
	nc := connect(t, a.ClientURL())
	s := atomicStream(t, nc, "AT", jetstream.FileStorage)
	batchPub(t, nc, "AT.a", "slow", 1, "", []byte("1"))
	clk.Advance(9 * time.Second)
	batchPub(t, nc, "AT.a", "slow", 2, "", []byte("2")) // resets the idle timer
	clk.Advance(9 * time.Second)
	batchPub(t, nc, "AT.a", "slow", 3, "", []byte("3"))
	clk.Advance(11 * time.Second)
	if r := batchPub(t, nc, "AT.a", "slow", 4, "1", []byte("4")); r.code() != 10176 {
		t.Fatalf("commit after the timeout: %+v", r)
	}
	if n := streamMsgs(t, s); n != 0 {
		t.Fatalf("%d messages from an abandoned batch", n)
	}
	if r := batchPub(t, nc, "AT.a", "fresh", 1, "1", []byte("1")); r.code() != 0 || r.Seq != 1 {
		t.Fatalf("batch after an abandoned one: %+v", r)
	}
}

// TestAtomicBatchRestart: a server stopped with a batch staged restarts
// with nothing of it visible (its chunks and messages had no commit), the
// batch is unknown (its commit is incomplete), and the next batch takes
// the first sequence.
func TestAtomicBatchRestart(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, func(c *app.Config) { c.MaxPayload = 8 << 20 })
	nc := connect(t, a.ClientURL())
	atomicStream(t, nc, "AR", jetstream.FileStorage)
	big := make([]byte, 3<<20) // chunk records in the log, no commit record
	pattern(big, 1)
	batchPub(t, nc, "AR.a", "cut", 1, "", []byte("small"))
	batchPub(t, nc, "AR.a", "cut", 2, "", big)
	nc.Close()
	stop(a)

	a = startServer(t, dir, func(c *app.Config) { c.MaxPayload = 8 << 20 })
	nc = connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	s, err := js.Stream(context.Background(), "AR")
	must(t, err)
	if n := streamMsgs(t, s); n != 0 {
		t.Fatalf("%d messages of an uncommitted batch after a restart", n)
	}
	if r := batchPub(t, nc, "AR.a", "cut", 3, "1", nil); r.code() != 10176 {
		t.Fatalf("commit of a batch from before the restart: %+v", r)
	}
	batchPub(t, nc, "AR.a", "next", 1, "", big)
	if r := batchPub(t, nc, "AR.a", "next", 2, "1", []byte("end")); r.code() != 0 || r.Seq != 2 || r.Count != 2 {
		t.Fatalf("batch after the restart: %+v", r)
	}
	m, err := s.GetMsg(context.Background(), 1)
	must(t, err)
	if !bytes.Equal(m.Data, big) {
		t.Fatal("large batch message read back differs")
	}
}

// TestAtomicBatchLargeBounded: a batch of two 64 MiB messages (16 MiB
// under -short) over a raw connection: the server's memory grows far less
// than the batch while it is staged and committed, and both messages read
// back intact.
func TestAtomicBatchLargeBounded(t *testing.T) {
	size := int64(64 << 20)
	if s := os.Getenv("BARGE_LARGE_MB"); s != "" {
		n, _ := strconv.Atoi(s)
		size = int64(n) << 20
	}
	if testing.Short() {
		size = 16 << 20
	}
	a := startServer(t, "", func(c *app.Config) { c.MaxPayload = 2 << 30 })
	nc := connect(t, a.ClientURL())
	atomicStream(t, nc, "AL", jetstream.FileStorage)

	rc := dialRaw(t, a.ClientURL(), 2*time.Minute)
	br, bw := rc.br, rc.bw
	// next returns the next MSG's payload (PINGs answered).
	next := func() string {
		t.Helper()
		for {
			l := rc.line()
			switch {
			case strings.HasPrefix(l, "MSG "):
				f := strings.Fields(l)
				n, _ := strconv.Atoi(f[len(f)-1])
				b := make([]byte, n+2)
				_, err := io.ReadFull(br, b)
				must(t, err)
				return string(b[:n])
			}
		}
	}
	fmt.Fprintf(bw, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB ack 1\r\nPING\r\n")
	must(t, bw.Flush())

	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	resetPeakRSS()
	sums := make([][]byte, 2)
	buf := make([]byte, 256<<10)
	for i := 1; i <= 2; i++ {
		hdr := "NATS/1.0\r\nNats-Batch-Id: big\r\nNats-Batch-Sequence: " + strconv.Itoa(i) + "\r\n"
		if i == 2 {
			hdr += "Nats-Batch-Commit: 1\r\n"
		}
		hdr += "\r\n"
		fmt.Fprintf(bw, "HPUB AL.big ack %d %d\r\n%s", len(hdr), int64(len(hdr))+size, hdr)
		h := sha256.New()
		for off := int64(0); off < size; off += int64(len(buf)) {
			n := min(int64(len(buf)), size-off)
			pattern(buf[:n], off+int64(i))
			h.Write(buf[:n])
			_, err := bw.Write(buf[:n])
			must(t, err)
		}
		fmt.Fprintf(bw, "\r\n")
		must(t, bw.Flush())
		sums[i-1] = h.Sum(nil)
		reply := next()
		if i == 1 && reply != "" {
			t.Fatalf("staged reply %q", reply)
		}
		if i == 2 && reply != `{"stream":"AL","seq":2,"batch":"big","count":2}` {
			t.Fatalf("commit reply %q", reply)
		}
	}
	growth := peakRSS(t) - base
	t.Logf("batch of 2 x %d MiB: RSS growth %d MiB", size>>20, growth>>20)
	if growth > size/2 && growth > 48<<20 {
		t.Fatalf("server RSS grew by %d MiB for a batch of 2 x %d MiB", growth>>20, size>>20)
	}
	// Read both back with direct gets, hashing as they stream.
	fmt.Fprintf(bw, "SUB get 2\r\n")
	for seq := 1; seq <= 2; seq++ {
		body := fmt.Sprintf(`{"seq":%d}`, seq)
		fmt.Fprintf(bw, "PUB $JS.API.DIRECT.GET.AL get %d\r\n%s\r\n", len(body), body)
		must(t, bw.Flush())
		l := rc.line()
		for !strings.HasPrefix(l, "HMSG ") {
			l = rc.line()
		}
		_, sum, n := rc.hmsg(l)
		if n != size || !bytes.Equal(sum, sums[seq-1]) {
			t.Fatalf("message %d read back differs (%d bytes)", seq, n)
		}
	}
}

// TestAtomicBatchTornCommit: a crash that tore the commit's write (the
// segment cut inside the batch's last record) restarts with none of the
// batch: the prefix that survived has no commit message and is removed.
func TestAtomicBatchTornCommit(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir, nil)
	nc := connect(t, a.ClientURL())
	atomicStream(t, nc, "AC", jetstream.FileStorage)
	batchPub(t, nc, "AC.a", "keep", 1, "1", []byte("kept"))
	for i := 1; i <= 3; i++ {
		commit := ""
		if i == 3 {
			commit = "1"
		}
		batchPub(t, nc, "AC.a", "torn", i, commit, []byte("payload-"+strconv.Itoa(i)))
	}
	nc.Close()
	stop(a)
	segs, err := filepath.Glob(filepath.Join(dir, "jetstream", "AC", "msgs", "*"))
	must(t, err)
	var last string
	for _, p := range segs {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && strings.HasSuffix(p, ".seg") {
			last = p
		}
	}
	if last == "" {
		t.Fatalf("no segment among %v", segs)
	}
	fi, err := os.Stat(last)
	must(t, err)
	must(t, os.Truncate(last, fi.Size()-5)) // inside the last record
	for _, p := range segs {
		if !strings.HasSuffix(p, ".seg") {
			os.Remove(p) // index files: make recovery read the segment
		}
	}

	a = startServer(t, dir, nil)
	nc = connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	s, err := js.Stream(context.Background(), "AC")
	must(t, err)
	if n := streamMsgs(t, s); n != 1 {
		t.Fatalf("%d messages after a torn commit, want the 1 of the committed batch", n)
	}
	m, err := s.GetMsg(context.Background(), 1)
	must(t, err)
	if string(m.Data) != "kept" {
		t.Fatalf("message 1 %q", m.Data)
	}
}

// TestAtomicBatchDiscardNew: a batch that would pass max_msgs under
// discard new is refused whole (10077), one that fits is stored.
func TestAtomicBatchDiscardNew(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	js, err := jetstream.New(nc)
	must(t, err)
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "AD", Subjects: []string{"AD.>"},
		AllowAtomicPublish: true, MaxMsgs: 2, Discard: jetstream.DiscardNew})
	must(t, err)
	batchPub(t, nc, "AD.a", "big", 1, "", []byte("1"))
	batchPub(t, nc, "AD.a", "big", 2, "", []byte("2"))
	if r := batchPub(t, nc, "AD.a", "big", 3, "1", []byte("3")); r.code() != 10077 || !strings.Contains(r.Error.Description, "maximum messages exceeded") {
		t.Fatalf("batch over max_msgs: %+v", r)
	}
	if n := streamMsgs(t, s); n != 0 {
		t.Fatalf("%d messages from a refused batch", n)
	}
	batchPub(t, nc, "AD.a", "fits", 1, "", []byte("1"))
	if r := batchPub(t, nc, "AD.a", "fits", 2, "1", []byte("2")); r.code() != 0 || r.Count != 2 {
		t.Fatalf("batch within max_msgs: %+v", r)
	}
}

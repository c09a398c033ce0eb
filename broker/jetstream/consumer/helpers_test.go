package consumer

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/internal/synctime"
	"github.com/bargemq/barge/log"
)

// testStream is a Stream over a real log.
type testStream struct {
	name string
	l    *log.Log
	mu   struct {
		sync.Mutex
		cfg jsapi.StreamConfig
	}
}

func (s *testStream) Name() string       { return s.name }
func (s *testStream) Reader() log.Reader { return s.l }
func (s *testStream) Remove(seq uint64) error {
	err := s.l.Delete(seq)
	if errors.Is(err, log.ErrDeleted) || errors.Is(err, log.ErrNotFound) {
		return nil
	}
	return err
}
func (s *testStream) Config() jsapi.StreamConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.cfg
}

// tenv is one stream with its consumer set on a real broker.Server, run
// inside a synctest bubble: the system clock is the bubble's fake clock and
// synctest.Wait lets every consumer loop settle.
type tenv struct {
	t    *testing.T
	srv  *broker.Server
	st   *testStream
	set  *Set
	dir  string // consumers dir ("" = memory)
	ldir string
	fs   log.FS     // the log's and the set's file system (nil: the OS)
	logs *logBuffer // what the set logged
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func streamCfg(mod func(*jsapi.StreamConfig)) jsapi.StreamConfig {
	c := jsapi.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 1, Storage: jsapi.FileStorage}
	if mod != nil {
		mod(&c)
	}
	return c
}

// newEnv opens a log in a temp dir and a set over it. Call inside a bubble.
func newEnv(t *testing.T, scfg jsapi.StreamConfig) *tenv {
	t.Helper()
	return newEnvFS(t, scfg, nil, t.TempDir())
}

// newEnvFS is newEnv with the log and the consumer files on fsys, under
// root.
func newEnvFS(t *testing.T, scfg jsapi.StreamConfig, fsys log.FS, root string) *tenv {
	t.Helper()
	e := &tenv{t: t, ldir: root + "/log", dir: root + "/consumers", fs: fsys, logs: &logBuffer{}}
	e.srv = broker.NewServer(broker.Options{})
	e.open(scfg)
	t.Cleanup(func() {
		e.closeAll()
		e.srv.Shutdown()
	})
	return e
}

func (e *tenv) open(scfg jsapi.StreamConfig) {
	e.t.Helper()
	st := log.MemoryStorage
	if scfg.Storage == jsapi.FileStorage {
		st = log.FileStorage
	}
	l, err := log.Open(e.ldir, log.Config{Storage: st}, log.Options{FS: e.fs})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = &testStream{name: scfg.Name, l: l}
	e.st.mu.cfg = scfg
	lg := slog.New(slog.NewTextHandler(e.logs, nil))
	e.set, err = NewSet(Env{Server: e.srv.GlobalAccount(), Clock: broker.SystemClock{}, FS: e.fs, Logger: lg}, e.st, e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
}

// restart closes the set and the log and opens both again.
func (e *tenv) restart() {
	e.t.Helper()
	scfg := e.st.Config()
	e.closeAll()
	e.open(scfg)
}

func (e *tenv) closeAll() {
	if e.set != nil {
		e.set.Close()
		e.set = nil
	}
	if e.st != nil {
		_ = e.st.l.Close()
		e.st = nil
	}
}

func (e *tenv) pub(subj, data string) uint64 {
	e.t.Helper()
	seq, _, err := e.st.l.AppendMsg(subj, nil, []byte(data))
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

func (e *tenv) pubHdr(subj, hdr, data string) uint64 {
	e.t.Helper()
	seq, _, err := e.st.l.AppendMsg(subj, []byte(hdr), []byte(data))
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

// create adds a consumer named by cfg.Durable (or cfg.Name; ephemeral when
// both are empty) and fails the test on an error.
func (e *tenv) create(cfg jsapi.ConsumerConfig) *jsapi.ConsumerInfo {
	e.t.Helper()
	in, err := e.tryCreate(cfg, jsapi.ActionCreateOrUpdate)
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return in
}

func (e *tenv) tryCreate(cfg jsapi.ConsumerConfig, action jsapi.ConsumerAction) (*jsapi.ConsumerInfo, *jsapi.APIError) {
	name := cfg.Durable
	if name == "" {
		name = cfg.Name
	}
	return e.set.Create(&jsapi.CreateConsumerRequest{Stream: e.st.name, Config: cfg, Action: action}, name, "")
}

func (e *tenv) info(name string) *jsapi.ConsumerInfo {
	e.t.Helper()
	in, err := e.set.Info(name)
	if err != nil {
		e.t.Fatalf("info %s: %v", name, err)
	}
	return in
}

// next sends a pull request for consumer name to inbox.
func (e *tenv) next(name, inbox string, req jsapi.NextRequest) {
	b, _ := json.Marshal(req)
	e.set.Next(name, []byte(inbox), b)
}

// ack publishes body to the ack subject reply, with ackReply as its own
// reply subject ("" for none).
func (e *tenv) ack(reply, body, ackReply string) {
	var r []byte
	if ackReply != "" {
		r = []byte(ackReply)
	}
	e.srv.Deliver([]byte(reply), r, nil, []byte(body))
}

// rmsg is a received message.
type rmsg struct {
	Subject, Reply string
	Hdr, Data      string
}

// status returns the status code of a header-only status message, 0 for a
// regular message.
func (m rmsg) status() int {
	if m.Hdr == "" || m.Data != "" {
		return 0
	}
	code, _ := codec.HeaderStatus([]byte(m.Hdr))
	return code
}

func (m rmsg) meta(t *testing.T) jsapi.AckReply {
	t.Helper()
	r, err := jsapi.ParseAckReply([]byte(m.Reply))
	if err != nil {
		t.Fatalf("reply %q: %v", m.Reply, err)
	}
	return r
}

// inbox collects what an internal subscription receives.
type inbox struct {
	subject string
	mu      struct {
		sync.Mutex
		msgs []rmsg
	}
}

func (e *tenv) sub(subject string) *inbox {
	e.t.Helper()
	in := &inbox{subject: subject}
	if _, err := e.srv.SubscribeInternal(subject, "", func(m *broker.InternalMsg) {
		in.mu.Lock()
		in.mu.msgs = append(in.mu.msgs, rmsg{string(m.Subject), string(m.Reply), string(m.Hdr), string(m.Data)})
		in.mu.Unlock()
	}); err != nil {
		e.t.Fatal(err)
	}
	return in
}

// take returns and forgets everything received so far, after letting the
// bubble settle.
func (in *inbox) take() []rmsg {
	synctest.Wait()
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.mu.msgs
	in.mu.msgs = nil
	return m
}

// data lists the bodies of regular messages and "<code>" for statuses.
func data(ms []rmsg) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(' ')
		}
		if c := m.status(); c != 0 {
			b.WriteString("<" + itoa3(c) + ">")
			continue
		}
		b.WriteString(m.Data)
	}
	return b.String()
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// run runs f in a synctest bubble.
func run(t *testing.T, f func(t *testing.T)) {
	synctest.Test(t, f)
}

func sleep(d time.Duration) { synctime.Advance(d) }

func synctestWait() { synctest.Wait() }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

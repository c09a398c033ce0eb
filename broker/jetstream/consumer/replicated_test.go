package consumer

import (
	"sync"
	"testing"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// memStore is a Store in memory: what the meta shard keeps for the
// members, here shared by the sets of one test.
type memStore struct {
	mu     sync.Mutex
	defs   map[string]StoredConsumer
	states map[string]StoredConsumer // State and StateCreated only
	puts   int
}

func newMemStore() *memStore {
	return &memStore{defs: make(map[string]StoredConsumer), states: make(map[string]StoredConsumer)}
}

func (m *memStore) PutConfig(name string, created time.Time, cfg jsapi.ConsumerConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.defs[name] = StoredConsumer{Name: name, Created: created, Config: cfg}
	return nil
}

func (m *memStore) PutState(name string, created time.Time, state []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[name] = StoredConsumer{State: append([]byte(nil), state...), StateCreated: created}
	m.puts++
	return nil
}

func (m *memStore) Delete(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.defs, name)
	delete(m.states, name)
	return nil
}

func (m *memStore) Load() ([]StoredConsumer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StoredConsumer
	for name, d := range m.defs {
		if st, ok := m.states[name]; ok {
			d.State, d.StateCreated = st.State, st.StateCreated
		}
		out = append(out, d)
	}
	return out, nil
}

func (m *memStore) def(name string) (StoredConsumer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.defs[name]
	return d, ok
}

func (m *memStore) writes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

func (m *memStore) state(t *testing.T, name string) *savedState {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := decodeState(m.states[name].State)
	if err != nil {
		t.Fatalf("state of %s: %v", name, err)
	}
	return st
}

// TestReplicatedSetLeadership: a set with a Store runs nothing until it is
// made active; a durable's definition and state go to the Store, a double
// ack is answered only once its state is there; made passive, the set
// stops its consumers without writing, and a set made active later (the
// new leader) resumes from the Store: the double-acked message stays acked,
// the others are redelivered after ack wait.
func TestReplicatedSetLeadership(t *testing.T) {
	run(t, func(t *testing.T) {
		e := newEnv(t, streamCfg(nil))
		e.set.Close()
		store := newMemStore()
		set, err := NewSet(Env{Server: e.srv.GlobalAccount(), Clock: broker.SystemClock{}, Store: store}, e.st, e.dir)
		if err != nil {
			t.Fatal(err)
		}
		e.set = set
		for _, d := range []string{"a", "b", "c"} {
			e.pub("s.x", d)
		}
		cfg := jsapi.ConsumerConfig{Durable: "D", AckPolicy: jsapi.AckExplicit, AckWait: 10 * time.Second}
		if _, aerr := e.tryCreate(cfg, jsapi.ActionCreate); aerr == nil || aerr.ErrCode != jsapi.ErrCodeClusterNotLeader {
			t.Fatalf("create on a passive set: %v", aerr)
		}
		if err := set.SetActive(true); err != nil {
			t.Fatal(err)
		}
		e.create(cfg)
		if _, ok := store.def("D"); !ok {
			t.Fatal("definition not in the store")
		}
		in := e.sub("_INBOX.1")
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 3})
		got := in.take()
		if data(got) != "a b c" {
			t.Fatalf("delivered %q", data(got))
		}
		ackIn := e.sub("_INBOX.ack")
		e.ack(got[0].Reply, "+ACK", "_INBOX.ack")
		if len(ackIn.take()) != 1 {
			t.Fatal("no double-ack reply")
		}
		if st := store.state(t, "D"); st.asseq != 1 || len(st.pending) != 2 {
			t.Fatalf("state after the double ack: %+v", st)
		}

		puts := store.writes()
		if err := set.SetActive(false); err != nil {
			t.Fatal(err)
		}
		synctestWait()
		if set.Active() || set.Count() != 0 || store.writes() != puts {
			t.Fatalf("passive set: active %v, %d consumers, %d state writes since", set.Active(), set.Count(), store.writes()-puts)
		}

		// Another member's set takes over (the same stream log here).
		set.Close()
		set2, err := NewSet(Env{Server: e.srv.GlobalAccount(), Clock: broker.SystemClock{}, Store: store}, e.st, e.dir)
		if err != nil {
			t.Fatal(err)
		}
		e.set = set2
		if err := set2.SetActive(true); err != nil {
			t.Fatal(err)
		}
		if in := e.info("D"); in.AckFloor.Stream != 1 || in.NumAckPending != 2 || in.Delivered.Stream != 3 {
			t.Fatalf("resumed: delivered %+v ack floor %+v pending %d", in.Delivered, in.AckFloor, in.NumAckPending)
		}
		sleep(11 * time.Second)
		e.next("D", "_INBOX.1", jsapi.NextRequest{Batch: 3, NoWait: true})
		got = in.take()
		if data(got) != "b c <404>" || got[0].meta(t).Delivered != 2 {
			t.Fatalf("after the takeover: %q", data(got))
		}
	})
}

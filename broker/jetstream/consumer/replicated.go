package consumer

import (
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// Consumers of a replicated stream.
//
// A replicated stream's consumers run on one member, the stream's raft
// leader; the jetstream package tells each member's Set whether it leads
// (SetActive). Durable consumers' definitions and delivery state are kept
// in a Store shared by the members (the cluster's meta shard) instead of
// <stream dir>/consumers: the persister writes the same encoded state it
// would write to a file (state.go), at most every persistGap and at once
// for a double ack, whose reply waits for the write. A member that becomes
// leader loads every durable with its last state and resumes: acks made
// durable (every double ack, plain acks older than one write) are not
// redelivered; deliveries and acks since the last write are, after ack
// wait. A member that stops leading halts its consumers without a last
// write (the new leader owns the state now) and forgets its ephemeral and
// memory-storage consumers, which are leader-local: their clients (an
// ordered consumer, for one) recreate them.

// Store keeps a replicated stream's durable consumers outside the members.
// Methods may block on the network and are safe for concurrent use.
type Store interface {
	// PutConfig records a durable's definition (create or update).
	PutConfig(name string, created time.Time, cfg jsapi.ConsumerConfig) error
	// PutState records a durable's encoded state; created identifies the
	// consumer incarnation it belongs to.
	PutState(name string, created time.Time, state []byte) error
	// Delete removes a durable's definition and state (absent is fine).
	Delete(name string) error
	// Load returns every durable with its last state.
	Load() ([]StoredConsumer, error)
}

// StoredConsumer is one durable as a Store returns it.
type StoredConsumer struct {
	Name    string
	Created time.Time
	Config  jsapi.ConsumerConfig
	// State is the last encoded state written for this incarnation
	// (StateCreated equal to Created); nil when none was.
	State        []byte
	StateCreated time.Time
}

// Active reports whether the set runs its consumers (always, for a stream
// without a Store).
func (s *Set) Active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.active
}

// SetActive starts (active) or stops this member's consumers of a
// replicated stream. Becoming active loads every durable from the Store
// with its last state; an error leaves the set passive (call again).
// Becoming passive halts every consumer without writing its state and
// drops the ephemeral ones. A set without a Store ignores it.
func (s *Set) SetActive(active bool) error {
	if s.store == nil {
		return nil
	}
	s.actMu.Lock()
	defer s.actMu.Unlock()
	if s.Active() == active {
		return nil
	}
	if !active {
		s.deactivate()
		return nil
	}
	stored, err := s.store.Load()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil
	}
	l := s.st.Reader()
	for _, sc := range stored {
		if _, dup := s.mu.consumers[sc.Name]; dup {
			continue
		}
		cfg := sc.Config
		c := newConsumer(s, sc.Name, cfg, sc.Created, true)
		c.mu.Lock()
		c.mu.filters = effectiveFilters(&c.mu.cfg, &s.mu.scfg)
		var saved *savedState
		if sc.State != nil && sc.StateCreated.Equal(sc.Created) {
			saved, err = decodeState(sc.State)
			if err != nil {
				s.log.Error("consumer: replicated state unreadable, starting over", "stream", s.name, "consumer", sc.Name, "err", err)
				saved = nil
			}
		}
		c.resumeLocked(l, saved)
		c.mu.Unlock()
		s.mu.consumers[c.name] = c
		c.start()
	}
	s.mu.active = true
	return nil
}

// deactivate halts every consumer without a last write.
func (s *Set) deactivate() {
	s.mu.Lock()
	cs := s.mu.consumers
	s.mu.consumers = make(map[string]*consumer)
	s.mu.active = false
	s.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		c.mu.discard = true
		c.mu.Unlock()
		c.halt(true)
	}
}

// saveConfig records a durable's definition: meta.json in its directory,
// or the Store.
func (s *Set) saveConfig(c *consumer, cfg jsapi.ConsumerConfig) error {
	if s.store != nil {
		return s.store.PutConfig(c.name, c.created, cfg)
	}
	return writeMeta(s.fs, c.dir, &consumerMeta{Created: c.created.UTC(), Config: cfg})
}

// HandleAck applies an ack ($JS.ACK.<stream>.…) or a flow-control reply
// ($JS.FC.<stream>.…) that another member forwarded here; reply is the
// ack's own reply subject. Slices are only read during the call.
func (s *Set) HandleAck(subject, reply, body []byte) {
	m := &broker.InternalMsg{Subject: subject, Reply: reply, Data: body}
	if len(subject) >= len(jsapi.FlowControlPrefix) && string(subject[:len(jsapi.FlowControlPrefix)]) == jsapi.FlowControlPrefix {
		s.onFlowControl(m)
		return
	}
	s.onAck(m)
}

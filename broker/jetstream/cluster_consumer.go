package jetstream

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
)

// Consumers of replicated streams.
//
// A replicated stream's durable consumers are defined in the meta shard,
// written by the stream's leader when the consumer is created, updated or
// deleted (through any node: forward.go brings the request to the leader):
//
//	consumer/<stream>/<name>  {"name", "created", "config"}
//	cstate/<stream>/<name>    {"name", "created", "state"}: the encoded
//	                          delivery state (consumer/state.go), written
//	                          at most every 20 ms when it changed and before
//	                          a double ack is answered
//
// Each member's consumer.Set of the stream runs them only while the member
// leads the stream's raft shard: a loop here compares every replicated
// stream's leader with this node every leaderPoll and starts (loading
// definitions and state from the meta shard) or stops the set's consumers.
// A consumer request reaching the leader before the loop noticed starts
// them at once. Members do not keep the definitions between leaderships:
// the meta shard is the one copy. "created" in cstate ties a state to one
// incarnation of a consumer name, so a state written late for a deleted
// consumer is not loaded into a new one of the same name.

const (
	consumerKeyPrefix = "consumer/"
	cstateKeyPrefix   = "cstate/"
	// leaderPoll is how often members compare the stream leaders with
	// themselves.
	leaderPoll = 50 * time.Millisecond
	// metaWriteTimeout bounds one consumer definition write or read of
	// the meta shard.
	metaWriteTimeout = 10 * time.Second
	// stateWriteTimeout bounds one state write: a failed one is retried
	// with the next change, and a leader shutting down without a meta
	// quorum must not hang on it.
	stateWriteTimeout = 2 * time.Second
)

// consumerDef is consumer/<stream>/<name>.
type consumerDef struct {
	Name    string               `json:"name"`
	Created time.Time            `json:"created"`
	Config  jsapi.ConsumerConfig `json:"config"`
}

// consumerState is cstate/<stream>/<name>.
type consumerState struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	State   []byte    `json:"state"`
}

// consumerStore is a replicated stream's consumer.Store over the meta
// shard.
type consumerStore struct {
	e      *Engine
	stream string
}

var _ consumer.Store = (*consumerStore)(nil)

func (s *consumerStore) cluster() (Cluster, error) {
	cs := s.e.cl.Load()
	if cs == nil {
		return nil, errorString("jetstream: not clustered")
	}
	return cs.c, nil
}

// PutConfig writes consumer/<stream>/<name>.
func (s *consumerStore) PutConfig(name string, created time.Time, cfg jsapi.ConsumerConfig) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	b, err := json.Marshal(&consumerDef{Name: name, Created: created.UTC(), Config: cfg})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), metaWriteTimeout)
	defer cancel()
	return c.MetaPut(ctx, consumerKeyPrefix+s.stream+"/"+name, b, false)
}

// errNotStreamLeader refuses a state write of a member that no longer
// leads the stream: the new leader owns the state.
var errNotStreamLeader = errorString("jetstream: not the stream leader")

// PutState writes cstate/<stream>/<name>, unless this member's replica
// knows another leader (a deposed leader's late write would go back in
// time; the window left is a write already in flight when it learns).
func (s *consumerStore) PutState(name string, created time.Time, state []byte) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	if st := s.e.lookup(s.stream); st != nil && st.repl != nil {
		if leader, ok := st.repl.Leader(); ok && leader != c.NodeID() {
			return errNotStreamLeader
		}
	}
	b, err := json.Marshal(&consumerState{Name: name, Created: created.UTC(), State: state})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), stateWriteTimeout)
	defer cancel()
	return c.MetaPut(ctx, cstateKeyPrefix+s.stream+"/"+name, b, false)
}

// Delete removes both keys of consumer name.
func (s *consumerStore) Delete(name string) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), metaWriteTimeout)
	defer cancel()
	if err := c.MetaDelete(ctx, consumerKeyPrefix+s.stream+"/"+name); err != nil {
		return err
	}
	return c.MetaDelete(ctx, cstateKeyPrefix+s.stream+"/"+name)
}

// Load reads every consumer of the stream with its last state; it gives
// up when the engine closes.
func (s *consumerStore) Load() ([]consumer.StoredConsumer, error) {
	c, err := s.cluster()
	if err != nil {
		return nil, err
	}
	parent := context.Background()
	if cs := s.e.cl.Load(); cs != nil && cs.fw != nil {
		parent = cs.fw.ctx
	}
	ctx, cancel := context.WithTimeout(parent, metaWriteTimeout)
	defer cancel()
	defs, err := c.MetaList(ctx, consumerKeyPrefix+s.stream+"/")
	if err != nil {
		return nil, err
	}
	states, err := c.MetaList(ctx, cstateKeyPrefix+s.stream+"/")
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*consumerState, len(states))
	for _, v := range states {
		var st consumerState
		if json.Unmarshal(v, &st) == nil {
			byName[st.Name] = &st
		}
	}
	out := make([]consumer.StoredConsumer, 0, len(defs))
	for _, v := range defs {
		var d consumerDef
		if json.Unmarshal(v, &d) != nil || d.Name == "" {
			continue
		}
		sc := consumer.StoredConsumer{Name: d.Name, Created: d.Created, Config: d.Config}
		if st := byName[d.Name]; st != nil {
			sc.State, sc.StateCreated = st.State, st.Created
		}
		out = append(out, sc)
	}
	return out, nil
}

// consumerStoreFor is the Store of a replicated stream's consumer set, nil
// when the engine is not clustered.
func (e *Engine) consumerStoreFor(stream string) consumer.Store {
	if e.cl.Load() == nil {
		return nil
	}
	return &consumerStore{e: e, stream: stream}
}

// deleteConsumerKeys removes the consumer definitions and states of a
// deleted replicated stream from the meta shard.
func (e *Engine) deleteConsumerKeys(stream string) {
	s := &consumerStore{e: e, stream: stream}
	list, err := s.Load()
	if err != nil {
		e.log.Error("jetstream: consumer definitions not removed", "stream", stream, "err", err)
		return
	}
	for _, sc := range list {
		if err := s.Delete(sc.Name); err != nil {
			e.log.Error("jetstream: consumer definition not removed", "stream", stream, "consumer", sc.Name, "err", err)
		}
	}
}

// leaderLoop starts and stops replicated streams' consumers as this node
// gains and loses their leadership, until ctx ends.
func (e *Engine) leaderLoop(ctx context.Context, fw *forwarder) {
	defer close(fw.done)
	tick := time.NewTicker(leaderPoll)
	defer tick.Stop()
	for {
		for _, st := range e.sortedStreams() {
			if st.repl == nil || st.restoring.Load() {
				continue
			}
			leader, ok := st.repl.Leader()
			if !ok {
				continue // an election: keep what runs until it ends
			}
			if err := st.cons.SetActive(leader == fw.self); err != nil {
				e.log.Warn("jetstream: consumers not started on the new leader", "stream", st.name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// activateConsumers starts st's consumers on this node, which leads it,
// before a consumer request is served (the loop may not have noticed yet).
func (e *Engine) activateConsumers(st *stream) {
	if st.restoring.Load() {
		return
	}
	if err := st.cons.SetActive(true); err != nil {
		e.log.Warn("jetstream: consumers not started on the leader", "stream", st.name, "err", err)
	}
}

package consumer

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Consumers in a stream snapshot ($JS.API.STREAM.SNAPSHOT): each durable
// consumer's config and delivery state in nats-server's form
// (jsapi.SnapshotConsumerState), so that a barge snapshot restores into
// nats-server and the reverse. The mapping from barge's state:
//
//	delivered     {last consumer seq, next stream seq - 1}
//	ack_floor     the ack floor as kept
//	pending       sseq -> {consumer seq, last delivery (unix ns)}
//	redelivered   sseq -> deliveries - 1, for those delivered more than once
//
// The list of messages that ran out of deliveries (maxdeliver.go) has no
// place in nats-server's form and is not carried: after a restore they are
// neither pending nor redelivered again (they are below the next sequence).
// Ephemeral consumers are left out of a snapshot (they belong to a client
// connection) and skipped on a restore.

// Snapshot returns the durable consumers' configs and states, sorted by
// name.
func (s *Set) Snapshot() []jsapi.SnapshotConsumer {
	cs := s.snapshotConsumers(nil)
	slices.SortFunc(cs, func(a, b *consumer) int { return strings.Compare(a.name, b.name) })
	out := make([]jsapi.SnapshotConsumer, 0, len(cs))
	var snap savedState
	for _, c := range cs {
		if !c.durable {
			continue
		}
		c.mu.Lock()
		cfg := c.mu.cfg
		c.snapshotLocked(&snap)
		c.mu.Unlock()
		cfg.Name = c.name
		out = append(out, jsapi.SnapshotConsumer{Config: &cfg, State: toSnapshotState(&snap)})
	}
	return out
}

func toSnapshotState(st *savedState) *jsapi.SnapshotConsumerState {
	out := &jsapi.SnapshotConsumerState{
		Delivered: jsapi.SequencePair{Consumer: st.dcseq, Stream: st.dsseq},
		AckFloor:  jsapi.SequencePair{Consumer: st.acseq, Stream: st.asseq},
	}
	if len(st.pending) > 0 {
		out.Pending = make(map[uint64]*jsapi.SnapshotPending, len(st.pending))
		for _, p := range st.pending {
			out.Pending[p.sseq] = &jsapi.SnapshotPending{Sequence: p.cseq, Timestamp: p.ts}
			if p.dc > 1 {
				if out.Redelivered == nil {
					out.Redelivered = make(map[uint64]uint64)
				}
				out.Redelivered[p.sseq] = uint64(p.dc - 1)
			}
		}
	}
	return out
}

// fromSnapshotState is the reverse of toSnapshotState. nats-server keeps no
// delivery times for the floors: they are left zero.
func fromSnapshotState(st *jsapi.SnapshotConsumerState) *savedState {
	out := &savedState{
		next:  st.Delivered.Stream + 1,
		dcseq: st.Delivered.Consumer, dsseq: st.Delivered.Stream,
		acseq: st.AckFloor.Consumer, asseq: st.AckFloor.Stream,
	}
	for sseq, p := range st.Pending {
		if p == nil || sseq == 0 {
			continue
		}
		dc := st.Redelivered[sseq] + 1
		out.pending = append(out.pending, pendingRec{sseq: sseq, cseq: p.Sequence, ts: p.Timestamp, dc: uint32(min(dc, 1<<32-1))})
	}
	slices.SortFunc(out.pending, func(a, b pendingRec) int {
		switch {
		case a.sseq < b.sseq:
			return -1
		case a.sseq > b.sseq:
			return 1
		}
		return 0
	})
	return out
}

// WriteRestored writes a consumer from a snapshot into setDir (the
// consumers directory of a stream being restored, not yet opened), as
// Create and the persister would have: NewSet then loads it with its
// state. name is the archive's; the config is checked against the
// stream's as a create's is. An ephemeral consumer is skipped (false).
func WriteRestored(fsys log.FS, setDir string, scfg *jsapi.StreamConfig, name string, sc *jsapi.SnapshotConsumer, created time.Time) (bool, error) {
	cfg, state, ok, err := Restored(scfg, name, sc)
	if !ok || err != nil {
		return false, err
	}
	dir := filepath.Join(setDir, name)
	if err := writeMeta(fsys, dir, &consumerMeta{Created: created, Config: cfg}); err != nil {
		return false, err
	}
	return true, log.WriteFileAtomic(fsys, dir, stateFile, state)
}

// Restored checks a consumer from a snapshot as WriteRestored does and
// returns its config and its encoded state (what a Store's PutState
// takes), for a replicated stream's restore; an ephemeral consumer is
// skipped (false).
func Restored(scfg *jsapi.StreamConfig, name string, sc *jsapi.SnapshotConsumer) (jsapi.ConsumerConfig, []byte, bool, error) {
	if sc.Config == nil || sc.State == nil {
		return jsapi.ConsumerConfig{}, nil, false, fmt.Errorf("consumer %q: config or state missing", name)
	}
	cfg := *sc.Config
	if cfg.Durable == "" {
		return jsapi.ConsumerConfig{}, nil, false, nil
	}
	if name == "" || name != cfg.Durable || strings.ContainsAny(name, "./\\*> \t") {
		return jsapi.ConsumerConfig{}, nil, false, fmt.Errorf("consumer %q: name does not match its durable name %q", name, cfg.Durable)
	}
	cfg.Name = name
	applyDefaults(&cfg, scfg)
	if apiErr := checkConfig(&cfg, scfg); apiErr != nil {
		return jsapi.ConsumerConfig{}, nil, false, fmt.Errorf("consumer %q: %s", name, apiErr.Description)
	}
	return cfg, appendState(nil, fromSnapshotState(sc.State)), true, nil
}

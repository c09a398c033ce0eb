package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Restores into a cluster (restore.go). The upload is built and checked
// in <stream>.restoring/ on the node that takes it, exactly as an R1
// restore, so a corrupt, truncated or abandoned upload never reaches the
// cluster. Then the stream is created through the meta shard as a create
// does, with three differences while its messages are written:
//
//   - its definition is marked restoring and has no subjects, mirror or
//     sources, so nothing published or fed is stored into it;
//   - its replicas start with the limits off and the publish rules in
//     restoring mode (every message stored as it comes: the archive's were
//     decided when first stored), and its consumers do not start;
//   - the node that took the upload is one of its members (placement
//     replaces one member with it when needed).
//
// The messages are then written from the built log through the stream's
// Store with BeginMirror: each one as a raft entry at the archive's
// sequence and timestamp (flagAtSeq), so every replica stores it so, a
// large payload a stored chunk at a time; up to restoreWindow are in raft
// at once. A trailing gap up to the archive's last sequence is a
// placeholder at that sequence, deleted at once. The consumers go into
// the meta shard (consumer/ and cstate/ keys, the state as the R1
// persister encodes it), the real limits and rules through raft
// (Replica.UpdateConfig: every replica switches at one point), and last
// the definition with its subjects and without the mark: each member
// then indexes the subjects and its leader starts the consumers. Any
// error on the way deletes the definition and the consumer keys, as a
// stream delete does, so no node keeps the stream. The mark names the
// node running the restore; if its process ends mid-restore, that node
// removes the definition the same way at its first poll after it starts
// again (a node that never comes back leaves it for STREAM.DELETE).

// restoreWindow is how many messages a replicated restore has in raft at
// once.
const restoreWindow = 64

// restoreReplTimeout bounds the cluster part of a replicated restore.
const restoreReplTimeout = 10 * time.Minute

// restoredConsumer is an archive's durable consumer, kept for the meta
// shard.
type restoredConsumer struct {
	name  string
	cfg   jsapi.ConsumerConfig
	state []byte
}

// restoreRefused is a restore error answered with its own API error.
type restoreRefused struct{ apiErr *jsapi.APIError }

func (r restoreRefused) Error() string { return r.apiErr.Description }

// restoringLogConfig is the log config a restoring replica starts with:
// no limits, and rules that store every message.
func restoringLogConfig(cfg *jsapi.StreamConfig) log.Config {
	lc := logConfig(cfg)
	lc.MaxMsgs, lc.MaxBytes, lc.MaxAge, lc.MaxMsgsPerSubject = 0, 0, 0, 0
	lc.Discard = log.DiscardOld
	lc.FirstSeq = 0
	lc.Rules = ruleConfig{restoring: true}.encode()
	return lc
}

// restorePlaceable refuses a replicated restore the cluster has too few
// servers for.
func (e *Engine) restorePlaceable(replicas int) *jsapi.APIError {
	cs := e.cl.Load()
	if cs == nil {
		return jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	members, err := cs.c.Members(ctx)
	if err != nil {
		return jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail)
	}
	if replicas > len(members) {
		return jsapi.NewAPIError(jsapi.ErrCodeClusterNoPeers, "insufficient resources")
	}
	return nil
}

// commitReplicated turns the built directory into a replicated stream
// (see above) and returns this node's replica of it.
func (rs *restore) commitReplicated() (_ *stream, err error) {
	e := rs.e
	defer e.o.FS.RemoveAll(rs.staging)
	cs := e.cl.Load()
	if cs == nil {
		return nil, errors.New("the server is not clustered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), restoreReplTimeout)
	defer cancel()
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
	members, err := cs.c.Members(mctx)
	mcancel()
	if err != nil {
		return nil, restoreRefused{jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail)}
	}
	if rs.cfg.Replicas > len(members) {
		return nil, restoreRefused{jsapi.NewAPIError(jsapi.ErrCodeClusterNoPeers, "insufficient resources")}
	}
	name := rs.cfg.Name
	created := e.o.Clock.Now().UTC()
	// A shard of its own: a member that has not yet removed the replica
	// of a deleted stream of this name must not take part in the new one.
	sid := shardIDFor(name + "\x00" + created.Format(time.RFC3339Nano))
	place := withSelf(placement(members, rs.cfg.Replicas, sid), members, cs.c.NodeID())
	d := replDef{Config: rs.cfg, Created: created, ShardID: sid, Members: place,
		Restoring: true, RestoringBy: cs.c.NodeID()}
	d.Config.Subjects, d.Config.Mirror, d.Config.Sources = nil, nil, nil // no capture, no feeds
	b, _ := json.Marshal(&d)
	cs.mu.Lock()
	cs.restores[name] = true
	cs.mu.Unlock()
	defer func() {
		cs.mu.Lock()
		delete(cs.restores, name)
		cs.mu.Unlock()
	}()
	if err := cs.c.MetaPut(ctx, streamKeyPrefix+name, b, true); err != nil {
		if err == ErrMetaExists {
			return nil, restoreRefused{jsapi.NewAPIError(jsapi.ErrCodeStreamNameExistRestoreFailed)}
		}
		return nil, fmt.Errorf("meta shard write: %w", err)
	}
	defer func() {
		if err != nil {
			e.undoRestore(cs, name)
		}
	}()
	st := e.waitLocal(ctx, cs, name)
	if st == nil {
		return nil, errors.New("the stream's replica did not start")
	}
	if err := rs.copyInto(ctx, st); err != nil {
		return nil, err
	}
	cst := &consumerStore{e: e, stream: name}
	for _, c := range rs.cons {
		if err := cst.PutConfig(c.name, d.Created, c.cfg); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(&consumerState{Name: c.name, Created: d.Created, State: c.state})
		if err := cs.c.MetaPut(ctx, cstateKeyPrefix+name+"/"+c.name, b, false); err != nil {
			return nil, err
		}
	}
	if err := st.repl.UpdateConfig(ctx, logConfig(&rs.cfg)); err != nil {
		return nil, err
	}
	d.Config, d.Restoring, d.RestoringBy = rs.cfg, false, 0
	b, _ = json.Marshal(&d)
	e.mu.Lock()
	delete(e.mu.reserved, name) // the stream's own registration takes the subjects
	e.mu.Unlock()
	if err := cs.c.MetaPut(ctx, streamKeyPrefix+name, b, false); err != nil {
		return nil, err
	}
	if apiErr := e.applyReplicatedConfig(st, rs.cfg); apiErr != nil {
		return nil, restoreRefused{apiErr}
	}
	st.restoring.Store(false)
	if leader, ok := st.repl.Leader(); ok && leader == cs.c.NodeID() {
		e.activateConsumers(st) // the reply counts them
	}
	return st, nil
}

// withSelf returns place with self among its members: when it is not,
// the member with the highest id gives way.
func withSelf(place, members map[uint64]string, self uint64) map[uint64]string {
	if _, ok := place[self]; ok {
		return place
	}
	var top uint64
	for id := range place {
		top = max(top, id)
	}
	delete(place, top)
	place[self] = members[self]
	return place
}

// undoRestore removes a replicated stream whose restore failed: its
// definition and consumer keys leave the meta shard and this node's
// replica goes at once (the others at their next poll).
func (e *Engine) undoRestore(cs *clusterState, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.c.MetaDelete(ctx, streamKeyPrefix+name); err != nil {
		e.log.Error("jetstream: failed restore not removed from the meta shard", "stream", name, "err", err)
	}
	e.deleteConsumerKeys(name)
	e.syncReplicated(ctx, cs)
}

// dropRestore removes the definition and consumer keys of a restore this
// node no longer runs (its process ended mid-restore); called by the poll
// with cs.mu held.
func (e *Engine) dropRestore(ctx context.Context, cs *clusterState, name string) {
	if err := cs.c.MetaDelete(ctx, streamKeyPrefix+name); err != nil {
		e.log.Error("jetstream: interrupted restore not removed", "stream", name, "err", err)
		return
	}
	e.deleteConsumerKeys(name)
	e.log.Warn("jetstream: interrupted restore removed", "stream", name)
}

// copyInto writes the built log's messages into st's Store at their
// sequences and timestamps, and waits until this replica applied them.
func (rs *restore) copyInto(ctx context.Context, st *stream) (err error) {
	e := rs.e
	l, err := log.Open(filepath.Join(rs.staging, msgsDir), log.Config{}, log.Options{
		Clock: e.o.Clock, Logger: e.log.With("stream", rs.cfg.Name, "restore", true),
		SegmentSize: e.o.SegmentSize, ChunkSize: e.o.ChunkSize, VerifyRate: -1, FS: e.o.FS,
	})
	if err != nil {
		return err
	}
	defer l.Close()
	state := l.State()
	results := make(chan error, restoreWindow)
	inflight := 0
	// wait takes one result; drain all, keeping the first error.
	wait := func() error {
		select {
		case err := <-results:
			inflight--
			return err
		case <-ctx.Done():
			return errors.New("restore timed out writing to the replicas")
		}
	}
	defer func() {
		for inflight > 0 {
			if werr := wait(); err == nil {
				err = werr
			}
			if ctx.Err() != nil {
				break
			}
		}
	}()
	put := func(subj string, hdr []byte, size int64, seq uint64, ts int64, body func(Appending) error) error {
		if inflight == restoreWindow {
			if err := wait(); err != nil {
				return err
			}
		}
		a, err := st.store.BeginMirror(subj, hdr, size, seq, ts)
		if err != nil {
			return err
		}
		if err := body(a); err != nil {
			a.Abort()
			return err
		}
		inflight++
		if _, err := a.End(func(got uint64, _ int64, err error) {
			if errors.Is(err, log.ErrSeqExists) {
				// Nothing else writes the stream: a proposal raft
				// retried after it was applied (as a mirror's copy,
				// feed.go). The counts are checked at the end.
				err, got = nil, seq
			}
			if err == nil && got != seq {
				err = fmt.Errorf("message sequence %d stored as %d", seq, got)
			}
			results <- err
		}); err != nil {
			inflight--
			return err
		}
		return nil
	}
	var sm log.StoredMsg
	var small []byte
	piece := make([]byte, snapshotReadPiece)
	last := uint64(0)
	for seq := state.FirstSeq; state.Msgs > 0 && seq <= state.LastSeq; seq++ {
		got, err := l.LoadNext(seq, "", &sm)
		if errors.Is(err, log.ErrNotFound) {
			break
		}
		if err != nil {
			return err
		}
		seq, last = got, got
		err = put(sm.Subject, sm.Hdr, sm.Size, got, sm.Time, func(a Appending) error {
			if sm.Size <= snapshotReadPiece {
				var err error
				if small, err = sm.ReadPayload(small[:0]); err != nil {
					return err
				}
				return a.Write(small)
			}
			p, err := newStoredPayload(&sm)
			if err != nil {
				return err
			}
			for off := int64(0); off < sm.Size; {
				n := min(int64(len(piece)), sm.Size-off)
				if _, err := p.ReadAt(piece[:n], off); err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				if err := a.Write(piece[:n]); err != nil {
					return err
				}
				off += n
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if state.LastSeq > last {
		// The archive's last sequence is gone: a placeholder there keeps
		// it, removed once stored.
		err := put(restoreGapSubject+randToken(), nil, 0, state.LastSeq, state.LastTime, func(Appending) error { return nil })
		if err != nil {
			return err
		}
	}
	for inflight > 0 {
		if err := wait(); err != nil {
			return err
		}
	}
	if state.LastSeq > last {
		if err := st.store.Delete(state.LastSeq); err != nil {
			return err
		}
	}
	got := st.store.Reader().State()
	if got.Msgs != state.Msgs || got.LastSeq != state.LastSeq || (state.Msgs > 0 && got.FirstSeq != state.FirstSeq) {
		return fmt.Errorf("restored %d messages %d..%d, the archive has %d messages %d..%d",
			got.Msgs, got.FirstSeq, got.LastSeq, state.Msgs, state.FirstSeq, state.LastSeq)
	}
	return nil
}

package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/lni/dragonboat/v3/client"
	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/log"
)

// The meta shard holds the cluster's definitions (streams, consumers,
// placements) as JSON documents under string keys, each with a revision.
// The caller owns the key scheme (for
// example "stream/ORDERS", "consumer/ORDERS/dur") and the documents' shape;
// the shard only stores, compares revisions, and lists by prefix. A
// revision is the shard's change counter (every successful put or delete
// advances it), so revisions grow across keys and never repeat.

// Doc is one stored document.
type Doc struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Rev   uint64          `json:"rev"` // the shard's change count at the last Put of this key
}

var (
	// ErrRevision: a conditional Put or Delete found another revision.
	ErrRevision = errors.New("raft: document revision mismatch")
	// ErrNoDoc: no document under the key.
	ErrNoDoc = errors.New("raft: no such document")
)

// metaCmd is a meta shard entry (JSON: the meta shard is small and rarely
// written, and its log is readable by eye).
type metaCmd struct {
	Op    string          `json:"op"` // "put" or "del"
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
	// IfRev makes the change conditional: 0 = unconditional, MustNotExist
	// = create only, else the current revision must equal it.
	IfRev uint64 `json:"if_rev,omitempty"`
}

// MustNotExist as Put's ifRev creates a document only if the key is free.
const MustNotExist = ^uint64(0)

// Meta result codes (sm.Result.Value; Data is the new revision or nil).
const (
	metaOK uint64 = iota
	metaRevision
	metaNoDoc
	metaBad
)

// metaSM is the meta shard's in-memory state machine; Dragonboat snapshots
// it (the whole map as JSON) and replays the log after the snapshot. Update
// and RecoverFromSnapshot are serialized by Dragonboat and never run with
// Lookup or SaveSnapshot for this regular state machine type.
type metaSM struct {
	docs map[string]Doc
	st   *shardStore // the shard's raft log (store.go), released by Close
}

func (m *metaSM) Update(cmd []byte) (sm.Result, error) {
	var c metaCmd
	if err := json.Unmarshal(cmd, &c); err != nil || c.Key == "" {
		return sm.Result{Value: metaBad}, nil
	}
	cur, ok := m.docs[c.Key]
	switch {
	case c.IfRev == MustNotExist && ok:
		return sm.Result{Value: metaRevision}, nil
	case c.IfRev != 0 && c.IfRev != MustNotExist && (!ok || cur.Rev != c.IfRev):
		return sm.Result{Value: metaRevision}, nil
	}
	switch c.Op {
	case "put":
		rev := m.nextRev()
		m.docs[c.Key] = Doc{Key: c.Key, Value: c.Value, Rev: rev}
		return sm.Result{Value: metaOK, Data: le.AppendUint64(nil, rev)}, nil
	case "del":
		if !ok {
			return sm.Result{Value: metaNoDoc}, nil
		}
		delete(m.docs, c.Key)
		m.nextRev()
		return sm.Result{Value: metaOK}, nil
	}
	return sm.Result{Value: metaBad}, nil
}

// nextRev advances and returns the change counter, kept under the reserved
// key "" so that it is part of every snapshot.
func (m *metaSM) nextRev() uint64 {
	d := m.docs[""]
	d.Rev++
	m.docs[""] = d
	return d.Rev
}

// metaGet and metaList are Lookup queries.
type metaGet struct{ key string }
type metaList struct{ prefix string }

func (m *metaSM) Lookup(q any) (any, error) {
	switch q := q.(type) {
	case metaGet:
		d, ok := m.docs[q.key]
		if !ok || q.key == "" {
			return nil, ErrNoDoc
		}
		return d, nil
	case metaList:
		var out []Doc
		for k, d := range m.docs {
			if k != "" && strings.HasPrefix(k, q.prefix) {
				out = append(out, d)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out, nil
	}
	return nil, fmt.Errorf("raft: unknown meta query %T", q)
}

func (m *metaSM) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	return json.NewEncoder(w).Encode(m.docs)
}

func (m *metaSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	docs := make(map[string]Doc)
	if err := json.NewDecoder(r).Decode(&docs); err != nil {
		return fmt.Errorf("raft: meta snapshot: %w", err)
	}
	m.docs = docs
	return nil
}

// Close releases the shard's store.
func (m *metaSM) Close() error { return m.st.db.release(m.st) }

// shardsDir is where, under DataDir, shards other than streams keep their
// raft logs; metaSegmentSize is their segment size (the meta shard's
// entries are small documents: a segment goes once raft's floor passes
// it, so a small one keeps little).
const (
	shardsDir       = "shards"
	metaSegmentSize = 4 << 20
)

// MetaShard is this host's replica of the meta shard.
type MetaShard struct {
	h       *NodeHost
	id      uint64
	session *client.Session
}

// StartMetaShard starts this host's replica of the meta shard shardID
// (members and join as for StartStreamShard). Its raft log is a log of
// its own under the host's DataDir (shards/<id>, entries only); its
// snapshots are Dragonboat's, in the NodeHost directory.
func (h *NodeHost) StartMetaShard(shardID uint64, members map[uint64]string, join bool) (*MetaShard, error) {
	st, err := h.db.open(shardID, filepath.Join(h.cfg.DataDir, shardsDir, strconv.FormatUint(shardID, 10)), log.Config{},
		log.Options{FS: h.cfg.FS, Logger: h.cfg.Logger, SegmentSize: metaSegmentSize})
	if err != nil {
		return nil, err
	}
	create := func(cluster, node uint64) sm.IStateMachine { return &metaSM{docs: make(map[string]Doc), st: st} }
	if join {
		members = nil
	}
	cfg := h.shardConfig(shardID)
	cfg.SnapshotEntries = 256
	cfg.CompactionOverhead = 64
	if err := h.nh.StartCluster(members, join, create, cfg); err != nil {
		h.db.release(st)
		return nil, fmt.Errorf("raft: start meta shard %d: %w", shardID, err)
	}
	return &MetaShard{h: h, id: shardID, session: h.nh.GetNoOPSession(shardID)}, nil
}

// Put stores value (a JSON document) under key and returns its new
// revision. ifRev 0 writes unconditionally, MustNotExist only creates, any
// other value requires the current revision to be it (ErrRevision).
// Retries busy and leaderless attempts until ctx ends. A Put retried after
// a timeout may apply twice; with ifRev set the second copy fails with
// ErrRevision, so conditional puts report that as success only when the
// stored value is the one sent.
func (m *MetaShard) Put(ctx context.Context, key string, value json.RawMessage, ifRev uint64) (uint64, error) {
	if key == "" {
		return 0, errors.New("raft: empty meta key")
	}
	res, err := m.propose(ctx, metaCmd{Op: "put", Key: key, Value: value, IfRev: ifRev})
	if err != nil {
		return 0, err
	}
	if res.Value == metaRevision {
		if d, gerr := m.Get(ctx, key); gerr == nil && string(d.Value) == string(value) {
			return d.Rev, nil
		}
		return 0, ErrRevision
	}
	if res.Value != metaOK || len(res.Data) != 8 {
		return 0, fmt.Errorf("%w: meta put result %d", ErrRejected, res.Value)
	}
	return le.Uint64(res.Data), nil
}

// Delete removes key (ifRev as for Put, except MustNotExist). ErrNoDoc
// when there is none.
func (m *MetaShard) Delete(ctx context.Context, key string, ifRev uint64) error {
	res, err := m.propose(ctx, metaCmd{Op: "del", Key: key, IfRev: ifRev})
	if err != nil {
		return err
	}
	switch res.Value {
	case metaOK:
		return nil
	case metaNoDoc:
		return ErrNoDoc
	case metaRevision:
		return ErrRevision
	}
	return fmt.Errorf("%w: meta delete result %d", ErrRejected, res.Value)
}

func (m *MetaShard) propose(ctx context.Context, c metaCmd) (sm.Result, error) {
	cmd, err := json.Marshal(c)
	if err != nil {
		return sm.Result{}, err
	}
	var res sm.Result
	err = retry(ctx, m.h.cfg, func(ctx context.Context) error {
		var err error
		res, err = m.h.nh.SyncPropose(ctx, m.session, cmd)
		return err
	})
	return res, err
}

// Get returns the document under key (linearizable). ErrNoDoc when none.
func (m *MetaShard) Get(ctx context.Context, key string) (Doc, error) {
	v, err := m.read(ctx, metaGet{key})
	if err != nil {
		return Doc{}, err
	}
	return v.(Doc), nil
}

// List returns the documents whose key starts with prefix, by key
// (linearizable).
func (m *MetaShard) List(ctx context.Context, prefix string) ([]Doc, error) {
	v, err := m.read(ctx, metaList{prefix})
	if err != nil {
		return nil, err
	}
	return v.([]Doc), nil
}

func (m *MetaShard) read(ctx context.Context, q any) (any, error) {
	var out any
	err := retry(ctx, m.h.cfg, func(ctx context.Context) error {
		v, err := m.h.nh.SyncRead(ctx, m.id, q)
		out = v
		return err
	})
	return out, err
}

// Leader returns the meta shard's leader as this host knows it.
func (m *MetaShard) Leader() (uint64, bool) { return m.h.Leader(m.id) }

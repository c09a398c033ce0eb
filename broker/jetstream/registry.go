package jetstream

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// The stream registry: which streams this engine runs, the index of their
// subjects that decides which stream captures a published subject, and the
// figures summed over them.

// load opens every stream directory under e.dir.
func (e *Engine) load() error {
	names, err := e.o.FS.List(e.dir)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	for _, name := range names {
		dir := filepath.Join(e.dir, name)
		if strings.HasSuffix(name, log.DeletingSuffix) || strings.HasSuffix(name, restoringSuffix) {
			e.o.FS.RemoveAll(dir) // a delete or a restore interrupted by a crash
			continue
		}
		m, err := e.readMeta(dir)
		if errors.Is(err, syscall.ENOTDIR) {
			continue // a file, not a stream
		}
		if err != nil {
			e.log.Error("jetstream: stream not loaded", "dir", dir, "err", err)
			continue
		}
		if m.Replicated {
			continue // started by the cluster's meta shard (cluster.go)
		}
		st, err := e.openStream(dir, m.Config, m.Created)
		if err != nil {
			e.log.Error("jetstream: stream not loaded", "stream", m.Config.Name, "err", err)
			continue
		}
		if err := e.registerLocked(st); err != nil {
			st.close()
			e.log.Error("jetstream: stream not loaded", "stream", m.Config.Name, "err", err)
		}
	}
	return nil
}

// registerLocked adds st to the registry and its subjects to the capture
// index and the overlap tree. e.mu must be held (or the engine not yet
// shared).
func (e *Engine) registerLocked(st *stream) error {
	cfg := st.Config()
	added := make([]*broker.Subscription, 0, len(cfg.Subjects))
	for _, subj := range cfg.Subjects {
		sub := &broker.Subscription{Subject: subj}
		if err := e.subjects.Insert(sub); err != nil {
			e.subjects.RemoveBatch(added)
			for _, s := range added {
				delete(e.mu.bySub, s)
			}
			return err
		}
		added = append(added, sub)
		e.mu.bySub[sub] = st
	}
	for _, subj := range cfg.Subjects {
		e.mu.filters.Add(subj, st.name) // present already when reserved
	}
	e.mu.subsOf[st] = added
	e.mu.streams[st.name] = st
	return nil
}

// unregisterLocked removes st's subjects from the capture index and the
// overlap tree, and st from the registry.
func (e *Engine) unregisterLocked(st *stream) {
	subs := e.mu.subsOf[st]
	for _, sub := range subs {
		delete(e.mu.bySub, sub)
		e.mu.filters.Remove(sub.Subject, st.name)
	}
	delete(e.mu.subsOf, st)
	e.subjects.RemoveBatch(subs)
	delete(e.mu.streams, st.name)
}

// streamFor returns the stream that captures subject, or nil.
func (e *Engine) streamFor(subject []byte) *stream {
	r := e.subjects.MatchSubject(subject)
	if len(r.Psubs) == 0 {
		return nil
	}
	e.mu.RLock()
	st := e.mu.bySub[r.Psubs[0]]
	e.mu.RUnlock()
	return st
}

// lookup returns the stream named name, or nil.
func (e *Engine) lookup(name string) *stream {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mu.streams[name]
}

// DamagedMsgs counts the messages of this server's streams found damaged
// (a checksum failed, at recovery or by the background verification of
// sealed segments): each stream lists them in its state's lost.msgs.
func (e *Engine) DamagedMsgs() uint64 {
	var n uint64
	for _, st := range e.sortedStreams() {
		n += uint64(len(st.store.Reader().State().Lost))
	}
	return n
}

// sortedStreams returns the streams sorted by name.
func (e *Engine) sortedStreams() []*stream {
	e.mu.RLock()
	out := make([]*stream, 0, len(e.mu.streams))
	for _, st := range e.mu.streams {
		out = append(out, st)
	}
	e.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// overlaps is overlapLocked under e.mu's read lock.
func (e *Engine) overlaps(self string, subjects []string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.overlapLocked(self, subjects)
}

// overlapLocked reports whether subjects collide with a stream other than
// self's (or a create in progress): one tree search per subject.
func (e *Engine) overlapLocked(self string, subjects []string) bool {
	for _, subj := range subjects {
		if _, ok := e.mu.filters.OverlapOther(subj, self); ok {
			return true
		}
	}
	return false
}

// usage sums the streams' bytes by storage kind, and counts streams and
// consumers, for $JS.API.INFO.
func (e *Engine) usage() (mem, store uint64, streams, consumers int) {
	for _, st := range e.sortedStreams() {
		st2 := st.store.Reader().State()
		if st.Config().Storage == jsapi.MemoryStorage {
			mem += st2.Bytes
		} else {
			store += st2.Bytes
		}
		streams++
		consumers += st.cons.Count()
	}
	return
}

// consumerCount is the number of consumers of every stream, for the
// account's max_consumers.
func (e *Engine) consumerCount() int {
	n := 0
	for _, st := range e.sortedStreams() {
		n += st.cons.Count()
	}
	return n
}

// consumerExists reports whether a create names a consumer st already
// has (an idempotent create or an update, which max_consumers allows).
func (e *Engine) consumerExists(st *stream, cname string, req *jsapi.CreateConsumerRequest) bool {
	for _, n := range []string{cname, req.Config.Name, req.Config.Durable} {
		if n != "" && hasConsumer(st, n) {
			return true
		}
	}
	return false
}

func hasConsumer(st *stream, name string) bool {
	_, err := st.cons.Info(name)
	return err == nil
}

// wouldExceedAccount reports whether storing size more bytes of the given
// storage kind would take the account past its max_memory or max_file
// (nats-server refuses such a publish with 10002). Only an engine with
// such a limit pays for the sum; concurrent publishes may overshoot it by
// what they store together.
func (e *Engine) wouldExceedAccount(storage jsapi.StorageType, size int) bool {
	limit := e.o.MaxStore
	if storage == jsapi.MemoryStorage {
		limit = e.o.MaxMemory
	}
	if limit <= 0 {
		return false
	}
	used := int64(size)
	e.mu.RLock()
	streams := make([]*stream, 0, len(e.mu.streams))
	for _, st := range e.mu.streams {
		streams = append(streams, st)
	}
	e.mu.RUnlock()
	for _, st := range streams {
		if st.Config().Storage == storage {
			used += int64(st.store.Reader().State().Bytes)
		}
	}
	return used > limit
}

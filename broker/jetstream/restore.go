package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/codec/natsarc"
	"github.com/bargemq/barge/log"
)

// Stream restores ($JS.API.STREAM.RESTORE.<stream>), as nats-server 2.15
// takes them (codec/jsapi/snapshot.go has the exchange). The stream is
// built in <store_dir>/jetstream/<stream>.restoring/ as the chunks arrive:
// each chunk goes through an io.Pipe into the s2 decoder (whose block
// checksums are verified) and the NATSARC1 reader, and each message into a
// log opened there, its payload streamed into the log's chunk records, so
// a message of any size costs a read buffer. Only when the archive's end
// entry has been read and the last (empty) chunk received is meta.json
// written, the directory renamed to <stream>/ and the stream opened and
// registered; any error removes the directory, so a corrupt, truncated or
// abandoned upload leaves no stream. A directory left by a crash is
// removed at startup (registry.go).
//
// Sequences and timestamps are the archive's: the restore log starts at
// the state's first sequence and takes each message's timestamp from a
// clock set per message (restoreClock; the log never lets time go back, so
// an archive whose times do, keeps them non-decreasing); a gap between
// sequences is filled with placeholder messages purged at the end, and
// the trailing gap up to the state's last sequence likewise. Limits are
// off while restoring and apply when the stream opens, as nats-server's.
//
// A chunk must fit an internal message (broker.MaxInternalMsg, 8 MiB; the
// CLI sends 64 KiB). Memory streams are refused (10062); nats-server's
// older tar snapshots (before 2.15) are refused with a clear error. In a
// cluster the built stream then goes into the cluster as a replicated (or
// placed R1) stream: restore_repl.go.

// restoringSuffix marks a stream directory being restored.
const restoringSuffix = ".restoring"

// Restore bounds: a restore with no chunk for restoreStallTimeout is
// abandoned (nats-server's 5 s); chunks queued beyond restoreMaxQueued
// bytes (a client not waiting for the replies) fail it; an archive entry
// that is read into memory (state, a consumer, a message header) has at
// most these sizes.
const (
	restoreStallTimeout = 5 * time.Second
	restoreMaxQueued    = 64 << 20
	restoreMaxState     = 1 << 20
	restoreMaxConsumer  = 64 << 20
	restoreMaxHeader    = 1 << 20
)

// restoreChunk is one message to the restore subject.
type restoreChunk struct {
	data  []byte
	reply []byte
}

// restore is one restore in progress.
type restore struct {
	e       *Engine
	cfg     jsapi.StreamConfig
	staging string
	chunks  chan restoreChunk
	queued  atomic.Int64 // bytes in chunks
	// repl: the stream goes into the cluster (restore_repl.go); its
	// consumers are then kept in cons for the meta shard, not written.
	repl bool
	cons []restoredConsumer
	// failed is set (once) by the subscription when the client broke the
	// protocol; the loop reports it.
	failOnce sync.Once
	failed   chan error
}

// streamRestore answers STREAM.RESTORE.<stream> and starts the restore.
func (e *Engine) streamRestore(r *apiReq, name string) {
	typ := jsapi.TypeStreamRestoreResponse
	if len(r.data) == 0 {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeBadRequest))
		return
	}
	var req jsapi.StreamRestoreRequest
	if apiErr := decode(r.data, &req, false); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if req.Config.Name == "" {
		req.Config.Name = name
	}
	if req.Config.Name != name {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamMismatch))
		return
	}
	if strings.ContainsAny(name, `\/`) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNameContainsPathSeparators))
		return
	}
	repl := false
	if cs := e.cl.Load(); cs != nil && (req.Config.Replicas > 1 || e.placedR1(&req.Config)) {
		repl = true
	}
	// A replicated stream's config is checked as a create's
	// (createReplicated).
	chk := req.Config
	if repl {
		chk.Replicas = 1
	}
	cfg, apiErr := checkConfig(&chk, e.maxPayload.Load())
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if repl {
		cfg.Replicas = max(req.Config.Replicas, 1)
		e.fillMirrorDirect(&cfg)
		if apiErr := e.restorePlaceable(cfg.Replicas); apiErr != nil {
			e.respondErr(r.reply, typ, apiErr) // before the upload, as nats-server
			return
		}
	}
	if cfg.Storage == jsapi.MemoryStorage {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamRestore, "memory streams can not be restored"))
		return
	}
	if st := e.lookup(name); st != nil && st.repl != nil {
		// A replicated stream deleted through another node goes at this
		// node's next poll: look now.
		if cs := e.cl.Load(); cs != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			e.syncReplicated(ctx, cs)
			cancel()
		}
	}
	if e.lookup(name) != nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNameExistRestoreFailed))
		return
	}
	old, apiErr := e.reserve(&cfg)
	if old != nil || (apiErr != nil && apiErr.ErrCode == jsapi.ErrCodeStreamNameExist) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNameExistRestoreFailed))
		return
	}
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	rs := &restore{e: e, cfg: cfg, repl: repl, staging: filepath.Join(e.dir, name+restoringSuffix),
		chunks: make(chan restoreChunk, 256), failed: make(chan error, 1)}
	e.o.FS.RemoveAll(rs.staging) // a leftover of an earlier attempt
	if err := e.o.FS.MkdirAll(rs.staging, 0o755); err != nil {
		e.unreserve(&cfg)
		e.respondErr(r.reply, typ, e.internalErr(jsapi.ErrCodeStreamRestore, name, "stream restore", err))
		return
	}
	deliver := jsapi.RestoreDeliverPrefix + name + "." + randToken()
	sub, err := e.srv.SubscribeInternalRouted(deliver, rs.onChunk)
	if err != nil {
		e.o.FS.RemoveAll(rs.staging)
		e.unreserve(&cfg)
		e.respondErr(r.reply, typ, e.internalErr(jsapi.ErrCodeStreamRestore, name, "stream restore", err))
		return
	}
	e.respond(r.reply, &jsapi.StreamRestoreResponse{APIResponse: jsapi.APIResponse{Type: typ}, DeliverSubject: deliver})
	go func() {
		defer e.srv.UnsubscribeInternal(sub)
		rs.run()
	}()
}

// unreserve releases a reservation made by reserve.
func (e *Engine) unreserve(cfg *jsapi.StreamConfig) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.mu.reserved, cfg.Name)
	for _, subj := range cfg.Subjects {
		e.mu.filters.Remove(subj, cfg.Name)
	}
}

// onChunk takes a chunk on the publisher's event loop: it only queues it.
func (rs *restore) onChunk(m *broker.InternalMsg) {
	if len(m.Reply) == 0 {
		rs.fail(errors.New("restore requires a reply subject for each chunk"))
		return
	}
	if rs.queued.Add(int64(len(m.Data))) > restoreMaxQueued {
		rs.fail(errors.New("restore chunks sent without waiting for their replies"))
		return
	}
	c := restoreChunk{data: append([]byte(nil), m.Data...), reply: append([]byte(nil), m.Reply...)}
	select {
	case rs.chunks <- c:
	default:
		rs.fail(errors.New("restore chunks sent without waiting for their replies"))
	}
}

func (rs *restore) fail(err error) {
	rs.failOnce.Do(func() { rs.failed <- err })
}

// run feeds the chunks to the builder and finishes the restore: the
// stream registered and its info sent to the last chunk's reply, or the
// error (10062) and nothing left behind.
func (rs *restore) run() {
	e := rs.e
	pr, pw := io.Pipe()
	built := make(chan error, 1)
	go func() {
		err := rs.build(pr)
		pr.CloseWithError(cmpErr(err, errRestoreEnded))
		built <- err
	}()
	var buildErr error
	buildDone := false
	finish := func(reply []byte, err error) {
		pw.CloseWithError(cmpErr(err, io.EOF))
		if !buildDone {
			buildErr = <-built
		}
		if err == nil {
			err = buildErr
		}
		var st *stream
		if err == nil && rs.repl {
			st, err = rs.commitReplicated()
		} else if err == nil {
			st, err = rs.commit()
		}
		if err != nil {
			e.o.FS.RemoveAll(rs.staging)
			e.unreserve(&rs.cfg)
			e.log.Error("jetstream: restore failed", "stream", rs.cfg.Name, "err", err)
			apiErr := jsapi.NewAPIError(jsapi.ErrCodeStreamRestore, e.publicText(err.Error()))
			var refused restoreRefused
			if errors.As(err, &refused) {
				apiErr = refused.apiErr
			}
			e.respondErr(reply, jsapi.TypeStreamCreateResponse, apiErr)
			return
		}
		e.respond(reply, &jsapi.StreamCreateResponse{APIResponse: jsapi.APIResponse{Type: jsapi.TypeStreamCreateResponse},
			StreamInfo: st.info(nil), DidCreate: true})
	}
	for {
		fired := make(chan struct{})
		t := e.o.Clock.AfterFunc(restoreStallTimeout, func() { close(fired) })
		var c restoreChunk
		select {
		case c = <-rs.chunks:
			t.Stop()
		case err := <-rs.failed:
			t.Stop()
			finish(nil, err)
			return
		case <-fired:
			finish(nil, errors.New("restore is stalled"))
			return
		case <-e.quit:
			t.Stop()
			finish(nil, errors.New("server shutting down"))
			return
		}
		rs.queued.Add(-int64(len(c.data)))
		if len(c.data) == 0 {
			finish(c.reply, nil)
			return
		}
		if buildDone {
			if buildErr != nil {
				finish(c.reply, buildErr)
				return
			}
			e.srv.Deliver(c.reply, nil, nil, nil) // bytes after the end entry
			continue
		}
		if _, err := pw.Write(c.data); err != nil {
			buildErr, buildDone = <-built, true
			if buildErr != nil {
				finish(c.reply, buildErr)
				return
			}
		}
		e.srv.Deliver(c.reply, nil, nil, nil)
	}
}

// errRestoreEnded closes the pipe's read side after the end entry.
var errRestoreEnded = errors.New("restore archive ended")

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// commit turns the built directory into the stream: meta.json, the rename
// to its name, open and register.
func (rs *restore) commit() (*stream, error) {
	e := rs.e
	now := e.o.Clock.Now().UTC()
	if err := e.writeMeta(rs.staging, &streamMeta{Config: rs.cfg, Created: now}); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, rs.cfg.Name)
	if err := e.o.FS.Rename(rs.staging, dir); err != nil {
		return nil, err
	}
	if err := e.o.FS.SyncDir(e.dir); err != nil {
		log.RemoveDir(e.o.FS, dir)
		return nil, err
	}
	st, err := e.openStream(dir, rs.cfg, now)
	if err != nil {
		log.RemoveDir(e.o.FS, dir)
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.mu.reserved, rs.cfg.Name)
	if e.mu.closed {
		st.close()
		return nil, errEngineClosed
	}
	if err := e.registerLocked(st); err != nil {
		st.close()
		log.RemoveDir(e.o.FS, dir)
		for _, subj := range rs.cfg.Subjects {
			e.mu.filters.Remove(subj, rs.cfg.Name)
		}
		return nil, err
	}
	return st, nil
}

// build reads the archive from r into the staging directory.
func (rs *restore) build(r io.Reader) error {
	ar := natsarc.NewReader(newS2Reader(r))
	h, err := ar.Next()
	if err != nil {
		return archiveErr(err)
	}
	if h.Name != jsapi.SnapshotStateEntry {
		return fmt.Errorf("archive: expected %s first", jsapi.SnapshotStateEntry)
	}
	var state jsapi.StreamState
	if err := readJSON(ar, &h, restoreMaxState, &state); err != nil {
		return fmt.Errorf("archive: %s: %w", jsapi.SnapshotStateEntry, err)
	}
	if err := checkRestoreState(&state); err != nil {
		return err
	}
	now := rs.e.o.Clock.Now()
	for range state.Consumers {
		h, err := ar.Next()
		if err != nil {
			return archiveErr(err)
		}
		name, ok := strings.CutPrefix(h.Name, jsapi.SnapshotConsumerEntry)
		if !ok {
			return fmt.Errorf("archive: expected a consumer, found %q", h.Name)
		}
		var sc jsapi.SnapshotConsumer
		if err := readJSON(ar, &h, restoreMaxConsumer, &sc); err != nil {
			return fmt.Errorf("archive: consumer %q: %w", name, err)
		}
		if rs.repl {
			cfg, state, ok, err := consumer.Restored(&rs.cfg, name, &sc)
			if err != nil {
				return err
			}
			if ok {
				rs.cons = append(rs.cons, restoredConsumer{name: name, cfg: cfg, state: state})
			}
			continue
		}
		if _, err := consumer.WriteRestored(rs.e.o.FS, filepath.Join(rs.staging, consumersDir), &rs.cfg, name, &sc, now); err != nil {
			return err
		}
	}
	return rs.writeMessages(ar, &state)
}

// checkRestoreState refuses a state whose numbers cannot be (nats-server's
// checks).
func checkRestoreState(s *jsapi.StreamState) error {
	switch {
	case s.Consumers < 0:
		return errors.New("invalid stream state: negative consumer count")
	case s.FirstSeq == 0 && (s.LastSeq != 0 || s.Msgs != 0):
		return errors.New("invalid stream state: inconsistent message count or sequence range")
	case s.FirstSeq > s.LastSeq && s.FirstSeq != 0 && (s.FirstSeq-1 != s.LastSeq || s.Msgs != 0):
		return errors.New("invalid stream state: inconsistent message count or sequence range")
	case s.FirstSeq != 0 && s.FirstSeq <= s.LastSeq && s.Msgs > s.LastSeq-s.FirstSeq+1:
		return errors.New("invalid stream state: message count exceeds sequence range")
	}
	return nil
}

// readJSON decodes the current entry (at most max bytes) into v.
func readJSON(ar *natsarc.Reader, h *natsarc.Header, max int64, v any) error {
	if h.Size() > max {
		return fmt.Errorf("entry of %d bytes exceeds %d", h.Size(), max)
	}
	b, err := io.ReadAll(ar)
	if err != nil {
		return archiveErr(err)
	}
	return json.Unmarshal(b, v)
}

// archiveErr words a read error of the archive for the client.
func archiveErr(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errRestoreEnded):
		return errors.New("backup was truncated")
	case errors.Is(err, natsarc.ErrInvalid):
		return fmt.Errorf("backup is corrupt: %v", err)
	}
	return err
}

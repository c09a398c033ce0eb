package jetstream

import (
	"path/filepath"
	"reflect"
	"strings"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/subject"
)

// streamCreate answers STREAM.CREATE.<stream>: an identical config for an
// existing stream returns its info (idempotent create); a different one is
// 10058.
func (e *Engine) streamCreate(r *apiReq, name string) {
	typ := jsapi.TypeStreamCreateResponse
	var req jsapi.StreamConfig
	if apiErr := decode(r.data, &req, false); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if req.Name != name {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamMismatch))
		return
	}
	if strings.ContainsAny(name, `\/`) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNameContainsPathSeparators))
		return
	}
	if cs := e.cl.Load(); cs != nil && (req.Replicas > 1 && req.Replicas <= maxReplicas || e.placedR1(&req)) {
		e.createReplicated(r, cs, &req)
		return
	}
	cfg, apiErr := checkConfig(&req, e.maxPayload.Load())
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if apiErr := e.checkFeedStreams(&cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.fillMirrorDirect(&cfg)
	if cfg.Sealed {
		e.respondErr(r.reply, typ, invalidConfig("stream configuration for create can not be sealed"))
		return
	}
	st, created, apiErr := e.createStream(cfg)
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.StreamCreateResponse{APIResponse: jsapi.APIResponse{Type: typ},
		StreamInfo: st.info(nil), DidCreate: created})
}

// createStream creates the stream for a checked config, or returns the
// existing one when its config is the same. The name and subjects are
// reserved under the engine lock (so a concurrent create sees them taken);
// the directory, meta.json and the log are made without it, so captures
// and other requests do not wait on the disk.
func (e *Engine) createStream(cfg jsapi.StreamConfig) (*stream, bool, *jsapi.APIError) {
	if old, apiErr := e.reserve(&cfg); old != nil || apiErr != nil {
		return old, false, apiErr
	}
	st, err := e.makeStream(cfg)
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.mu.reserved, cfg.Name)
	if err == nil && e.mu.closed {
		st.close()
		e.o.FS.RemoveAll(st.dir)
		err = errEngineClosed
	}
	if err == nil {
		err = e.registerLocked(st)
		if err != nil {
			st.close()
			e.o.FS.RemoveAll(st.dir)
		} else {
			st.startFeeds()
		}
	}
	if err != nil {
		for _, subj := range cfg.Subjects {
			e.mu.filters.Remove(subj, cfg.Name)
		}
		if err == errEngineClosed {
			return nil, false, jsapi.NewAPIError(jsapi.ErrCodeNotEnabled)
		}
		return nil, false, e.internalErr(jsapi.ErrCodeStreamCreate, cfg.Name, "stream create", err)
	}
	return st, true, nil
}

// errEngineClosed: the engine closed during a create.
var errEngineClosed = errorString("jetstream: closed")

// reserve checks a create against the registry under the engine lock and,
// when it may go ahead, reserves its name and subjects. It returns the
// existing stream for an identical config (nothing reserved), or the error.
func (e *Engine) reserve(cfg *jsapi.StreamConfig) (*stream, *jsapi.APIError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeNotEnabled)
	}
	if old := e.mu.streams[cfg.Name]; old != nil {
		if reflect.DeepEqual(old.Config(), *cfg) {
			return old, nil
		}
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamNameExist)
	}
	if e.mu.reserved[cfg.Name] {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamNameExist)
	}
	if e.overlapLocked(cfg.Name, cfg.Subjects) {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamSubjectOverlap)
	}
	if max := e.o.MaxStreams; max > 0 && len(e.mu.streams)+len(e.mu.reserved) >= max {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeMaximumStreamsLimit)
	}
	limit := e.o.MaxStore
	if cfg.Storage == jsapi.MemoryStorage {
		limit = e.o.MaxMemory
	}
	if limit > 0 && cfg.MaxBytes > limit {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamMaxStreamBytesExceeded)
	}
	e.mu.reserved[cfg.Name] = true
	for _, subj := range cfg.Subjects {
		e.mu.filters.Add(subj, cfg.Name)
	}
	return nil, nil
}

// makeStream creates a reserved stream's directory, meta.json and log;
// on an error nothing of it is left on disk.
func (e *Engine) makeStream(cfg jsapi.StreamConfig) (*stream, error) {
	dir := filepath.Join(e.dir, cfg.Name)
	now := e.o.Clock.Now().UTC()
	fail := func(err error) (*stream, error) {
		e.o.FS.RemoveAll(dir)
		return nil, err
	}
	if err := e.makeStreamDir(dir, &streamMeta{Config: cfg, Created: now}); err != nil {
		return fail(err)
	}
	st, err := e.openStream(dir, cfg, now)
	if err != nil {
		return fail(err)
	}
	return st, nil
}

// streamUpdate answers STREAM.UPDATE.<stream>.
func (e *Engine) streamUpdate(r *apiReq, name string) {
	typ := jsapi.TypeStreamUpdateResponse
	var req jsapi.StreamConfig
	if apiErr := decode(r.data, &req, false); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if st := e.lookup(name); st != nil && st.repl != nil {
		if cs := e.cl.Load(); cs != nil {
			if req.Replicas == 0 {
				req.Replicas = 1 // omitted: an R1 placed through the meta shard
			}
			e.updateReplicated(r, cs, st, &req)
			return
		}
	}
	cfg, apiErr := checkConfig(&req, e.maxPayload.Load())
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	if cfg.Name != name {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamMismatch))
		return
	}
	if apiErr := e.checkFeedStreams(&cfg); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	st, apiErr := e.updateStream(cfg)
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.StreamUpdateResponse{APIResponse: jsapi.APIResponse{Type: typ}, StreamInfo: st.info(nil)})
}

// updateStream applies a checked config to an existing stream. The engine
// lock is held throughout so the subject index and overlap checks see one
// consistent set of streams.
func (e *Engine) updateStream(cfg jsapi.StreamConfig) (*stream, *jsapi.APIError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.mu.streams[cfg.Name]
	if st == nil {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound)
	}
	old := st.Config()
	cfg, apiErr := checkUpdate(old, cfg)
	if apiErr != nil {
		return nil, apiErr
	}
	if e.overlapLocked(cfg.Name, cfg.Subjects) {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamSubjectOverlap)
	}
	if apiErr := st.update(cfg); apiErr != nil {
		return nil, apiErr
	}
	if !reflect.DeepEqual(old.Subjects, cfg.Subjects) {
		e.unregisterLocked(st)
		if err := e.registerLocked(st); err != nil {
			e.log.Error("jetstream: re-index stream subjects", "stream", st.name, "err", err)
		}
	}
	return st, nil
}

// streamRequest decodes a request for stream name into req (an empty body
// is allowed when emptyOK) and finds the stream. When either fails it has
// already answered with the error and returns nil.
func (e *Engine) streamRequest(r *apiReq, typ, name string, req any, emptyOK bool) *stream {
	if apiErr := decode(r.data, req, emptyOK); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return nil
	}
	st := e.lookup(name)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
	}
	return st
}

// streamInfo answers STREAM.INFO.<stream>.
func (e *Engine) streamInfo(r *apiReq, name string) {
	typ := jsapi.TypeStreamInfoResponse
	var req jsapi.StreamInfoRequest
	st := e.streamRequest(r, typ, name, &req, true)
	if st == nil {
		return
	}
	si := st.info(&req)
	resp := &jsapi.StreamInfoResponse{APIResponse: jsapi.APIResponse{Type: typ}, StreamInfo: si}
	if n := len(si.State.Subjects); n > 0 {
		resp.APIPaged = jsapi.APIPaged{Total: n, Offset: 0, Limit: n}
	}
	e.respond(r.reply, resp)
}

// streamDelete answers STREAM.DELETE.<stream>: the consumers and every
// stored message go.
func (e *Engine) streamDelete(r *apiReq, name string) {
	typ := jsapi.TypeStreamDeleteResponse
	if st := e.lookup(name); st != nil && st.repl != nil {
		e.deleteReplicated(r, e.cl.Load(), st)
		return
	}
	e.mu.Lock()
	st := e.mu.streams[name]
	if st != nil {
		e.unregisterLocked(st)
	}
	e.mu.Unlock()
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	if err := st.destroy(); err != nil {
		e.respondErr(r.reply, typ, e.internalErr(jsapi.ErrCodeStreamDelete, name, "stream delete", err))
		return
	}
	e.respond(r.reply, &jsapi.StreamDeleteResponse{APIResponse: jsapi.APIResponse{Type: typ}, Success: true})
}

// streamPurge answers STREAM.PURGE.<stream> (filter, seq, keep).
func (e *Engine) streamPurge(r *apiReq, name string) {
	typ := jsapi.TypeStreamPurgeResponse
	var req jsapi.StreamPurgeRequest
	st := e.streamRequest(r, typ, name, &req, true)
	if st == nil {
		return
	}
	n, apiErr := st.purge(&req)
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.StreamPurgeResponse{APIResponse: jsapi.APIResponse{Type: typ}, Success: true, Purged: n})
}

// filteredStreams applies a names/list request: streams listening on a
// subject colliding with req.Subject, sorted, with the page's offset.
func (e *Engine) filteredStreams(req *jsapi.StreamNamesRequest) []*stream {
	all := e.sortedStreams()
	if req.Subject == "" {
		return all
	}
	out := all[:0]
	for _, st := range all {
		for _, subj := range st.Config().Subjects {
			if subject.Overlap(subj, req.Subject) {
				out = append(out, st)
				break
			}
		}
	}
	return out
}

// page returns the [offset, offset+limit) window bounds of n items.
func page(n, offset, limit int) (int, int) {
	offset = min(max(offset, 0), n)
	return offset, min(offset+limit, n)
}

// streamNames answers STREAM.NAMES.
func (e *Engine) streamNames(r *apiReq) {
	typ := jsapi.TypeStreamNamesResponse
	var req jsapi.StreamNamesRequest
	if apiErr := decode(r.data, &req, true); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	streams := e.listedStreams(&req)
	lo, hi := page(len(streams), req.Offset, jsapi.NamesLimit)
	resp := &jsapi.StreamNamesResponse{APIResponse: jsapi.APIResponse{Type: typ},
		APIPaged: jsapi.APIPaged{Total: len(streams), Offset: lo, Limit: jsapi.NamesLimit}}
	for _, st := range streams[lo:hi] {
		resp.Streams = append(resp.Streams, st.name)
	}
	e.respond(r.reply, resp)
}

// streamList answers STREAM.LIST.
func (e *Engine) streamList(r *apiReq) {
	typ := jsapi.TypeStreamListResponse
	var req jsapi.StreamNamesRequest
	if apiErr := decode(r.data, &req, true); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	streams := e.listedStreams(&req)
	lo, hi := page(len(streams), req.Offset, jsapi.ListLimit)
	resp := &jsapi.StreamListResponse{APIResponse: jsapi.APIResponse{Type: typ},
		APIPaged: jsapi.APIPaged{Total: len(streams), Offset: lo, Limit: jsapi.ListLimit},
		Streams:  []*jsapi.StreamInfo{}}
	if ls := streams[lo:hi]; e.anyRemote(ls) {
		// Some are placed on other members: their leaders have the
		// numbers (nonmember_info.go); not on the API worker.
		go func(reply []byte) {
			resp.Streams = e.listedInfos(ls)
			e.respond(reply, resp)
		}(r.reply)
		return
	}
	for _, st := range streams[lo:hi] {
		resp.Streams = append(resp.Streams, st.st.info(nil))
	}
	e.respond(r.reply, resp)
}

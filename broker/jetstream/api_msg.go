package jetstream

import (
	"errors"
	"strconv"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// findMsg selects the message of a MSG.GET / DIRECT.GET request: by seq,
// last on a subject, or next at or after seq on a subject. It fills sm and
// returns the sequence it chose (also on error, when there was one).
func findMsg(l log.Reader, req *jsapi.MsgGetRequest, sm *log.StoredMsg) (uint64, error) {
	switch {
	case req.LastFor != "":
		seq, err := l.LastSeqForSubject(req.LastFor)
		if err != nil {
			return 0, err
		}
		return seq, l.LoadMsg(seq, sm)
	case req.NextFor != "":
		return l.LoadNext(max(req.Seq, 1), req.NextFor, sm)
	default:
		return req.Seq, l.LoadMsg(req.Seq, sm)
	}
}

// validGet reports whether exactly one selector is set (next_by_subj may
// come with seq).
func validGet(req *jsapi.MsgGetRequest) bool {
	n := 0
	if req.Seq > 0 && req.NextFor == "" {
		n++
	}
	if req.LastFor != "" {
		n++
	}
	if req.NextFor != "" {
		n++
	}
	return n == 1
}

// msgGet answers STREAM.MSG.GET.<stream>. The payload is base64 in the
// JSON reply (as in nats-server); one over msgGetInline is encoded from its
// stored extents as the client drains the reply (msgget_stream.go), never
// held whole.
func (e *Engine) msgGet(r *apiReq, name string) {
	typ := jsapi.TypeMsgGetResponse
	var req jsapi.MsgGetRequest
	st := e.streamRequest(r, typ, name, &req, false)
	if st == nil {
		return
	}
	if !validGet(&req) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeBadRequest))
		return
	}
	var sm log.StoredMsg
	if seq, err := findMsg(st.store.Reader(), &req, &sm); err != nil {
		e.respondErr(r.reply, typ, getError(err, seq))
		return
	}
	if !r.mayRead(sm.Subject) {
		e.respondErr(r.reply, typ, readDenied(sm.Subject))
		return
	}
	if sm.Size > msgGetInline {
		if len(r.reply) == 0 {
			return
		}
		if err := e.sendMsgGetStreamed(r.reply, &sm); err != nil {
			e.log.Warn("jetstream: msg get", "stream", name, "seq", sm.Seq, "err", err)
			e.respondErr(r.reply, typ, getError(err, sm.Seq))
		}
		return
	}
	data, err := sm.ReadPayload(nil)
	if err != nil {
		e.respondErr(r.reply, typ, getError(err, sm.Seq))
		return
	}
	msg := &jsapi.StoredMsg{Subject: sm.Subject, Sequence: sm.Seq, Data: data,
		Time: time.Unix(0, sm.Time).UTC()}
	if len(sm.Hdr) > 0 {
		msg.Header = append([]byte(nil), sm.Hdr...)
	}
	e.respond(r.reply, &jsapi.MsgGetResponse{APIResponse: jsapi.APIResponse{Type: typ}, Message: msg})
}

// getError maps a load error of message seq: a missing or deleted message
// is "no message found" (10037); a damaged one, whose bytes failed their
// checksum and are never served, is a stream error that names it, 10051
// "message <seq> is damaged" (nats-server answers 10037 for every load
// error, which hides the damage); any other read error is 10051 too,
// without the server's paths.
func getError(err error, seq uint64) *jsapi.APIError {
	switch {
	case errors.Is(err, log.ErrCorrupt):
		return jsapi.NewAPIError(jsapi.ErrCodeStreamGeneral, damagedText(seq))
	case errors.Is(err, log.ErrNotFound) || errors.Is(err, log.ErrDeleted):
		return jsapi.NewAPIError(jsapi.ErrCodeNoMessageFound)
	}
	return jsapi.NewAPIError(jsapi.ErrCodeStreamGeneral, "message could not be read")
}

// damagedText names a damaged message for a client.
func damagedText(seq uint64) string {
	if seq == 0 {
		return "message is damaged"
	}
	return "message " + strconv.FormatUint(seq, 10) + " is damaged"
}

// msgDelete answers STREAM.MSG.DELETE.<stream>.
func (e *Engine) msgDelete(r *apiReq, name string) {
	typ := jsapi.TypeMsgDeleteResponse
	var req jsapi.MsgDeleteRequest
	st := e.streamRequest(r, typ, name, &req, false)
	if st == nil {
		return
	}
	if apiErr := st.deleteMsg(req.Seq); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.MsgDeleteResponse{APIResponse: jsapi.APIResponse{Type: typ}, Success: true})
}

// directGet answers DIRECT.GET.<stream> (JSON body) and, with lastSubj set,
// DIRECT.GET.<stream>.<subject> (ADR-31): the message itself with
// Nats-Stream/-Subject/-Sequence/-Time-Stamp headers, or a status: 404
// Message Not Found, 408 for an empty or malformed request, 503 (no
// responders, as nats-server has no subscription) when the stream is absent
// or does not allow direct gets. A stored payload over 64 KiB is sent
// from its extents (decoded one chunk at a time on a compressed stream),
// so a large message is never read into memory.
func (e *Engine) directGet(r *apiReq, name, lastSubj string) {
	if len(r.reply) == 0 {
		return
	}
	st := e.lookup(name)
	if st == nil || !st.Config().AllowDirect {
		st = e.directMirrorOf(name) // feed.go
	}
	if st == nil {
		e.sendStatus(r.reply, jsapi.AppendNoResponders(nil))
		return
	}
	var req jsapi.MsgGetRequest
	if lastSubj != "" {
		req.LastFor = lastSubj
	} else {
		if len(r.data) == 0 {
			e.sendStatus(r.reply, jsapi.AppendStatus(nil, 408, "Empty Request"))
			return
		}
		if decode(r.data, &req, false) != nil || !validGet(&req) {
			e.sendStatus(r.reply, jsapi.AppendStatus(nil, 408, "Malformed Request"))
			return
		}
	}
	var sm log.StoredMsg
	if seq, err := findMsg(st.store.Reader(), &req, &sm); err != nil {
		e.sendStatus(r.reply, directGetError(err, seq))
		return
	}
	if !r.mayRead(sm.Subject) {
		e.sendStatus(r.reply, jsapi.AppendStatus(nil, 403, readDeniedText(sm.Subject)))
		return
	}
	hdr := jsapi.AppendDirectGetHeader(nil, sm.Hdr, st.name, sm.Subject, sm.Seq, time.Unix(0, sm.Time))
	if sm.Size <= 64<<10 {
		data, err := sm.ReadPayload(nil)
		if err != nil {
			e.sendStatus(r.reply, directGetError(err, sm.Seq))
			return
		}
		e.srv.Deliver(r.reply, nil, hdr, data)
		return
	}
	if sm.Compressed {
		// Decoded chunk by chunk as the client drains (stored_payload.go).
		p, err := newStoredPayload(&sm)
		if err != nil {
			e.sendStatus(r.reply, jsapi.AppendMessageNotFound(nil))
			return
		}
		e.srv.DeliverExtents(r.reply, nil, hdr, nil, []broker.Extent{{R: p, Len: p.Size()}}, int64(len(hdr))+p.Size())
		return
	}
	ext := make([]broker.Extent, len(sm.Extents))
	for i, x := range sm.Extents {
		ext[i] = broker.Extent{R: x.R, Off: x.Off, Len: x.Len}
	}
	e.srv.DeliverExtents(r.reply, nil, hdr, nil, ext, int64(len(hdr))+sm.Size)
}

// directGetError is the status a failed direct get answers: 404 Message
// Not Found, or, for a damaged message, 500 with a description naming it
// (nats.go reports it as "nats: message 42 is damaged"); nats-server
// answers 404 for every error.
func directGetError(err error, seq uint64) []byte {
	if errors.Is(err, log.ErrCorrupt) {
		return jsapi.AppendStatus(nil, 500, damagedText(seq))
	}
	return jsapi.AppendMessageNotFound(nil)
}

// sendStatus sends a header-only status message to reply.
func (e *Engine) sendStatus(reply, hdr []byte) {
	e.srv.Deliver(reply, nil, hdr, nil)
}

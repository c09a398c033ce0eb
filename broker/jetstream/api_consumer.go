package jetstream

import (
	"bytes"

	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
)

// The CONSUMER.* operations are routed to the stream's consumer.Set (see
// consumer/contract.go); this file only finds the stream, decodes the
// request and encodes the answer.

// consumerCreate answers CONSUMER.CREATE.<stream>[.<name>[.<filter>]] and
// CONSUMER.DURABLE.CREATE.<stream>.<durable>.
func (e *Engine) consumerCreate(r *apiReq, s jsapi.APISubject) {
	typ := jsapi.TypeConsumerCreateResponse
	var req jsapi.CreateConsumerRequest
	if apiErr := decode(r.data, &req, false); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	name := string(s.Stream)
	if req.Stream != "" && req.Stream != name {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamMismatch))
		return
	}
	st := e.lookup(name)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	cname, filter := string(s.Consumer), string(s.Subject)
	if s.Op == jsapi.OpDurableCreate && req.Config.Durable == "" {
		// The legacy durable API names the consumer only in the subject.
		req.Config.Durable = cname
	}
	fs := append([]string{filter, req.Config.FilterSubject}, req.Config.FilterSubjects...)
	if f, denied := r.deniedFilter(st, fs...); denied {
		e.respondErr(r.reply, typ, readDenied(f))
		return
	}
	req.Config.Metadata = withRequiredLevel(req.Config.Metadata, consumerRequiredLevel(&req.Config))
	if max := e.o.MaxConsumers; max > 0 && e.accountConsumerCount() >= max && !e.consumerExists(st, cname, &req) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeMaximumConsumersLimit))
		return
	}
	info, apiErr := st.cons.Create(&req, cname, filter)
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.ConsumerCreateResponse{APIResponse: jsapi.APIResponse{Type: typ}, ConsumerInfo: withConsumerServerLevel(info)})
}

// consumerInfo answers CONSUMER.INFO.<stream>.<consumer>.
func (e *Engine) consumerInfo(r *apiReq, stream, name string) {
	typ := jsapi.TypeConsumerInfoResponse
	st := e.lookup(stream)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	info, apiErr := st.cons.Info(name)
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.ConsumerInfoResponse{APIResponse: jsapi.APIResponse{Type: typ}, ConsumerInfo: withConsumerServerLevel(info)})
}

// consumerDelete answers CONSUMER.DELETE.<stream>.<consumer>.
func (e *Engine) consumerDelete(r *apiReq, stream, name string) {
	typ := jsapi.TypeConsumerDeleteResponse
	st := e.lookup(stream)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	if apiErr := st.cons.Delete(name); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.ConsumerDeleteResponse{APIResponse: jsapi.APIResponse{Type: typ}, Success: true})
}

// consumerNames answers CONSUMER.NAMES.<stream>.
func (e *Engine) consumerNames(r *apiReq, stream string) {
	typ := jsapi.TypeConsumerNamesResponse
	var req jsapi.ConsumerNamesRequest
	if apiErr := decode(r.data, &req, true); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	st := e.lookup(stream)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	names := st.cons.Names()
	lo, hi := page(len(names), req.Offset, jsapi.NamesLimit)
	e.respond(r.reply, &jsapi.ConsumerNamesResponse{APIResponse: jsapi.APIResponse{Type: typ},
		APIPaged:  jsapi.APIPaged{Total: len(names), Offset: lo, Limit: jsapi.NamesLimit},
		Consumers: append([]string{}, names[lo:hi]...)})
}

// consumerList answers CONSUMER.LIST.<stream>.
func (e *Engine) consumerList(r *apiReq, stream string) {
	typ := jsapi.TypeConsumerListResponse
	var req jsapi.ConsumerNamesRequest
	if apiErr := decode(r.data, &req, true); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	st := e.lookup(stream)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	list := st.cons.List()
	lo, hi := page(len(list), req.Offset, jsapi.ListLimit)
	for _, info := range list[lo:hi] {
		withConsumerServerLevel(info)
	}
	e.respond(r.reply, &jsapi.ConsumerListResponse{APIResponse: jsapi.APIResponse{Type: typ},
		APIPaged:  jsapi.APIPaged{Total: len(list), Offset: lo, Limit: jsapi.ListLimit},
		Consumers: append([]*jsapi.ConsumerInfo{}, list[lo:hi]...)})
}

// consumerNext routes CONSUMER.MSG.NEXT.<stream>.<consumer> (a pull
// request) to the stream's consumers; without the stream the requester gets
// a 503, as from a server with no such subscription.
func (e *Engine) consumerNext(r *apiReq, stream, name string) {
	st := e.lookup(stream)
	if st == nil {
		if len(r.reply) > 0 {
			e.sendStatus(r.reply, jsapi.AppendNoResponders(nil))
		}
		return
	}
	if r.perms != nil {
		info, apiErr := st.cons.Info(name)
		if apiErr == nil && info.Config != nil {
			fs := append([]string{info.Config.FilterSubject}, info.Config.FilterSubjects...)
			if f, denied := r.deniedFilter(st, fs...); denied {
				if len(r.reply) > 0 {
					e.sendStatus(r.reply, jsapi.AppendStatus(nil, 403, readDeniedText(f)))
				}
				return
			}
		}
	}
	st.cons.Next(name, r.reply, r.data)
}

// consumerPause answers CONSUMER.PAUSE.<stream>.<consumer>: a body with a
// pause_until in the future pauses the consumer until then; an empty body
// or a zero (or past) time resumes it. A body that is not a JSON object is
// taken as empty, as nats-server does.
func (e *Engine) consumerPause(r *apiReq, stream, name string) {
	typ := jsapi.TypeConsumerPauseResponse
	var req jsapi.ConsumerPauseRequest
	if b := bytes.TrimSpace(r.data); len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		if apiErr := decode(b, &req, false); apiErr != nil {
			e.respondErr(r.reply, typ, apiErr)
			return
		}
	}
	st := e.lookup(stream)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	ps, apiErr := st.cons.Pause(name, req.PauseUntil)
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.ConsumerPauseResponse{APIResponse: jsapi.APIResponse{Type: typ},
		Paused: ps.Paused, PauseUntil: ps.PauseUntil, PauseRemaining: ps.Remaining})
}

// consumerReset answers CONSUMER.RESET.<stream>.<consumer> ({"seq":n}, or
// an empty body for the ack floor; consumer/reset.go).
func (e *Engine) consumerReset(r *apiReq, stream, name string) {
	typ := jsapi.TypeConsumerResetResponse
	var req jsapi.ConsumerResetRequest
	if len(bytes.TrimSpace(r.data)) > 0 {
		if apiErr := decode(r.data, &req, false); apiErr != nil {
			e.respondErr(r.reply, typ, apiErr)
			return
		}
	}
	st := e.lookup(stream)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	seq, info, apiErr := st.cons.Reset(name, req.Seq)
	if apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.ConsumerResetResponse{APIResponse: jsapi.APIResponse{Type: typ},
		ConsumerInfo: withConsumerServerLevel(info), ResetSeq: seq})
}

// consumerUnpin answers CONSUMER.UNPIN.<stream>.<consumer> ({"group":…}):
// the pinned client of a pinned_client consumer's group loses its pin.
func (e *Engine) consumerUnpin(r *apiReq, stream, name string) {
	typ := jsapi.TypeConsumerUnpinResponse
	var req jsapi.ConsumerUnpinRequest
	if apiErr := decode(r.data, &req, false); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	// The group is checked before the stream, as nats-server does.
	if apiErr := consumer.CheckUnpinGroup(req.Group); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	st := e.lookup(stream)
	if st == nil {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
		return
	}
	if apiErr := st.cons.Unpin(name, req.Group); apiErr != nil {
		e.respondErr(r.reply, typ, apiErr)
		return
	}
	e.respond(r.reply, &jsapi.APIResponse{Type: typ})
}

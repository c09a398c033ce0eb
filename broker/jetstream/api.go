package jetstream

import (
	"encoding/json"
	"sync"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// apiReq is one $JS.API request, copied off the publisher's event loop.
// subject, reply, hdr and data alias one buffer the request owns.
type apiReq struct {
	subject, reply, hdr, data []byte
	// hops counts how often another member forwarded it (forward.go).
	hops int
}

// apiQueue hands API requests from the publishers' event loops (where the
// internal subscription's handler runs and must not block) to one worker
// goroutine that serves them in arrival order. The queue is unbounded: a
// request is small (at most broker.MaxInternalMsg) and the handler cannot
// push back on an event loop.
type apiQueue struct {
	e    *Engine
	wake chan struct{} // capacity 1: "the queue may be non-empty"
	done chan struct{} // closed when the worker exits

	mu struct {
		sync.Mutex
		q      []apiReq
		spare  []apiReq
		closed bool
	}
}

func newAPIQueue(e *Engine) *apiQueue {
	q := &apiQueue{e: e, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// enqueue is the internal subscription's handler: it copies m and queues
// it. Safe on any goroutine; never blocks.
func (q *apiQueue) enqueue(m *broker.InternalMsg) { q.enqueueHops(m, 0) }

// enqueueHops queues m as a request forwarded hops times.
func (q *apiQueue) enqueueHops(m *broker.InternalMsg, hops int) {
	n := len(m.Subject) + len(m.Reply) + len(m.Hdr) + len(m.Data)
	b := make([]byte, 0, n)
	b = append(b, m.Subject...)
	b = append(b, m.Reply...)
	b = append(b, m.Hdr...)
	b = append(b, m.Data...)
	i, j, k := len(m.Subject), len(m.Subject)+len(m.Reply), len(m.Subject)+len(m.Reply)+len(m.Hdr)
	r := apiReq{subject: b[:i:i], reply: b[i:j:j], hdr: b[j:k:k], data: b[k:], hops: hops}
	q.mu.Lock()
	if q.mu.closed {
		q.mu.Unlock()
		return
	}
	q.mu.q = append(q.mu.q, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run serves requests until close.
func (q *apiQueue) run() {
	defer close(q.done)
	for range q.wake {
		for {
			q.mu.Lock()
			batch := q.mu.q
			q.mu.q, q.mu.spare = q.mu.spare[:0], nil // never let q and spare share an array
			closed := q.mu.closed
			q.mu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			for i := range batch {
				q.e.handle(&batch[i])
				batch[i] = apiReq{}
			}
			q.mu.Lock()
			q.mu.spare = batch[:0]
			q.mu.Unlock()
		}
		q.mu.Lock()
		closed := q.mu.closed && len(q.mu.q) == 0
		q.mu.Unlock()
		if closed {
			return
		}
	}
}

// close stops accepting requests, lets the worker finish what is queued,
// and waits for it.
func (q *apiQueue) close() {
	q.mu.Lock()
	if q.mu.closed {
		q.mu.Unlock()
		<-q.done
		return
	}
	q.mu.closed = true
	q.mu.Unlock()
	close(q.wake)
	<-q.done
}

// handle serves one API request. Every request with a reply gets an
// answer; a request the server cannot parse gets nats-server's "bad
// request" system response.
func (e *Engine) handle(r *apiReq) {
	e.apiTotal.Add(1)
	s, ok := jsapi.ParseAPISubject(r.subject)
	if !ok {
		e.respondErr(r.reply, jsapi.TypeSystemResponse, jsapi.NewAPIError(jsapi.ErrCodeBadRequest))
		return
	}
	if e.forwardAPI(r, s) {
		return
	}
	stream := string(s.Stream)
	switch s.Op {
	case jsapi.OpAccountInfo:
		e.accountInfo(r)
	case jsapi.OpStreamCreate:
		e.streamCreate(r, stream)
	case jsapi.OpStreamUpdate:
		e.streamUpdate(r, stream)
	case jsapi.OpStreamInfo:
		e.streamInfo(r, stream)
	case jsapi.OpStreamDelete:
		e.streamDelete(r, stream)
	case jsapi.OpStreamPurge:
		e.streamPurge(r, stream)
	case jsapi.OpStreamNames:
		e.streamNames(r)
	case jsapi.OpStreamList:
		e.streamList(r)
	case jsapi.OpMsgGet:
		e.msgGet(r, stream)
	case jsapi.OpMsgDelete:
		e.msgDelete(r, stream)
	case jsapi.OpDirectGet:
		e.directGet(r, stream, "")
	case jsapi.OpDirectGetLast:
		e.directGet(r, stream, string(s.Subject))
	case jsapi.OpConsumerCreate, jsapi.OpDurableCreate:
		e.consumerCreate(r, s)
	case jsapi.OpConsumerInfo:
		e.consumerInfo(r, stream, string(s.Consumer))
	case jsapi.OpConsumerDelete:
		e.consumerDelete(r, stream, string(s.Consumer))
	case jsapi.OpConsumerNames:
		e.consumerNames(r, stream)
	case jsapi.OpConsumerList:
		e.consumerList(r, stream)
	case jsapi.OpConsumerNext:
		e.consumerNext(r, stream, string(s.Consumer))
	case jsapi.OpStreamLeaderStepDown:
		e.stepDown(r, stream)
	default:
		// Snapshots, restores, leader step-downs, pause, unpin, reset:
		// not offered by this server.
		e.respondErr(r.reply, s.Op.ResponseType(), jsapi.NewAPIError(jsapi.ErrCodeBadRequest))
	}
}

// respond sends v as JSON to reply.
func (e *Engine) respond(reply []byte, v any) {
	if len(reply) == 0 {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.log.Error("jetstream: encode response", "err", err)
		e.respondErr(reply, jsapi.TypeSystemResponse, jsapi.NewAPIError(jsapi.ErrCodeStreamGeneral, err.Error()))
		return
	}
	e.srv.Deliver(reply, nil, nil, b)
}

// respondErr sends {"type":typ,"error":{...}} to reply and counts the error.
func (e *Engine) respondErr(reply []byte, typ string, apiErr *jsapi.APIError) {
	e.apiErrors.Add(1)
	if len(reply) == 0 {
		return
	}
	buf := e.srvBuf()
	buf.b = jsapi.AppendErrorResponse(buf.b[:0], typ, apiErr)
	e.srv.Deliver(reply, nil, nil, buf.b)
	e.putBuf(buf)
}

// decode unmarshals a request body into v; an empty body leaves v as it is
// when optional. The error is nats-server's "invalid JSON" (10025).
func decode(data []byte, v any, optional bool) *jsapi.APIError {
	if len(data) == 0 && optional {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return jsapi.NewAPIError(jsapi.ErrCodeInvalidJSON, err.Error())
	}
	return nil
}

// replyBuf is a pooled scratch buffer for encoded replies.
type replyBuf struct{ b []byte }

func (e *Engine) srvBuf() *replyBuf {
	if v := e.bufs.Get(); v != nil {
		return v.(*replyBuf)
	}
	return &replyBuf{b: make([]byte, 0, 256)}
}

func (e *Engine) putBuf(b *replyBuf) {
	if cap(b.b) <= 64<<10 {
		e.bufs.Put(b)
	}
}

// accountInfo answers $JS.API.INFO.
func (e *Engine) accountInfo(r *apiReq) {
	mem, store, streams, consumers := e.usage()
	if remote := e.remoteListed(); len(remote) > 0 {
		// Streams placed on other members: their leaders have the
		// numbers (nonmember_info.go); not on the API worker.
		go func(r apiReq) {
			bytes, cons := e.remoteUsage(remote)
			e.respondAccountInfo(&r, mem, store+bytes, streams+len(remote), consumers+cons)
		}(*r)
		return
	}
	e.respondAccountInfo(r, mem, store, streams, consumers)
}

// respondAccountInfo answers $JS.API.INFO with the given usage.
func (e *Engine) respondAccountInfo(r *apiReq, mem, store uint64, streams, consumers int) {
	lim := func(v int64) int64 {
		if v <= 0 {
			return -1
		}
		return v
	}
	info := &jsapi.AccountInfo{
		Tier: jsapi.Tier{
			Memory: mem, Store: store, Streams: streams, Consumers: consumers,
			Limits: jsapi.AccountLimits{
				MaxMemory: lim(e.o.MaxMemory), MaxStore: lim(e.o.MaxStore),
				MaxStreams: -1, MaxConsumers: -1, MaxAckPending: -1,
				MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1,
			},
		},
		API: jsapi.APIStats{Level: jsapi.BargeAPILevel, Total: e.apiTotal.Load(), Errors: e.apiErrors.Load()},
	}
	e.respond(r.reply, &jsapi.AccountInfoResponse{APIResponse: jsapi.APIResponse{Type: jsapi.TypeAccountInfoResponse}, AccountInfo: info})
}

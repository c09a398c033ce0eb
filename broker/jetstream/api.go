package jetstream

import (
	"encoding/json"
	"sync"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// apiReq is one $JS.API request, copied off the publisher's event loop.
// subject, reply, hdr and data alias one buffer the request owns.
type apiReq struct {
	subject, reply, hdr, data []byte
	// hops counts how often another member forwarded it (forward.go).
	hops int
	// perms are the requester's permissions, checked by reads
	// (readperm.go); nil restricts nothing.
	perms *auth.Perms
	// oversize is the size of a request over broker.MaxInternalMsg,
	// whose body the broker did not hand over (hdr and data are nil): it
	// is answered with an error.
	oversize int64
}

// apiQueue hands API requests from the publishers' event loops (where the
// internal subscription's handler runs and must not block) to goroutines
// that serve them. Requests about one stream (STREAM.*, CONSUMER.*, MSG.*,
// DIRECT.GET for a name) form a lane: they are served one at a time, in
// arrival order, by a goroutine that lives while the lane has requests.
// Requests about no stream ($JS.API.INFO, STREAM.NAMES, STREAM.LIST, and
// unparsable subjects) are each served on a goroutine of their own. So a
// slow request (a create with many subjects, a purge's fsync, a replicated
// create waiting on raft) holds up only the later requests about its
// stream, while a stream's create, update, consumer create and pull
// requests keep their order. Queues are unbounded: the handler cannot push
// back on an event loop, and a request is at most broker.MaxInternalMsg.
//
// The goroutines are reused: one that is done parks (up to maxParkedAPI of
// them) and takes the next lane or request, so a steady request load does
// not pay for a new goroutine and its stack growth every time (15% of
// barge's CPU in an Object Store put of 1 KiB objects, one lane per put).
type apiQueue struct {
	e  *Engine
	wg sync.WaitGroup // one per worker goroutine, running or parked

	// idle hands work to a parked worker; unbuffered, so a send succeeds
	// only when one is waiting. Closed by close.
	idle chan apiWork

	mu struct {
		sync.Mutex
		// lanes are the streams with requests queued or being served.
		lanes  map[string]*apiLane
		closed bool
		parked int // workers waiting on idle
	}
}

// maxParkedAPI bounds the idle API workers kept for reuse.
const maxParkedAPI = 8

// apiWork is what a worker serves next: lane l named lane, or the one
// stream-less request req.
type apiWork struct {
	lane string
	l    *apiLane
	req  *apiReq
}

// apiLane is one stream's queue; apiQueue.mu guards q.
type apiLane struct {
	q []apiReq
}

func newAPIQueue(e *Engine) *apiQueue {
	q := &apiQueue{e: e, idle: make(chan apiWork)}
	q.mu.lanes = make(map[string]*apiLane)
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
	r := apiReq{subject: b[:i:i], reply: b[i:j:j], hdr: b[j:k:k], data: b[k:], hops: hops, oversize: m.Oversize, perms: m.Perms}
	var lane string
	if s, ok := jsapi.ParseAPISubject(r.subject); ok {
		lane = string(s.Stream)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.closed {
		return
	}
	if lane == "" {
		q.dispatchLocked(apiWork{req: &r})
		return
	}
	if l := q.mu.lanes[lane]; l != nil {
		l.q = append(l.q, r)
		return
	}
	l := &apiLane{q: []apiReq{r}}
	q.mu.lanes[lane] = l
	q.dispatchLocked(apiWork{lane: lane, l: l})
}

// dispatchLocked hands w to a parked worker, or starts one. q.mu is held
// (so close cannot close idle meanwhile); the send never blocks.
func (q *apiQueue) dispatchLocked(w apiWork) {
	select {
	case q.idle <- w:
	default:
		q.wg.Add(1)
		go q.worker(w)
	}
}

// worker serves w, then parks for more work while fewer than maxParkedAPI
// workers are parked and the queue is open.
func (q *apiQueue) worker(w apiWork) {
	defer q.wg.Done()
	for {
		if w.req != nil {
			q.e.handle(w.req)
		} else {
			q.run(w.lane, w.l)
		}
		q.mu.Lock()
		if q.mu.closed || q.mu.parked >= maxParkedAPI {
			q.mu.Unlock()
			return
		}
		q.mu.parked++
		q.mu.Unlock()
		next, ok := <-q.idle
		q.mu.Lock()
		q.mu.parked--
		q.mu.Unlock()
		if !ok {
			return
		}
		w = next
	}
}

// run serves lane l until it is empty.
func (q *apiQueue) run(name string, l *apiLane) {
	for {
		q.mu.Lock()
		if len(l.q) == 0 {
			delete(q.mu.lanes, name)
			q.mu.Unlock()
			return
		}
		r := l.q[0]
		l.q[0] = apiReq{}
		l.q = l.q[1:]
		q.mu.Unlock()
		q.e.handle(&r)
	}
}

// close stops accepting requests, lets the lanes finish what is queued,
// and waits for them.
func (q *apiQueue) close() {
	q.mu.Lock()
	already := q.mu.closed
	q.mu.closed = true
	q.mu.Unlock()
	if !already {
		close(q.idle)
	}
	q.wg.Wait()
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
	if r.oversize > 0 {
		e.refuseOversize(r, s)
		return
	}
	if e.refuseUnclustered(r, s) {
		return
	}
	if levelChecked(s.Op) && levelTooHigh(r.hdr) {
		e.respondErr(r.reply, s.Op.ResponseType(), jsapi.NewAPIError(jsapi.ErrCodeRequiredAPILevel))
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
	case jsapi.OpConsumerPause:
		e.consumerPause(r, stream, string(s.Consumer))
	case jsapi.OpConsumerUnpin:
		e.consumerUnpin(r, stream, string(s.Consumer))
	case jsapi.OpConsumerReset:
		e.consumerReset(r, stream, string(s.Consumer))
	case jsapi.OpStreamLeaderStepDown:
		e.stepDown(r, stream)
	case jsapi.OpStreamSnapshot:
		e.streamSnapshot(r, stream)
	case jsapi.OpStreamRestore:
		e.streamRestore(r, stream)
	default:
		// Consumer leader step-downs: not offered by this server.
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
		e.respondErr(reply, jsapi.TypeSystemResponse, jsapi.NewAPIError(jsapi.ErrCodeStreamGeneral, "response encoding failed"))
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
	buf.b = jsapi.AppendErrorResponse(buf.b[:0], typ, e.publicErr(apiErr))
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
	limN := func(v int) int {
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
				MaxStreams: limN(e.o.MaxStreams), MaxConsumers: limN(e.o.MaxConsumers), MaxAckPending: -1,
				MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1,
			},
		},
		API: jsapi.APIStats{Level: jsapi.BargeAPILevel, Total: e.apiTotal.Load(), Errors: e.apiErrors.Load()},
	}
	e.respond(r.reply, &jsapi.AccountInfoResponse{APIResponse: jsapi.APIResponse{Type: jsapi.TypeAccountInfoResponse}, AccountInfo: info})
}

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const apiPrefix = "$JS.API."

// apiError is nats-server's error object in an API reply.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

var (
	errStreamNotFound   = &apiError{404, 10059, "stream not found"}
	errConsumerNotFound = &apiError{404, 10014, "consumer not found"}
	errNoMessage        = &apiError{404, 10037, "no message found"}
	errStreamNameInUse  = &apiError{400, 10058, "stream name already in use with a different configuration"}
)

func errBadRequest(what string) *apiError {
	return &apiError{400, 10003, "bad request: " + what}
}

// errNotHere answers an API call the ceiling does not implement, so a
// client fails at once instead of waiting for a reply.
func errNotHere(api string) *apiError {
	return &apiError{400, 10003, "ceiling: " + api + " is not implemented (the benchmark yardstick only serves the suite's workloads)"}
}

// request handles a message to a $JS. subject: an API call, an ack
// (ignored; answered empty when it asks for a reply) or a flow-control reply.
func (js *jetStream) request(c *conn, subj, reply []byte, hdrLen int, payload []byte) {
	_, body := splitHdr(payload, hdrLen)
	switch {
	case bytes.HasPrefix(subj, []byte("$JS.ACK.")):
		if len(reply) > 0 {
			js.s.publishTo(&c.out, reply, "", nil, nil)
		}
	case bytes.HasPrefix(subj, []byte("$JS.FC.")):
		js.flowControlReply(subj)
	case bytes.HasPrefix(subj, []byte(apiPrefix)):
		js.api(c, string(subj[len(apiPrefix):]), reply, body)
	}
}

// api answers one JetStream API call.
func (js *jetStream) api(c *conn, api string, reply, body []byte) {
	t := strings.Split(api, ".")
	arg := func(i int) string {
		if i < len(t) {
			return t[i]
		}
		return ""
	}
	var resp any
	switch {
	case api == "INFO":
		resp = js.accountInfo()
	case len(t) == 3 && t[0] == "STREAM" && (t[1] == "CREATE" || t[1] == "UPDATE"):
		resp = js.createStream(t[2], t[1] == "UPDATE", body)
	case len(t) == 3 && t[0] == "STREAM" && t[1] == "INFO":
		resp = js.streamInfo(t[2], "stream_info_response")
	case len(t) == 3 && t[0] == "STREAM" && t[1] == "DELETE":
		resp = js.deleteStream(t[2])
	case len(t) == 3 && t[0] == "STREAM" && t[1] == "PURGE":
		resp = js.purge(t[2], body)
	case len(t) == 2 && t[0] == "STREAM" && (t[1] == "NAMES" || t[1] == "LIST"):
		resp = js.streamNames(body)
	case len(t) == 4 && t[0] == "STREAM" && t[1] == "MSG" && t[2] == "GET":
		resp = js.msgGet(t[3], body)
	case len(t) >= 3 && t[0] == "DIRECT" && t[1] == "GET":
		js.directGet(c, t[2], strings.Join(t[3:], "."), reply, body)
		return
	case len(t) >= 3 && t[0] == "CONSUMER" && t[1] == "CREATE":
		resp = js.createConsumer(t[2], arg(3), body)
	case len(t) == 5 && t[0] == "CONSUMER" && t[1] == "DURABLE" && t[2] == "CREATE":
		resp = js.createConsumer(t[3], t[4], body)
	case len(t) == 4 && t[0] == "CONSUMER" && t[1] == "INFO":
		resp = js.consumerInfo(t[2], t[3])
	case len(t) == 4 && t[0] == "CONSUMER" && t[1] == "DELETE":
		resp = js.deleteConsumerAPI(t[2], t[3])
	case len(t) == 5 && t[0] == "CONSUMER" && t[1] == "MSG" && t[2] == "NEXT":
		js.pull(c, t[3], t[4], reply, body)
		return
	default:
		resp = map[string]any{"type": "io.nats.jetstream.api.v1.error_response", "error": errNotHere("$JS.API." + api)}
	}
	if len(reply) == 0 {
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		b = []byte(`{"error":{"code":500,"err_code":10003,"description":"ceiling: reply not encodable"}}`)
	}
	js.s.publishTo(&c.out, reply, "", nil, b)
}

func failed(typ string, e *apiError) map[string]any {
	return map[string]any{"type": "io.nats.jetstream.api.v1." + typ, "error": e}
}

func (js *jetStream) accountInfo() any {
	js.mu.Lock()
	defer js.mu.Unlock()
	var mem uint64
	consumers := 0
	for _, st := range js.streams {
		mem += st.bytes
		consumers += len(st.consumers)
	}
	return map[string]any{"type": "io.nats.jetstream.api.v1.account_info_response", "memory": mem, "storage": 0,
		"streams": len(js.streams), "consumers": consumers,
		"limits": map[string]any{"max_memory": -1, "max_storage": -1, "max_streams": -1, "max_consumers": -1},
		"api":    map[string]any{"total": 0, "errors": 0}}
}

type streamConfig struct {
	Name     string          `json:"name"`
	Subjects []string        `json:"subjects"`
	Mirror   json.RawMessage `json:"mirror"`
	Sources  json.RawMessage `json:"sources"`
}

func (js *jetStream) createStream(name string, update bool, body []byte) any {
	typ := "stream_create_response"
	if update {
		typ = "stream_update_response"
	}
	var cfg streamConfig
	if err := json.Unmarshal(body, &cfg); err != nil {
		return failed(typ, errBadRequest(err.Error()))
	}
	if cfg.Name != "" && cfg.Name != name {
		return failed(typ, &apiError{400, 10056, "stream name in subject does not match request"})
	}
	if (len(cfg.Mirror) > 0 && string(cfg.Mirror) != "null") || (len(cfg.Sources) > 0 && string(cfg.Sources) != "null") {
		return failed(typ, errNotHere("mirrors and sources"))
	}
	if len(cfg.Subjects) == 0 {
		cfg.Subjects = []string{name}
	}
	js.mu.Lock()
	st := js.streams[name]
	switch {
	case st == nil && update:
		js.mu.Unlock()
		return failed(typ, errStreamNotFound)
	case st == nil:
		st = &stream{name: name, created: time.Now().UTC(), consumers: map[string]*consumer{},
			pubAck: fmt.Appendf(nil, "{%q:%q,%q:", "stream", name, "seq"), first: 1}
		js.streams[name] = st
	case !update && !bytes.Equal(st.cfg, body):
		js.mu.Unlock()
		return failed(typ, errStreamNameInUse)
	}
	st.cfg, st.subjects = append(json.RawMessage(nil), body...), cfg.Subjects
	js.relist()
	js.mu.Unlock()
	return js.streamInfo(name, typ)
}

func (js *jetStream) streamInfo(name, typ string) any {
	js.mu.Lock()
	defer js.mu.Unlock()
	st := js.streams[name]
	if st == nil {
		return failed(typ, errStreamNotFound)
	}
	state := map[string]any{"messages": st.count, "bytes": st.bytes, "first_seq": st.first, "last_seq": st.last,
		"consumer_count": len(st.consumers)}
	if m := st.at(st.first); m != nil {
		state["first_ts"] = time.Unix(0, m.ts).UTC()
	}
	if m := st.at(st.last); m != nil {
		state["last_ts"] = time.Unix(0, m.ts).UTC()
	}
	return map[string]any{"type": "io.nats.jetstream.api.v1." + typ, "config": st.cfg, "created": st.created,
		"state": state, "ts": time.Now().UTC()}
}

func (js *jetStream) deleteStream(name string) any {
	const typ = "stream_delete_response"
	js.mu.Lock()
	defer js.mu.Unlock()
	st := js.streams[name]
	if st == nil {
		return failed(typ, errStreamNotFound)
	}
	for _, cons := range st.consumers {
		js.deleteConsumerLocked(cons)
	}
	delete(js.streams, name)
	js.relist()
	return map[string]any{"type": "io.nats.jetstream.api.v1." + typ, "success": true}
}

func (js *jetStream) purge(name string, body []byte) any {
	const typ = "stream_purge_response"
	var rq struct {
		Filter string `json:"filter"`
		Seq    uint64 `json:"seq"`
		Keep   uint64 `json:"keep"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &rq); err != nil {
			return failed(typ, errBadRequest(err.Error()))
		}
	}
	if rq.Seq > 0 || rq.Keep > 0 {
		return failed(typ, errNotHere("purge with seq or keep"))
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	st := js.streams[name]
	if st == nil {
		return failed(typ, errStreamNotFound)
	}
	n := st.removeLocked(func(m *smsg) bool {
		return rq.Filter == "" || rq.Filter == string(m.subj) || subjectMatches(rq.Filter, m.subj)
	})
	return map[string]any{"type": "io.nats.jetstream.api.v1." + typ, "success": true, "purged": n}
}

func (js *jetStream) streamNames(body []byte) any {
	var rq struct {
		Subject string `json:"subject"`
	}
	_ = json.Unmarshal(body, &rq)
	names := []string{}
	if rq.Subject != "" {
		if st := js.capturing([]byte(rq.Subject)); st != nil {
			names = append(names, st.name)
		}
	} else {
		js.mu.Lock()
		for n := range js.streams {
			names = append(names, n)
		}
		js.mu.Unlock()
	}
	return map[string]any{"type": "io.nats.jetstream.api.v1.stream_names_response", "total": len(names), "offset": 0,
		"limit": 1024, "streams": names}
}

type msgGetRequest struct {
	Seq     uint64 `json:"seq"`
	LastFor string `json:"last_by_subj"`
}

// lookup finds the message a get asks for. js.mu held.
func (js *jetStream) lookupLocked(st *stream, rq msgGetRequest) *smsg {
	if rq.LastFor != "" {
		return st.lastFor(rq.LastFor)
	}
	return st.at(rq.Seq)
}

func (js *jetStream) msgGet(name string, body []byte) any {
	const typ = "stream_msg_get_response"
	var rq msgGetRequest
	if err := json.Unmarshal(body, &rq); err != nil {
		return failed(typ, errBadRequest(err.Error()))
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	st := js.streams[name]
	if st == nil {
		return failed(typ, errStreamNotFound)
	}
	m := js.lookupLocked(st, rq)
	if m == nil {
		return failed(typ, errNoMessage)
	}
	return map[string]any{"type": "io.nats.jetstream.api.v1." + typ, "message": map[string]any{
		"subject": string(m.subj), "seq": m.seq, "hdrs": m.hdr, "data": m.data, "time": time.Unix(0, m.ts).UTC()}}
}

// directGet answers $JS.API.DIRECT.GET.<stream>[.<subject>] with the stored
// message itself, its stream, subject, sequence and time in headers, or a
// 404 status.
func (js *jetStream) directGet(c *conn, name, lastFor string, reply, body []byte) {
	rq := msgGetRequest{LastFor: lastFor}
	if lastFor == "" {
		if err := json.Unmarshal(body, &rq); err != nil {
			js.s.publishTo(&c.out, reply, "", []byte("NATS/1.0 400 Bad Request\r\n\r\n"), nil)
			return
		}
	}
	js.mu.Lock()
	var m *smsg
	if st := js.streams[name]; st != nil {
		m = js.lookupLocked(st, rq)
	}
	js.mu.Unlock()
	if m == nil {
		js.s.publishTo(&c.out, reply, "", []byte("NATS/1.0 404 Message Not Found\r\n\r\n"), nil)
		return
	}
	h := append([]byte(nil), "NATS/1.0\r\nNats-Stream: "...)
	h = append(append(h, name...), "\r\nNats-Subject: "...)
	h = append(append(h, m.subj...), "\r\nNats-Sequence: "...)
	h = append(strconv.AppendUint(h, m.seq, 10), "\r\nNats-Time-Stamp: "...)
	h = append(time.Unix(0, m.ts).UTC().AppendFormat(h, time.RFC3339Nano), "\r\n"...)
	if m.hdr != nil {
		if i := bytes.Index(m.hdr, []byte(crlf)); i >= 0 {
			h = append(h, m.hdr[i+2:]...) // its header lines and the blank line
		}
	} else {
		h = append(h, crlf...)
	}
	js.s.publishTo(&c.out, reply, "", h, m.data)
}

type consumerConfig struct {
	Name           string        `json:"name"`
	Durable        string        `json:"durable_name"`
	DeliverSubject string        `json:"deliver_subject"`
	DeliverPolicy  string        `json:"deliver_policy"`
	OptStartSeq    uint64        `json:"opt_start_seq"`
	FilterSubject  string        `json:"filter_subject"`
	FilterSubjects []string      `json:"filter_subjects"`
	Heartbeat      time.Duration `json:"idle_heartbeat"`
	FlowControl    bool          `json:"flow_control"`
}

func (js *jetStream) createConsumer(stream, name string, body []byte) any {
	const typ = "consumer_create_response"
	var rq struct {
		Config json.RawMessage `json:"config"`
	}
	var cfg consumerConfig
	if err := json.Unmarshal(body, &rq); err != nil || len(rq.Config) == 0 {
		return failed(typ, errBadRequest("no consumer config"))
	}
	if err := json.Unmarshal(rq.Config, &cfg); err != nil {
		return failed(typ, errBadRequest(err.Error()))
	}
	if name == "" {
		name = cfg.Name
	}
	if name == "" {
		name = cfg.Durable
	}
	if name == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name = hex.EncodeToString(b[:])
	}
	var full map[string]any
	_ = json.Unmarshal(rq.Config, &full)
	full["name"] = name
	raw, _ := json.Marshal(full)
	cons := &consumer{name: name, cfg: raw, created: time.Now().UTC(), hb: cfg.Heartbeat, fc: cfg.FlowControl,
		stop: make(chan struct{}), filters: cfg.FilterSubjects}
	if cfg.FilterSubject != "" && cfg.FilterSubject != ">" {
		cons.filters = append(cons.filters, cfg.FilterSubject)
	}
	if cfg.DeliverSubject != "" {
		cons.deliver = []byte(cfg.DeliverSubject)
	}
	js.mu.Lock()
	st := js.streams[stream]
	if st == nil {
		js.mu.Unlock()
		return failed(typ, errStreamNotFound)
	}
	cons.st = st
	switch cfg.DeliverPolicy {
	case "", "all":
	case "by_start_sequence":
		cons.cursor = max(cfg.OptStartSeq, 1) - 1
	case "new":
		cons.cursor = st.last
	case "last":
		cons.cursor = st.last
		for seq := st.last; seq >= st.first && seq > 0; seq-- {
			if m := st.at(seq); m != nil && cons.matches(m.subj) {
				cons.cursor = seq - 1
				break
			}
		}
	default:
		js.mu.Unlock()
		return failed(typ, errNotHere("deliver policy "+cfg.DeliverPolicy))
	}
	if old := st.consumers[name]; old != nil {
		js.deleteConsumerLocked(old) // create or update: the new one starts over
	}
	st.consumers[name] = cons
	cons.recount(st)
	js.mu.Unlock()
	if cons.deliver != nil {
		go js.pushLoop(cons)
	}
	return js.consumerInfo(stream, name)
}

// consumerLocked finds consumer name of stream, or the API error saying
// which of the two is missing.
func (js *jetStream) consumerLocked(stream, name string) (*consumer, *apiError) {
	st := js.streams[stream]
	if st == nil {
		return nil, errStreamNotFound
	}
	if cons := st.consumers[name]; cons != nil {
		return cons, nil
	}
	return nil, errConsumerNotFound
}

func (js *jetStream) consumerInfo(stream, name string) any {
	const typ = "consumer_info_response"
	js.mu.Lock()
	defer js.mu.Unlock()
	cons, aerr := js.consumerLocked(stream, name)
	if aerr != nil {
		return failed(typ, aerr)
	}
	return map[string]any{"type": "io.nats.jetstream.api.v1." + typ, "stream_name": stream, "name": name,
		"created": cons.created, "config": cons.cfg,
		"delivered":       map[string]any{"consumer_seq": cons.dseq, "stream_seq": cons.cursor},
		"ack_floor":       map[string]any{"consumer_seq": cons.dseq, "stream_seq": cons.cursor},
		"num_ack_pending": 0, "num_redelivered": 0, "num_waiting": len(cons.waiting), "num_pending": cons.pending,
		"ts": time.Now().UTC()}
}

func (js *jetStream) deleteConsumerAPI(stream, name string) any {
	const typ = "consumer_delete_response"
	js.mu.Lock()
	defer js.mu.Unlock()
	cons, aerr := js.consumerLocked(stream, name)
	if aerr != nil {
		return failed(typ, aerr)
	}
	js.deleteConsumerLocked(cons)
	return map[string]any{"type": "io.nats.jetstream.api.v1." + typ, "success": true}
}

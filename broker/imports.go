package broker

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/subject"
)

// Exports and imports: the only ways a message crosses accounts.
//
// A stream import of account B from account A is an internal subscription
// in A's sublist on the imported subject: each message published in A on
// it (by a local client, or sent by the server) is sent again in B, under
// the mapped subject, to B's subscribers here and on the peers. It is not
// advertised to the peers: every server has the same imports and maps the
// messages its own publishers send, so nothing is delivered twice.
//
// A service import of B from A is an internal subscription in B's sublist
// on the import's local subject: a request published there is sent in A on
// the exported subject with a reply subject of A's own, "_R_.<server>.<n>",
// and a pending response maps that reply back to the requester's reply in
// B. Each exporting account has one routed wildcard subscription on
// "_R_.<server>.>", so a responder on any member reaches the server that
// holds the mapping. A singleton response ends the mapping; a stream or
// chunked one keeps it until the response threshold (2 minutes) passes.
//
// Messages cross whole, except that a message over MaxInternalMsg (8 MiB)
// published by a client is streamed through a stream import to the
// importer's receivers, here and on the peers, piece by piece as it
// arrives (imports_large.go); such a message crosses one stream import
// only, and not a service import.

// ResponseType is a service export's response_type.
type ResponseType uint8

// Response types, nats-server's.
const (
	Singleton ResponseType = iota
	Streamed
	Chunked
)

// DefaultResponseThreshold is how long a stream or chunked service import
// keeps a request's reply mapping (nats-server's default threshold).
const DefaultResponseThreshold = 2 * time.Minute

// maxImportHops bounds the imports one message crosses, so that imports
// that form a cycle cannot send a message round for ever.
const maxImportHops = 8

// ErrBadMapping is returned for an import whose subjects cannot be mapped.
var ErrBadMapping = errors.New("broker: import subject mapping does not match the subject's wildcards")

// mapping turns subjects matching from into subjects matching to: the
// wildcard tokens of to take, in order, what the wildcards of from matched.
type mapping struct {
	from, to []string
	// identity: from and to are the same.
	identity bool
}

// CheckImport reports whether an import of subj mapped to to ("" for
// none) can be set up.
func CheckImport(subj, to string) error {
	if !subject.ValidSubscribe([]byte(subj)) || (to != "" && !subject.ValidSubscribe([]byte(to))) {
		return ErrInvalidSubject
	}
	_, err := newMapping(subj, to)
	return err
}

func newMapping(from, to string) (*mapping, error) {
	if to == "" || to == from {
		return &mapping{identity: true}, nil
	}
	m := &mapping{from: strings.Split(from, "."), to: strings.Split(to, ".")}
	if wildcards(m.from) != wildcards(m.to) {
		return nil, ErrBadMapping
	}
	for i, t := range m.to {
		if t == ">" && i != len(m.to)-1 {
			return nil, ErrBadMapping
		}
	}
	return m, nil
}

// wildcards describes the wildcard tokens of a subject in order.
func wildcards(toks []string) string {
	var b strings.Builder
	for _, t := range toks {
		if t == "*" || t == ">" {
			b.WriteString(t)
		}
	}
	return b.String()
}

// apply maps a literal subject that matches from.
func (m *mapping) apply(subj []byte) []byte {
	if m.identity {
		return subj
	}
	in := strings.Split(string(subj), ".")
	var caught []string
	for i, t := range m.from {
		switch t {
		case "*":
			if i < len(in) {
				caught = append(caught, in[i])
			}
		case ">":
			if i < len(in) {
				caught = append(caught, strings.Join(in[i:], "."))
			}
		}
	}
	out := make([]string, 0, len(m.to))
	k := 0
	for _, t := range m.to {
		if (t == "*" || t == ">") && k < len(caught) {
			out = append(out, caught[k])
			k++
			continue
		}
		out = append(out, t)
	}
	return []byte(strings.Join(out, "."))
}

// AddStreamImport makes messages published in account from on subj (which
// may have wildcards) reach account to's subscribers under the subject
// mapped to toSubj ("" keeps the subject; it must have subj's wildcards in
// the same order). A prefix import is toSubj = prefix + "." + subj.
// UnsubscribeInternal of the returned subscription removes the import.
func (s *Server) AddStreamImport(to, from *Account, subj, toSubj string) (*Subscription, error) {
	if !subject.ValidSubscribe([]byte(subj)) || (toSubj != "" && !subject.ValidSubscribe([]byte(toSubj))) {
		return nil, ErrInvalidSubject
	}
	m, err := newMapping(subj, toSubj)
	if err != nil {
		return nil, err
	}
	return s.subscribeInternalSub(from, &Subscription{Subject: subj, imp: &streamImport{to: to, m: m}, handler: func(im *InternalMsg) {
		if im.hops >= maxImportHops {
			return
		}
		s.Send(&Delivery{Account: to, To: m.apply(im.Subject), Reply: im.Reply, Hdr: im.Hdr, Body: im.Data, hops: im.hops + 1})
	}})
}

// AddServiceImport makes requests published in account to on local (""
// is subj) reach account from's subscribers on subj, their responses
// reaching the requester in to, as many as rt allows within threshold (0
// is DefaultResponseThreshold). UnsubscribeInternal of the returned
// subscription removes the import (responses still pending are delivered).
func (s *Server) AddServiceImport(to, from *Account, subj, local string, rt ResponseType, threshold time.Duration) (*Subscription, error) {
	if local == "" {
		local = subj
	}
	if !subject.ValidSubscribe([]byte(subj)) || !subject.ValidSubscribe([]byte(local)) {
		return nil, ErrInvalidSubject
	}
	if threshold <= 0 {
		threshold = DefaultResponseThreshold
	}
	m, err := newMapping(local, subj)
	if err != nil {
		return nil, err
	}
	rs, err := s.responsesOf(from)
	if err != nil {
		return nil, err
	}
	return s.subscribeInternalIn(to, local, "", false, func(im *InternalMsg) {
		if im.hops >= maxImportHops {
			return
		}
		var reply []byte
		if len(im.Reply) > 0 {
			reply = rs.add(to, im.Reply, rt, threshold)
		}
		target := m.apply(im.Subject)
		n := s.Send(&Delivery{Account: from, To: target, Reply: reply, Hdr: im.Hdr, Body: im.Data, hops: im.hops + 1})
		if n == 0 && reply != nil {
			// Nobody in the exporting account: the requester gets the
			// no-responders status, as if it had asked there itself.
			rs.forget(reply)
			hdr := codec.AppendHeaderStart(nil, 503, "")
			hdr = codec.AppendHeader(hdr, "Nats-Subject", string(im.Subject))
			hdr = codec.AppendHeaderEnd(hdr)
			s.Send(&Delivery{Account: to, To: im.Reply, Hdr: hdr, Once: true})
		}
	})
}

// responses maps the reply subjects this server made up in one exporting
// account back to the requesters.
type responses struct {
	srv    *Server
	prefix string // "_R_.<server>."
	mu     sync.Mutex
	next   uint64
	// pending by the reply token after prefix; guarded by mu.
	pending map[string]*pendingResponse
}

// pendingResponse is one request's way back; fixed once in the map.
type pendingResponse struct {
	to    *Account
	reply []byte
	rt    ResponseType
	timer Timer
}

// responsesOf returns from's response map, subscribing its wildcard
// reply subject on first use.
func (s *Server) responsesOf(from *Account) (*responses, error) {
	s.imports.mu.Lock()
	defer s.imports.mu.Unlock()
	if rs := s.imports.responses[from]; rs != nil {
		return rs, nil
	}
	rs := &responses{srv: s, prefix: "_R_." + s.id[len(s.id)-8:] + ".", pending: make(map[string]*pendingResponse)}
	if _, err := s.subscribeInternalIn(from, rs.prefix+">", "", true, rs.respond); err != nil {
		return nil, err
	}
	if s.imports.responses == nil {
		s.imports.responses = make(map[*Account]*responses)
	}
	s.imports.responses[from] = rs
	return rs, nil
}

// add records a request's reply and returns the reply subject to send in
// the exporting account.
func (rs *responses) add(to *Account, reply []byte, rt ResponseType, threshold time.Duration) []byte {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.next++
	tok := strconv.FormatUint(rs.next, 36)
	p := &pendingResponse{to: to, reply: append([]byte(nil), reply...), rt: rt}
	rs.pending[tok] = p
	p.timer = rs.srv.opts.Clock.AfterFunc(threshold, func() { rs.drop(tok, p) })
	return []byte(rs.prefix + tok)
}

// forget drops the mapping of a reply subject add returned.
func (rs *responses) forget(reply []byte) {
	tok := string(reply[len(rs.prefix):])
	rs.mu.Lock()
	if p := rs.pending[tok]; p != nil {
		p.timer.Stop()
		delete(rs.pending, tok)
	}
	rs.mu.Unlock()
}

func (rs *responses) drop(tok string, p *pendingResponse) {
	rs.mu.Lock()
	if rs.pending[tok] == p {
		delete(rs.pending, tok)
	}
	rs.mu.Unlock()
}

// respond sends a response back to the requester's account.
func (rs *responses) respond(im *InternalMsg) {
	tok := string(im.Subject[len(rs.prefix):])
	rs.mu.Lock()
	p := rs.pending[tok]
	if p != nil && p.rt == Singleton {
		delete(rs.pending, tok)
		p.timer.Stop()
	}
	rs.mu.Unlock()
	if p == nil {
		return
	}
	rs.srv.Send(&Delivery{Account: p.to, To: p.reply, Reply: im.Reply, Hdr: im.Hdr, Body: im.Data, Once: true})
}

// pendingResponses is the number of reply mappings held (for tests and
// monitoring).
func (s *Server) pendingResponses() int {
	s.imports.mu.Lock()
	defer s.imports.mu.Unlock()
	n := 0
	for _, rs := range s.imports.responses {
		rs.mu.Lock()
		n += len(rs.pending)
		rs.mu.Unlock()
	}
	return n
}

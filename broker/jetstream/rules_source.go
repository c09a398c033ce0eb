package jetstream

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// The sourced-copy rule.
//
// A source's copy carries Nats-Stream-Source "<origin> <seq> <filters>
// <destinations> <subject> <identity>" (feed.go). The rules refuse a copy
// whose origin sequence is not above the newest one accepted for the same
// source (origin, filters, destinations, and the origin's identity, so a
// recreated origin's sequences start again): a source copies in origin
// order, so this refuses exactly a copy made twice, as happens when a
// replicated stream's leadership moves while copies are in flight (the
// old leader's proposals are applied after the new leader read its
// position from its log). It is decided in log order from the log and the
// pending messages only, as every rule (rules.go). The newest sequence of
// each source is learnt from the pending messages and then the log,
// newest first, the first time a copy of it is decided after the rules
// were reset or truncated, and kept up to date as copies are accepted.

// checkSourcedAgain refuses a source's copy of a message it copied
// already (log.CheckError.Seq: the newest origin sequence accepted).
const checkSourcedAgain uint32 = 2

// sourcedCopy reads hdr's Nats-Stream-Source: the source's key (the
// header less its sequence and subject) and the origin sequence.
func sourcedCopy(hdr []byte) (key []byte, seq uint64, ok bool) {
	v, found := codec.HeaderValue(hdr, jsapi.HdrStreamSource)
	if !found {
		return nil, 0, false
	}
	name, rest, ok1 := bytes.Cut(v, []byte(" "))
	num, rest, ok2 := bytes.Cut(rest, []byte(" "))
	from, rest, ok3 := bytes.Cut(rest, []byte(" "))
	to, rest, ok4 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, 0, false
	}
	seq, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return nil, 0, false
	}
	_, id, _ := bytes.Cut(rest, []byte(" ")) // after the subject: the origin's identity
	key = make([]byte, 0, len(name)+len(from)+len(to)+len(id)+3)
	key = append(append(append(append(append(key, name...), ' '), from...), ' '), to...)
	if len(id) > 0 {
		key = append(append(key, ' '), id...)
	}
	return key, seq, true
}

// checkSourced decides a source's copy (key, origin sequence seq).
func (r *publishRules) checkSourced(v log.View, key []byte, seq uint64) error {
	last, err := r.sourcedUpTo(v, string(key))
	if err != nil {
		return err
	}
	if seq <= last {
		return &log.CheckError{Code: checkSourcedAgain, Seq: last}
	}
	return nil
}

// sourcedUpTo is the newest origin sequence accepted for source key.
func (r *publishRules) sourcedUpTo(v log.View, key string) (uint64, error) {
	if s, ok := r.srcLast[key]; ok {
		return s, nil
	}
	if r.srcLast == nil {
		r.srcLast = make(map[string]uint64)
	}
	r.prune(v)
	for i := len(r.pending) - 1; i >= r.head; i-- {
		if p := r.pending[i]; p.src == key {
			r.srcLast[key] = p.srcSeq
			return p.srcSeq, nil
		}
	}
	first, _ := v.LoadNext(1, &r.sm)
	for seq := v.Applied(); first > 0 && seq >= first; seq-- {
		if err := v.LoadMsg(seq, &r.sm); err != nil {
			if errors.Is(err, log.ErrDeleted) || errors.Is(err, log.ErrNotFound) || errors.Is(err, log.ErrCorrupt) {
				continue
			}
			return 0, err
		}
		if k, s, ok := sourcedCopy(r.sm.Hdr); ok && string(k) == key {
			r.srcLast[key] = s
			return s, nil
		}
	}
	r.srcLast[key] = 0
	return 0, nil
}

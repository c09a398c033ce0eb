package codec

import (
	"fmt"
	"strings"
)

// recorder is a Handler that logs every call as a line of text. Adjacent
// payload pieces are coalesced, so that logs of the same input fed in
// different pieces compare equal. failOn makes the call whose log line
// starts with it return errFail.
type recorder struct {
	log    []string
	failOn string
}

var _ Handler = (*recorder)(nil)

type failError struct{ at string }

func (e *failError) Error() string { return "handler failed at " + e.at }

func (r *recorder) add(s string) error {
	r.log = append(r.log, s)
	if r.failOn != "" && strings.HasPrefix(s, r.failOn) {
		return &failError{at: s}
	}
	return nil
}

func (r *recorder) Connect(o []byte) error { return r.add("CONNECT " + string(o)) }
func (r *recorder) Ping() error            { return r.add("PING") }
func (r *recorder) Pong() error            { return r.add("PONG") }

func (r *recorder) Sub(subject, queue, sid []byte) error {
	q := "<nil>"
	if queue != nil {
		q = string(queue)
	}
	return r.add(fmt.Sprintf("SUB %s %s %s", subject, q, sid))
}

func (r *recorder) Unsub(sid []byte, max int64) error {
	return r.add(fmt.Sprintf("UNSUB %s %d", sid, max))
}

func (r *recorder) PubStart(subject, reply []byte, hdrLen, size int) error {
	rp := "<nil>"
	if reply != nil {
		rp = string(reply)
	}
	return r.add(fmt.Sprintf("PUB %s %s %d %d", subject, rp, hdrLen, size))
}

func (r *recorder) PubHeaders(hdr []byte) error { return r.add("HDR " + string(hdr)) }

func (r *recorder) PubPayload(piece []byte) error {
	if len(piece) == 0 {
		return r.add("EMPTY PIECE")
	}
	if n := len(r.log); n > 0 && strings.HasPrefix(r.log[n-1], "BODY ") {
		r.log[n-1] += string(piece)
		return nil
	}
	return r.add("BODY " + string(piece))
}

func (r *recorder) PubEnd() error { return r.add("END") }

// nopHandler does nothing; it is used for allocation tests and benchmarks.
type nopHandler struct{ n int }

func (h *nopHandler) Connect([]byte) error                 { return nil }
func (h *nopHandler) Ping() error                          { return nil }
func (h *nopHandler) Pong() error                          { return nil }
func (h *nopHandler) Sub(_, _, _ []byte) error             { return nil }
func (h *nopHandler) Unsub([]byte, int64) error            { return nil }
func (h *nopHandler) PubStart(_, _ []byte, _, _ int) error { return nil }
func (h *nopHandler) PubHeaders([]byte) error              { return nil }
func (h *nopHandler) PubPayload(p []byte) error            { h.n += len(p); return nil }
func (h *nopHandler) PubEnd() error                        { return nil }

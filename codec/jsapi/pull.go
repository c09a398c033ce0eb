package jsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// NextRequest is a pull request: the body of
// $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> (ADR-13), or what follows
// "+NXT" in an ack body.
type NextRequest struct {
	// Expires is how long the request waits for messages; 0 means it does
	// not expire (legacy), a client normally sets it.
	Expires time.Duration `json:"expires,omitempty"`
	// Batch is the most messages to deliver.
	Batch int `json:"batch,omitempty"`
	// MaxBytes is the most bytes to deliver (0: no limit). A message larger
	// than what is left ends the request with 409 Message Size Exceeds MaxBytes.
	MaxBytes int `json:"max_bytes,omitempty"`
	// NoWait ends the request at once with 404 No Messages (or 408 when
	// Expires is set) when nothing is pending.
	NoWait bool `json:"no_wait,omitempty"`
	// Heartbeat asks for 100 Idle Heartbeat status messages at this interval
	// while the request waits.
	Heartbeat time.Duration `json:"idle_heartbeat,omitempty"`
	PriorityGroup
}

// ErrHeartbeatTooLarge is returned by ParseNextRequest when the idle
// heartbeat is more than half the expiry. nats-server answers it with
// "400 Bad Request - heartbeat value too large".
var ErrHeartbeatTooLarge = errors.New("heartbeat value too large")

// ParseNextRequest decodes a pull request body into req, as nats-server
// does: an empty body (after trimming spaces) is a request for one message;
// a JSON object is decoded; a bare integer is a batch size; anything else is
// a request for one message. req is overwritten. A non-nil error (bad JSON,
// or ErrHeartbeatTooLarge) means the request must be refused with
// AppendBadRequest. body is not retained. The empty and integer forms do not
// allocate; the JSON form uses encoding/json.
func ParseNextRequest(body []byte, req *NextRequest) error {
	*req = NextRequest{}
	b := bytes.TrimSpace(body)
	switch {
	case len(b) == 0:
		req.Batch = 1
		return nil
	case b[0] == '{':
		if err := json.Unmarshal(b, req); err != nil {
			return err
		}
		if req.Heartbeat > 0 && req.Heartbeat*2 > req.Expires {
			return ErrHeartbeatTooLarge
		}
		return nil
	}
	if n, ok := parseInt(b); ok {
		req.Batch = n
		return nil
	}
	req.Batch = 1
	return nil
}

// parseInt parses an optionally signed decimal int without allocating.
func parseInt(b []byte) (int, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

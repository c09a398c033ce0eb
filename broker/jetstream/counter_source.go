package jetstream

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Sourcing counters (ADR-49).
//
// A counter stream that sources other counter streams adds them up, as
// nats-server does. A source's copy of a counter message carries the
// origin subject's total in its body. The stream keeps, per subject, the
// last total seen from each origin stream and subject in the
// Nats-Counter-Sources header of its newest message there
// ({"<stream>":{"<subject>":"<total>"}}); a copy adds the difference
// between the origin's total and the last one seen to the subject's own
// total, and is stored with that difference as its Nats-Incr, the new
// total as its body and the updated Nats-Counter-Sources. A direct
// increment keeps the header as it was.
//
// The publish rules see headers only, so the feed hands the origin's
// total to them in the copy's Nats-Incr, with an empty payload
// (counterCopy); the rules replace the header block and the payload
// (log.View.SetHeader, SetPayload), in log order, on R1 and replicas
// alike. A copy whose body is not a counter's value keeps its payload,
// and the rules refuse it as a broken counter (10172). A copy into a
// stream without allow_msg_counter (which cannot change) is stored as it
// came.

// hdrCounterSources is the last total seen of each source's subject.
const hdrCounterSources = "Nats-Counter-Sources"

// maxCounterBody bounds the body of a counter message a feed reads.
const maxCounterBody = 1024

// counterSources is Nats-Counter-Sources' value.
type counterSources map[string]map[string]string

// counterCopy is a source's copy hdr of a counter message with body for
// a counter stream: hdr with the origin's total as its Nats-Incr (ok
// false: the body is not a counter's value; the copy is left as it is).
func counterCopy(hdr, body []byte) ([]byte, bool) {
	var cv counterValue
	if json.Unmarshal(body, &cv) != nil {
		return hdr, false
	}
	if _, ok := parseIncr([]byte(cv.Value)); !ok {
		return hdr, false
	}
	return setHeaderField(nil, hdr, jsapi.HdrIncr, cv.Value), true
}

// setHeaderField appends to dst the header block hdr with key's fields
// replaced by "key: value". dst and hdr must not overlap.
func setHeaderField(dst, hdr []byte, key, value string) []byte {
	lines := bytes.Split(hdr, []byte("\r\n"))
	if len(lines) < 2 {
		return jsapi.AppendHeaderField(dst, nil, key, value)
	}
	dst = append(append(dst, lines[0]...), "\r\n"...)
	for _, l := range lines[1:] {
		k, _, _ := bytes.Cut(l, []byte(":"))
		if len(l) > 0 && !strings.EqualFold(strings.TrimSpace(string(k)), key) {
			dst = append(append(dst, l...), "\r\n"...)
		}
	}
	dst = codec.AppendHeader(dst, key, value)
	return append(dst, "\r\n"...)
}

// sourcedCounter decides a source's copy m on a counter stream: origin
// total in the copy's Nats-Incr, the subject's total and sources (raw
// Nats-Counter-Sources, "" for none). It returns the increment the copy
// makes and the new Nats-Counter-Sources.
func sourcedCounter(m log.CheckMsg, origin *big.Int, sources string) (*big.Int, string, error) {
	if m.Size > 0 {
		return nil, "", refusal(jsapi.ErrCodeMessageCounterBroken, "")
	}
	v, _ := codec.HeaderValue(m.Hdr, jsapi.HdrStreamSource)
	fields := strings.Fields(string(v))
	stream, subj := fields[0], m.Subject // sourcedCopy parsed it already
	if len(fields) >= 5 {
		subj = fields[4]
	}
	cs := counterSources{}
	if sources != "" && json.Unmarshal([]byte(sources), &cs) != nil {
		return nil, "", refusal(jsapi.ErrCodeMessageCounterBroken, "")
	}
	if cs[stream] == nil {
		cs[stream] = map[string]string{}
	}
	var prev big.Int
	prev.SetString(cs[stream][subj], 10)
	cs[stream][subj] = origin.String()
	out, err := json.Marshal(cs)
	if err != nil {
		return nil, "", refusal(jsapi.ErrCodeMessageCounterBroken, "")
	}
	return new(big.Int).Sub(origin, &prev), string(out), nil
}

// counterHeader is hdr with Nats-Counter-Sources set to sources and, for
// a source's copy (delta not ""), its Nats-Incr set to delta.
func counterHeader(hdr []byte, delta, sources string) []byte {
	if delta != "" {
		hdr = setHeaderField(nil, hdr, jsapi.HdrIncr, delta)
	}
	return setHeaderField(nil, hdr, hdrCounterSources, sources)
}

package consumer

import (
	"github.com/bargemq/barge/codec/jsapi"
)

// Consumer reset (nats-server 2.14's $JS.API.CONSUMER.RESET).
//
// A reset moves a consumer's position to a stream sequence and forgets its
// delivery history: nothing is pending or due for redelivery any more,
// the next delivery gets consumer sequence 1 and the ack floor is just
// below the new position (stream seq - 1, consumer seq 0), as if the
// consumer had been created there. Sequence 0 (or an empty request) means
// "back to the ack floor": every unacknowledged message is delivered
// again. Another sequence is allowed as nats-server allows it: any for
// deliver_policy all, not below opt_start_seq for by_start_sequence, not
// below the first message at opt_start_time for by_start_time; other
// policies can only go back to the ack floor (10204 "invalid reset: not
// allowed"). Waiting pull requests and priority pins stay. The new state
// is written like any other change, so a restart or a new leader resumes
// from it; under interest retention the messages below the new ack floor
// that no other consumer needs are removed.

// Reset resets consumer name to stream sequence seq (0: its ack floor)
// and returns the sequence it now starts at, with its info.
func (s *Set) Reset(name string, seq uint64) (uint64, *jsapi.ConsumerInfo, *jsapi.APIError) {
	c := s.lookup([]byte(name))
	if c == nil {
		return 0, nil, jsapi.NewAPIError(jsapi.ErrCodeConsumerNotFound)
	}
	l := s.st.Reader()
	c.mu.Lock()
	if seq == 0 {
		seq = c.mu.ackS + 1
	} else {
		cfg := &c.mu.cfg
		switch cfg.DeliverPolicy {
		case jsapi.DeliverAll:
		case jsapi.DeliverByStartSequence:
			if seq < cfg.OptStartSeq {
				c.mu.Unlock()
				return 0, nil, invalidReset("below start seq")
			}
		case jsapi.DeliverByStartTime:
			if seq < l.SeqAtTime(*cfg.OptStartTime) {
				c.mu.Unlock()
				return 0, nil, invalidReset("below start time")
			}
		default:
			c.mu.Unlock()
			return 0, nil, invalidReset("not allowed")
		}
	}
	seq = max(seq, 1)
	clear(c.mu.pending)
	c.mu.rdq = nil
	c.mu.maxed = nil
	// A last_per_subject consumer still delivering its starting messages
	// keeps those at or after seq.
	for len(c.mu.lss) > 0 && c.mu.lss[0] < seq {
		c.mu.lss = c.mu.lss[1:]
	}
	if len(c.mu.lss) == 0 {
		c.mu.lss = nil
	}
	c.mu.sseq = seq
	if len(c.mu.lss) > 0 {
		c.mu.sseq = c.mu.lss[0]
	}
	c.mu.dseq, c.mu.dts = 0, 0
	c.mu.ackC, c.mu.ackS, c.mu.ats = 0, seq-1, 0
	c.recountLocked(l)
	c.mu.scan = true
	c.markDirtyLocked()
	c.mu.Unlock()
	c.wake()
	s.sweepAll()
	return seq, c.info(), nil
}

func invalidReset(why string) *jsapi.APIError {
	return jsapi.NewAPIError(jsapi.ErrCodeConsumerInvalidReset, why)
}

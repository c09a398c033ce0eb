package consumer

import (
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Interest and workqueue retention. Consumers hand the sequences they
// settle to the set's retention worker (retain), which removes a message
// from the stream once no consumer needs it any more (needsLocked). Under
// interest retention the worker also sweeps every newly stored message, so
// a message no consumer is interested in is removed at once, as in
// nats-server; under workqueue retention a message waits for a consumer.
// Removal (an fsynced log delete) runs on the worker, never on the event
// loop of the client that acked.

// retain queues seqs for a retention check. It does not block.
func (s *Set) retain(seqs []uint64) {
	if s.retention() == jsapi.LimitsPolicy {
		return
	}
	s.ret.Lock()
	s.ret.queue = append(s.ret.queue, seqs...)
	s.ret.Unlock()
	s.kickRetention()
}

// sweepAll asks the worker to re-check every stored message (a consumer was
// deleted or the stream changed).
func (s *Set) sweepAll() {
	if s.retention() != jsapi.InterestPolicy {
		return
	}
	s.ret.Lock()
	s.ret.all = true
	s.ret.Unlock()
	s.kickRetention()
}

func (s *Set) kickRetention() {
	select {
	case s.retKick <- struct{}{}:
	default:
	}
}

// retentionLoop is the worker.
func (s *Set) retentionLoop() {
	defer close(s.retDone)
	l := s.st.Reader()
	var (
		sm    log.StoredMsg
		q     []uint64
		cs    []*consumer
		swept uint64
		first = true
	)
	for {
		rp := s.retention()
		var changed <-chan struct{}
		if rp == jsapi.InterestPolicy {
			changed = l.Changed()
		}
		s.ret.Lock()
		q, s.ret.queue = s.ret.queue, q[:0]
		all := s.ret.all || first
		s.ret.all = false
		s.ret.Unlock()
		first = false
		for _, seq := range q {
			cs = s.checkRemove(seq, &sm, cs)
		}
		if rp == jsapi.InterestPolicy {
			st := l.State()
			from := swept + 1
			if all {
				from = st.FirstSeq
			}
			for seq := max(from, st.FirstSeq, 1); seq <= st.LastSeq; seq++ {
				cs = s.checkRemove(seq, &sm, cs)
			}
			swept = max(swept, st.LastSeq)
		}
		select {
		case <-s.retKick:
		case <-changed:
		case <-s.retStop:
			return
		}
	}
}

// checkRemove removes seq unless some consumer needs it. cs is scratch.
func (s *Set) checkRemove(seq uint64, sm *log.StoredMsg, cs []*consumer) []*consumer {
	if err := s.st.Reader().LoadMsg(seq, sm); err != nil {
		return cs
	}
	cs = s.snapshotConsumers(cs[:0])
	for _, c := range cs {
		c.mu.Lock()
		need := !c.mu.stopped && c.needsLocked(seq, sm.Subject)
		c.mu.Unlock()
		if need {
			return cs
		}
	}
	if s.retention() == jsapi.WorkQueuePolicy && len(cs) == 0 {
		return cs
	}
	if err := s.st.Remove(seq); err != nil {
		s.log.Error("consumer: retention remove", "stream", s.st.Name(), "seq", seq, "err", err)
	}
	return cs
}

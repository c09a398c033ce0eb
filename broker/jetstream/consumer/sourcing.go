package consumer

import (
	"strconv"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Durable sourcing (nats-server 2.14): a stream that mirrors or sources
// this consumer's stream through it.
//
// nats-server's sourcing stream subscribes to the consumer's deliver
// subject and settles what it stored with flow-control replies. barge's
// feed reads the origin in-process instead (the jetstream package's
// feed.go), from the consumer's ack floor and through its filters, and
// reports how far its copies are durable: a message on the consumer's
// flow-control subject with SourcedID as its last token and the stream
// sequence as its body. Like any flow-control reply it reaches the member
// running the consumer (forwarded in a cluster). The consumer takes it as
// if it had delivered every matching message up to that sequence and
// received a flow-control reply covering them: its position, delivered
// and ack floor move there (for ack policy flow_control only, the policy
// nats-server requires of a sourcing consumer), and the state is written
// like any other change, so a restart or a new leader of either stream
// resumes from it.

// SourcedID is the last token of a sourcing feed's progress report
// ($JS.FC.<stream>.<consumer>.<SourcedID>); flow-control request ids are
// four alphanumerics, so it never names one.
const SourcedID = "$SRC"

// SourcedSubject is the subject a feed reports its progress on.
func SourcedSubject(stream, consumer string) string {
	return jsapi.FlowControlPrefix + stream + "." + consumer + "." + SourcedID
}

// sourced settles the consumer's messages up to stream sequence body (a
// feed's progress report).
func (c *consumer) sourced(body []byte) {
	seq, err := strconv.ParseUint(string(body), 10, 64)
	if err != nil || seq == 0 {
		return
	}
	l := c.set.st.Reader()
	now := c.now()
	c.mu.Lock()
	if c.mu.cfg.AckPolicy != jsapi.AckFlowControl || seq <= c.mu.ackS {
		c.mu.Unlock()
		return
	}
	if seq >= c.mu.sseq {
		c.mu.dseq += c.countLocked(l, c.mu.sseq, seq)
		c.mu.dts = now.UnixNano()
		for len(c.mu.lss) > 0 && c.mu.lss[0] <= seq {
			c.mu.lss = c.mu.lss[1:]
		}
		if len(c.mu.lss) == 0 {
			c.mu.lss = nil
		}
		c.mu.sseq = seq + 1
		if len(c.mu.lss) > 0 {
			c.mu.sseq = c.mu.lss[0]
		}
		c.recountLocked(l)
	}
	retain := c.ackLocked(now, seq, nil)
	c.markDirtyLocked()
	c.mu.Unlock()
	if len(retain) > 0 {
		c.set.retain(retain)
	}
	c.wake()
}

// countLocked counts the consumer's messages from stream sequence from
// through to.
func (c *consumer) countLocked(l log.Reader, from, to uint64) uint64 {
	filters := c.mu.filters
	if filters == nil {
		filters = []string{">"}
	}
	var n uint64
	var sm log.StoredMsg
	for _, f := range filters {
		for s := from; s <= to; s++ {
			got, err := l.LoadNext(s, f, &sm)
			if err != nil || got > to {
				break
			}
			n++
			s = got
		}
	}
	return n
}

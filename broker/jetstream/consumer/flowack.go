package consumer

import (
	"math"
	"strconv"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
)

// Ack policy flow_control (nats-server 2.14, API level 4).
//
// A push consumer with flow control whose acks are its flow-control
// replies: the subscriber answers a "100 FlowControl Request" with
// Nats-Last-Stream (and Nats-Last-Consumer) headers naming the last
// message it has, and that settles every delivery up to it, as an ack
// of policy all would. Ordinary acks are ignored (nats-server does not
// even subscribe to them), and nothing is redelivered: ack_wait is unset,
// so a delivery stays pending until a reply covers it. Besides the usual
// request at half the byte window, one is sent once max_ack_pending
// deliveries wait (the loop then stops, as for any consumer) and with an
// idle heartbeat while deliveries are pending and no request is
// outstanding. A reply without Nats-Last-Stream only opens the window.
// Config as nats-server: push, flow_control and idle_heartbeat 1s (set
// by default), max_ack_pending > 0, no ack_wait, backoff or max_deliver
// (10218-10222); it needs API level 4.

// flowAckHeartbeat is the idle heartbeat a flow_control consumer must use
// (nats-server's sourcing heartbeat).
const flowAckHeartbeat = time.Second

// noDeadline marks a pending delivery that is never redelivered.
const noDeadline = math.MaxInt64

// flowAckDefaults sets what a flow_control consumer leaves out.
func flowAckDefaults(cfg *jsapi.ConsumerConfig) {
	if cfg.AckPolicy == jsapi.AckFlowControl {
		cfg.FlowControl = true
		cfg.Heartbeat = flowAckHeartbeat
	}
}

// checkFlowAck refuses a flow_control config nats-server refuses.
func checkFlowAck(cfg *jsapi.ConsumerConfig) *jsapi.APIError {
	if cfg.AckPolicy != jsapi.AckFlowControl {
		return nil
	}
	switch {
	case cfg.DeliverSubject == "":
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerAckFCRequiresPush)
	case !cfg.FlowControl:
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerAckFCRequiresFC)
	case cfg.Heartbeat != flowAckHeartbeat:
		return invalidConfig("flow control ack policy heartbeat needs to be 1s")
	case cfg.MaxAckPending <= 0:
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerAckFCRequiresMaxAckPending)
	case cfg.AckWait != 0 || len(cfg.BackOff) > 0:
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerAckFCRequiresNoAckWait)
	case cfg.MaxDeliver > 0:
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerAckFCRequiresNoMaxDeliver)
	}
	return nil
}

// redeliverAtLocked is when a delivery made at now (its dc-th) is due
// again: never for flow_control.
func (c *consumer) redeliverAtLocked(now time.Time, dc uint64) int64 {
	if c.mu.cfg.AckPolicy == jsapi.AckFlowControl {
		return noDeadline
	}
	return now.Add(c.ackWaitLocked(dc)).UnixNano()
}

// flowAckDueLocked reports whether a flow_control consumer should ask for
// a reply now besides the byte window: max_ack_pending reached, or (idle)
// anything pending.
func (c *consumer) flowAckDueLocked(idle bool) bool {
	if c.mu.cfg.AckPolicy != jsapi.AckFlowControl || c.mu.fcid != "" || len(c.mu.pending) == 0 {
		return false
	}
	return idle || len(c.mu.pending) >= c.mu.cfg.MaxAckPending
}

// sendFlowControlLocked sends a flow-control request covering what was
// sent so far.
func (c *consumer) sendFlowControlLocked(d *deliverer) {
	c.mu.fcid = string(jsapi.AppendFlowControlReply(nil, c.set.st.Name(), c.name, c.set.randUint64()))
	c.mu.fcsz = c.mu.pbytes
	d.status = jsapi.AppendFlowControlRequest(d.status[:0])
	c.set.env.Server.Deliver(c.deliverSubjectLocked(d), []byte(c.mu.fcid), d.status, nil)
}

// flowAckLocked settles what a flow-control reply's headers say the
// subscriber has, appending settled sequences to retain.
func (c *consumer) flowAckLocked(now time.Time, hdr []byte, retain []uint64) []uint64 {
	if c.mu.cfg.AckPolicy != jsapi.AckFlowControl || len(hdr) == 0 {
		return retain
	}
	v, ok := codec.HeaderValue(hdr, jsapi.HdrLastStream)
	if !ok {
		return retain
	}
	seq, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || seq == 0 {
		return retain
	}
	return c.ackLocked(now, seq, retain)
}

package jsapi

import (
	"crypto/rand"
	"encoding/json"
	"time"
)

// Advisories: JSON events a JetStream server publishes on
// $JS.EVENT.ADVISORY.> for monitoring tools and dead-letter handling, with
// nats-server's subjects, "type" values and field names.

const (
	// PreAdvisoryMaxDeliveries is followed by "<stream>.<consumer>": a
	// message of the consumer ran out of deliveries (max_deliver).
	PreAdvisoryMaxDeliveries = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."

	// TypeMaxDeliverAdvisory is the "type" of a DeliveryExceededAdvisory.
	TypeMaxDeliverAdvisory = "io.nats.jetstream.advisory.v1.max_deliver"
)

// DeliveryExceededAdvisory says that the message at StreamSeq was delivered
// Deliveries times (the consumer's max_deliver) without an ack and will not
// be delivered by the consumer again (nats-server's
// JSConsumerDeliveryExceededAdvisory).
type DeliveryExceededAdvisory struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	StreamSeq  uint64    `json:"stream_seq"`
	Deliveries uint64    `json:"deliveries"`
	Domain     string    `json:"domain,omitempty"`
}

// MaxDeliveriesSubject is the subject of stream/consumer's
// max-deliveries advisories.
func MaxDeliveriesSubject(stream, consumer string) string {
	return PreAdvisoryMaxDeliveries + stream + "." + consumer
}

// AppendDeliveryExceeded appends the JSON of a max-deliveries advisory,
// stamped at (written in UTC) with a fresh random id.
func AppendDeliveryExceeded(dst []byte, stream, consumer string, seq, deliveries uint64, at time.Time) []byte {
	b, err := json.Marshal(&DeliveryExceededAdvisory{
		Type: TypeMaxDeliverAdvisory, ID: rand.Text(), Time: at.UTC(),
		Stream: stream, Consumer: consumer, StreamSeq: seq, Deliveries: deliveries,
	})
	if err != nil { // cannot happen: every field marshals
		return dst
	}
	return append(dst, b...)
}

// Consumer pause and priority-group advisories (nats-server's
// JSConsumerPauseAdvisory, JSConsumerGroupPinnedAdvisory and
// JSConsumerGroupUnpinnedAdvisory), each followed by "<stream>.<consumer>".
const (
	PreAdvisoryConsumerPause    = "$JS.EVENT.ADVISORY.CONSUMER.PAUSE."
	PreAdvisoryConsumerPinned   = "$JS.EVENT.ADVISORY.CONSUMER.PINNED."
	PreAdvisoryConsumerUnpinned = "$JS.EVENT.ADVISORY.CONSUMER.UNPINNED."

	TypeConsumerPauseAdvisory    = "io.nats.jetstream.advisory.v1.consumer_pause"
	TypeConsumerPinnedAdvisory   = "io.nats.jetstream.advisory.v1.consumer_group_pinned"
	TypeConsumerUnpinnedAdvisory = "io.nats.jetstream.advisory.v1.consumer_group_unpinned"
)

// ConsumerPauseAdvisory says a consumer was paused or resumed: by a config
// update or the PAUSE API, or because its pause_until passed.
type ConsumerPauseAdvisory struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	Paused     bool      `json:"paused"`
	PauseUntil time.Time `json:"pause_until,omitempty"`
	Domain     string    `json:"domain,omitempty"`
}

// ConsumerPinnedAdvisory says a pinned_client consumer pinned a new client.
type ConsumerPinnedAdvisory struct {
	Type           string    `json:"type"`
	ID             string    `json:"id"`
	Time           time.Time `json:"timestamp"`
	Account        string    `json:"account,omitempty"`
	Stream         string    `json:"stream"`
	Consumer       string    `json:"consumer"`
	Domain         string    `json:"domain,omitempty"`
	Group          string    `json:"group"`
	PinnedClientID string    `json:"pinned_id"`
}

// ConsumerUnpinnedAdvisory says a pinned_client consumer dropped its pin;
// Reason is "admin" (the UNPIN API) or "timeout" (priority_timeout passed
// without a pull from the pinned client).
type ConsumerUnpinnedAdvisory struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Time     time.Time `json:"timestamp"`
	Account  string    `json:"account,omitempty"`
	Stream   string    `json:"stream"`
	Consumer string    `json:"consumer"`
	Domain   string    `json:"domain,omitempty"`
	Group    string    `json:"group"`
	Reason   string    `json:"reason"`
}

// AppendConsumerPause appends the JSON of a pause advisory stamped at:
// paused says whether the consumer is paused at that moment, until is its
// pause_until (zero when resumed).
func AppendConsumerPause(dst []byte, stream, consumer string, paused bool, until, at time.Time) []byte {
	return appendJSON(dst, &ConsumerPauseAdvisory{Type: TypeConsumerPauseAdvisory, ID: rand.Text(), Time: at.UTC(),
		Stream: stream, Consumer: consumer, Paused: paused, PauseUntil: until.UTC()})
}

// AppendConsumerPinned appends the JSON of a pinned advisory stamped at.
func AppendConsumerPinned(dst []byte, stream, consumer, group, pinID string, at time.Time) []byte {
	return appendJSON(dst, &ConsumerPinnedAdvisory{Type: TypeConsumerPinnedAdvisory, ID: rand.Text(), Time: at.UTC(),
		Stream: stream, Consumer: consumer, Group: group, PinnedClientID: pinID})
}

// AppendConsumerUnpinned appends the JSON of an unpinned advisory stamped at.
func AppendConsumerUnpinned(dst []byte, stream, consumer, group, reason string, at time.Time) []byte {
	return appendJSON(dst, &ConsumerUnpinnedAdvisory{Type: TypeConsumerUnpinnedAdvisory, ID: rand.Text(), Time: at.UTC(),
		Stream: stream, Consumer: consumer, Group: group, Reason: reason})
}

// appendJSON appends v's JSON; v is one of this file's advisories, whose
// every field marshals.
func appendJSON(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return dst
	}
	return append(dst, b...)
}

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

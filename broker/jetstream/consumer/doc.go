// Package consumer is the consumer half of barge's JetStream: durable and
// ephemeral consumers of one stream, pull and push, with acks, redelivery,
// flow control, heartbeats, interest/workqueue retention and durable state.
// The jetstream package owns streams and routes every CONSUMER.* API
// request and CONSUMER.MSG.NEXT to a stream's Set (contract.go).
//
// # Model
//
// A consumer tracks, under its mutex:
//
//	sseq        next stream sequence to look at for a first delivery
//	dseq        last consumer (delivery) sequence handed out; every
//	            delivery, redeliveries included, takes the next one
//	ack floor   (consumer seq, stream seq) below which all is settled
//	pending     delivered, unacked messages by stream seq: first cseq,
//	            last delivery time, delivery count, redelivery deadline
//	rdq         stream seqs due for redelivery, oldest first
//	maxed       stream seqs that ran out of deliveries (max_deliver),
//	            kept until the message leaves the stream
//	waiting     pull requests (ADR-13), oldest first
//
// Delivered messages carry $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.
// <cseq>.<ts>.<pending> and arrive under their stored subject, routed to the
// deliver subject (push) or the request's inbox (pull) by broker.Send.
//
// # Delivery loop
//
// Each consumer runs one goroutine, the only one that sends messages, so a
// consumer's deliveries and its pull requests' status replies are ordered.
// It loops: count new messages (filtered num_pending), walk deadlines when
// a timer fired, then make one delivery: a due redelivery first, else (below
// max_ack_pending) the next matching message from the log (LoadNext per
// filter). A message up to 64 KiB, or an s2-compressed one, is read and
// checksummed into a reused buffer; a larger one is handed to the transport
// as extents of the segment files, so it streams from disk as the client's
// socket drains and never sits whole in memory. State changes only after
// the broker reports a receiver: an inbox nobody listens on drops its
// request, a push consumer without subscribers waits (re-checking every
// 250ms). A pull request's max_bytes counts the stored subject, reply,
// header and payload, as nats.go does: a message that does not fit ends
// the request with 409 Message Size Exceeds MaxBytes, so a request never
// receives more bytes than it asked for. When nothing can be delivered the
// loop waits on the log's Changed channel, a kick (ack, pull request,
// flow-control reply, timer) or stop. Time comes from Env.Clock: one timer
// per consumer wakes it at the earliest deadline (ack wait and backoff,
// NAK delays, request expiry, idle heartbeats, inactive_threshold).
//
// Every redelivery comes due through one check (maxdeliver.go): a message
// that has had max_deliver deliveries is given up instead, as nats-server
// does: it leaves pending, the stream keeps it under interest and workqueue
// retention, and one max-deliveries advisory is published on
// $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>.
//
// CONSUMER.RESET moves a consumer's position and drops its pending
// messages (reset.go). Ack policy flow_control settles deliveries by the
// flow-control replies of a push consumer, never redelivers
// (flowack.go); a stream sourcing through such a consumer reports its
// durable copies on the consumer's flow-control subject, which settles
// them as delivered and acked (sourcing.go). A consumer whose pause_until lies ahead delivers
// nothing until then (pause.go); a pull consumer's priority_policy picks which waiting
// request the next message goes to (priority.go: overflow, pinned_client,
// prioritized, ADR-42). Both publish their advisories from the loop once
// it has let go of the mutex.
//
// Acks arrive on an internal subscription to $JS.ACK.<stream>.> and run on
// the acking client's event loop: they update the state under the mutex and
// kick the loop, nothing more. Retention removals (an fsynced log delete)
// are queued to the set's retention worker, which removes a message once no
// consumer needs it (interest), or once its consumer acked it (workqueue).
//
// # Durability
//
// A durable consumer of a file-backed stream keeps dir/<name>/meta.json
// (config, created) and dir/<name>/state (see state.go for the byte
// layout: position, ack floor, every pending message with its delivery
// count, and the messages that ran out of deliveries). A persister goroutine per consumer rewrites state whenever it
// changed, coalescing all changes made during the previous write; each
// write goes through Env.FS to a temp file, is fsynced, renamed over the
// old one, and the directory fsynced (log.WriteFileAtomic), so a crash
// leaves the old or the new state, never a torn one. A write that fails (a
// full disk) is logged and retried with a backoff; acks keep being taken
// meanwhile. A double ack (an ack with a reply subject) is answered only
// after a write that includes it. Plain acks and deliveries become durable
// within one write cycle; after kill -9 the consumer resumes from the last
// written state: at-least-once, with acked-but-unwritten messages
// redelivered and redelivery counts kept. Ephemeral and mem_storage
// consumers keep their state in memory only.
//
// A replicated stream's set (Env.Store) keeps its durables' definitions and
// the same encoded state in the Store instead, and runs them only on the
// stream's leader (SetActive); see replicated.go.
//
// # Departures from nats-server
//
// replay_policy original is accepted but replays instantly; rate limits,
// sampling, priority groups and pause are not implemented. A
// last_per_subject consumer that restarts before finishing its initial list
// continues from its position with every message.
package consumer

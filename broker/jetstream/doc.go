// Package jetstream is barge's JetStream: streams stored on the log
// package, the $JS.API handlers, and the capture of published messages into
// streams. Consumers live in the consumer subpackage; this package routes
// CONSUMER.* requests to each stream's consumer.Set and implements
// consumer.Stream for it.
//
// # Files by concern
//
//	engine.go, registry.go     the Engine: options, start and close; the stream
//	                           registry and the subject index that names the
//	                           stream capturing a published subject
//	api*.go, msgget_stream.go  the $JS.API handlers (api.go: lanes and replies)
//	readperm.go                reads checked against the requester's subscribe
//	                           permissions (consumer create, fetch, gets)
//	monitor.go                 usage and stream reports for /jsz
//	publish.go                 the publish path: Capture, early rules, commit,
//	                           PubAcks
//	batch_*.go, rules_batch.go batch publish (ADR-50): atomic batches (R1:
//	                           staged, committed with log.CommitBatch, a torn
//	                           commit removed at open; replicated: staged on
//	                           the publisher's node, one atomic raft entry),
//	                           fast batches (flow control over ordinary
//	                           publishes)
//	rules.go                   the publish rules, decided once in log order
//	ttl.go                     per-message TTL, max_age with TTLs, delete
//	                           markers
//	counter.go                 counters (ADR-49)
//	counter_source.go          counters added up from sourced counter streams
//	schedule.go, cron.go       message schedules (ADR-51)
//	apilevel.go                API levels (ADR-44) and their metadata
//	persist.go                 persist_mode async: ack before the fsync
//	store*.go                  the Store seam: localStore (R1), replicatedStore
//	republish.go               subject_transform (applied at capture) and republish
//	feed*.go, rules_source.go  mirrors and sources: copying from an origin
//	                           stream, their config checks, the sourced-copy rule
//	stream.go, config.go,      a stream: info, update, purge, delete; config
//	meta.go                    checks; meta.json
//	snapshot.go, restore*.go   STREAM.SNAPSHOT and STREAM.RESTORE (backups)
//	cluster*.go, placement.go, the cluster: meta shard, placement, replicas,
//	replica.go, forward.go,    forwarding to a stream's leader, streams placed
//	nonmember*.go              on other nodes
//
// # Engine
//
// An engine serves one account (Options.Account, the global account by
// default): its API subscription, capture and deliveries are made through
// that broker.Account, so each account's engine sees only its own streams.
// Options.MaxStreams and MaxConsumers are the account's limits (10027,
// 10026 when reached); MaxMemory and MaxStore bound a stream's max_bytes
// and the bytes the account stores (a publish past them gets 10002).
// Clustered, the stream and consumer limits are counted in the meta shard
// (cluster_limits.go), whose keys the app scopes to the account, and a
// stream's shard id hashes the account with its name (streamShardID).
//
// New(srv, Options) loads every stream from <store_dir>/jetstream/<name>/
// (meta.json: config and creation time, written to a temporary file,
// fsynced, renamed and the directory fsynced; msgs/: the log; consumers/:
// the consumer Set's directory; every file through Options.FS, see
// meta.go), subscribes $JS.API.> as an internal
// subscription, and installs itself as the server's Capturer. Close stops
// both and closes every stream; their logs apply and sync what was
// committed.
//
// # API
//
// The internal subscription's handler runs on the requester's event loop,
// so it only copies the request into a queue (api.go): the requests about
// one stream form a lane, served in arrival order by a goroutine that
// lives while the lane is not empty; a request about no stream (INFO,
// STREAM.NAMES, STREAM.LIST) gets a goroutine of its own. A slow request
// (many subjects, a purge's fsync, a wait on raft) so holds up only its
// stream's later requests, and never an event loop. A stream create
// reserves its name and subjects under Engine.mu and makes its directory
// and log without the lock. Overlaps between stream subjects are found in
// a subject.FilterTree, one search per subject. Replies use codec/jsapi's
// types and nats-server's error codes; an unparsable request gets 10025
// (invalid JSON) or 10003 (bad request) and changes nothing, a request over
// broker.MaxInternalMsg gets 10003 with the limit. Store and file-system
// errors are logged whole and reach clients without paths (errtext.go).
// DIRECT.GET answers with the message and ADR-31 headers; a payload
// larger than 64 KiB is sent from its log extents (an s2-compressed one
// decoded a chunk at a time, stored_payload.go), never read into memory. STREAM.MSG.GET answers base64 JSON as nats-server does; a payload
// over 64 KiB is encoded from its stored chunks as the client drains the
// reply (msgget_stream.go), one chunk in memory at a time.
//
// # Publishing and ordering
//
// Capture is called at the control line of every PUB/HPUB. A broker.Sublist
// of the streams' subjects (overlaps between streams are refused, 10065)
// names the one stream that takes the subject. The capture then, all on the
// publisher's event loop:
//
//  1. at the header block (or the first body piece of a PUB) parses the
//     JetStream headers and runs the publish rules that depend only on the
//     config and the message (sealed 10109, Nats-Expected-Stream 10060,
//     max_msg_size 10054, rollup permission/value 10111...), and begins
//     the message in the stream's Store (store.go);
//  2. hands each body piece to the Store as it arrives: an R1 stream's
//     log writes a large payload chunk by chunk, a replicated stream's
//     collects it (in memory, or a spool file from a pool made off the
//     event loops) for its raft pipeline; never whole in memory, and a
//     refused message's body is dropped as it arrives;
//  3. at the end commits it in the Store. Every rule is decided by the
//     stream's publishRules (rules.go, the log's Checker) under the log's
//     writer lock, in log order: on R1 as the sequence is assigned
//     (against every message assigned so far, those waiting for their
//     fsync included), on a replica as the raft entry is applied, with the
//     same code (dedup, Nats-Expected-Last-Sequence / -Last-Subject-Sequence
//     10071, -Last-Msg-Id 10070, discard new per subject, and again the
//     config-only ones).
//
// The PubAck {"stream","seq"} is sent once the Store reports the message
// durable (R1: after the fsync group commit shares among every publisher
// waiting at that moment; replicated: once this replica applied the entry
// a quorum had fsynced). A Nats-Rollup purge is written by the log right
// after the message and applied with it, before the PubAck. An R1
// duplicate of a message that is not yet durable waits for it and is
// answered {"duplicate":true} with the original's sequence once it is; if
// the original fails, so does the duplicate. A publisher that disconnects
// mid-payload aborts the message: nothing is stored.
//
// # Durability decisions
//
//   - The PubAck means "fsynced" under sync: always (the default); under
//     sync: <interval> it means "written to the OS", as nats-server's
//     default does.
//     A stream with persist_mode async (persist.go; R1 file streams
//     only) means "written to the OS" whatever the engine's sync is.
//   - The duplicate window survives a restart without its own file: the
//     rules rebuild it from the Nats-Msg-Id headers of the messages stored
//     within the window (metadata reads only).
//   - A memory stream's config survives a restart (meta.json), its
//     messages do not.
//   - A stream delete renames the directory to <name>.deleting before
//     removing it, so a crash never leaves a half-deleted stream that would
//     load again.
//   - Interest retention: a message stored while the stream has no
//     consumer is removed at once (nobody will ever acknowledge it); with
//     consumers, the consumer Set removes messages through Stream.Remove.
//   - External (cross-domain) mirrors and sources are refused as invalid
//     config (10052).
//   - An atomic batch's messages keep their Nats-Batch-* headers, the last
//     one Nats-Batch-Commit: 1, as nats-server stores them; that header is
//     what the R1 repair at open looks for. On a replicated stream the
//     batch is staged on the publisher's node and committed as one raft
//     entry applied all or nothing on every replica (batch_replicated.go);
//     a change of the stream's leader during the batch abandons it (10176),
//     as nats-server drops the batches a leader staged.
//   - Message schedules (schedule.go): learned by the rules in log order,
//     fired by the stream's leader through its store.
//   - Counters (counter.go): the rules compute each total in log order and
//     store it as the message's body (log.View.SetPayload); a sourced
//     counter's copy adds the difference from its origin's last total,
//     kept in Nats-Counter-Sources (counter_source.go, log.View.SetHeader).
//   - $JS.API.INFO (and INFO's api_lvl) report API level 4
//     (jsapi.BargeAPILevel; apilevel.go sets the _nats.* metadata):
//     clients gate features on it. Level 4 is CONSUMER.RESET
//     (consumer/reset.go), ack policy flow_control (consumer/flowack.go)
//     and durable sourcing (feed_durable.go, consumer/sourcing.go).
//   - Per-message TTL and subject delete markers (ttl.go): the rules learn
//     each TTL in log order; the stream's leader removes what expired, by
//     an ordinary (replicated) delete or a delete marker.
//
// # Locks
//
// Engine.mu guards the stream registry, the subject index's mapping and
// the overlap tree; stream.mu guards a stream's config and its in-flight
// messages with a Nats-Msg-Id (where duplicates wait); the publish rules'
// state is guarded by the log's writer lock (rules.go).
// Order: Engine.mu, then stream.mu, then the log's locks. Neither is held
// across an fsync wait (applyReplicatedConfig's meta.json write excepted).
package jetstream

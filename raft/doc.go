// Package raft replicates streams and the cluster's definitions with
// Dragonboat (v3.3.8, Pebble log store, no cgo); it is the only package
// that imports Dragonboat.
//
// # Pieces
//
//	NewNodeHost(Config)                    one per process: raft transport, log store
//	(*NodeHost).StartStreamShard(...)      a stream replica: on-disk state machine over log.Log
//	(*StreamShard).Publish(ctx, *Message)  chunk entries, then a commit entry; returns seq, ts
//	(*StreamShard).Read / ReadLocal        linearizable / local reads of the log
//	(*NodeHost).StartMetaShard(...)        JSON documents by key, with revisions
//	Leader, TransferLeader, Members, AddReplica, RemoveReplica
//	InstallLogger(*slog.Logger, level)     Dragonboat's logging into slog, once per process
//
// # One apply path
//
// A stream replica's state machine changes its log only through the log's
// Apply methods (log/replica.go): the same segments, records, index,
// limits and group commit an R1 stream uses. Each Update batch ends with
// log.ApplySync, which writes an applied marker and fsyncs once, so Open
// returns an applied index that is atomic with the data. Entries are the
// message's chunks (chunking framing: id, index, count, CRC-32C) and one
// commit entry with subject, header, size, chunk count and a digest of the
// chunk checksums; no entry is larger than a chunk plus 33 bytes, and no
// node holds a large message whole. Sequence numbers are assigned when the
// commit is applied, in raft order, so every replica assigns the same;
// timestamps come from the proposer (raised to stay monotonic). The
// publish checks (expected last sequence, Nats-Msg-Id dedup within the
// duplicate window, expected last subject sequence and message id, and
// rollups) travel in the commit entry (kind 6) and are decided at apply
// time, in log order, from the log and the entry's timestamp alone
// (log.Checks); the decision comes back to the proposer as the entry's
// result. A config entry (kind 7) changes the limits at one point of the
// log on every replica (UpdateConfig), and report entries (kind 8) carry
// each replica's applied index for stream info (see progress.go).
//
// Small messages (at most 64 KiB with their header) are not proposed as
// a chunk entry and a commit entry each: they queue, and the shard's
// batchers (up to 4 entries in flight) propose what queued as one batch
// entry of up to a chunk's worth, applied message by message exactly as
// the two entries would be (batch.go).
//
// # Retries and duplicates
//
// ErrSystemBusy, ErrClusterNotReady and proposal timeouts are retried with
// backoff (5 ms doubling to 500 ms) until the caller's context ends. A
// timed-out proposal may still commit, so a retry can put a chunk or a
// commit in the log twice: the log ignores a chunk it holds and answers a
// commit whose message id is already stored (log.DedupWindow) with the
// original sequence. Publish returns success only after the commit entry is
// applied on the proposing replica, which needs a quorum to have the entry
// in its fsynced raft log.
//
// # Timing
//
// Ticks of 10 ms; heartbeat every 10 ticks (100 ms); election timeout 100
// ticks (1 s, randomized up to 2 s); CheckQuorum on, so a leader cut off
// from a quorum steps down. A 1 MiB entry crosses loopback in about 1 ms,
// so the 8 entries a publisher keeps in flight delay a heartbeat by tens of
// ms at worst, far below the election timeout. The LogDB uses Dragonboat's
// small preset (16 MiB write buffers, 4 of them), not the default large one
// (about 8 GiB).
//
// # Snapshots
//
// Stream shards take Dragonboat's metadata-only snapshots every
// SnapshotEntries entries, which lets it compact its log. A replica too far
// behind gets a streamed snapshot: the leader's segment files up to its
// last applied marker, CRC-checked, received into a sibling directory and
// swapped in. The meta shard is an in-memory state machine whose snapshot
// is its map as JSON.
package raft

// Package raft replicates streams and the cluster's definitions with
// Dragonboat (v3.3.8, Pebble log store, no cgo); it is the only package
// that imports Dragonboat.
//
// # Pieces
//
//	NewNodeHost(Config)                    one per process: raft transport, log store
//	(*NodeHost).StartStreamShard(...)      a stream replica: on-disk state machine over log.Log
//	(*StreamShard).Submit(*Message, done)  ordered publish: queued, never blocks (pipeline.go)
//	(*StreamShard).Publish(ctx, *Message)  Submit and wait; returns seq, ts
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
// timestamps come from the proposer (raised to stay monotonic). Which
// messages may be stored is not raft's business: the replica log asks its
// Checker (StreamOptions.Log.Checker: the stream's publish rules) at apply
// time, in log order, and a refusal (a *log.CheckError, unread here) goes
// back to the proposer in the entry's result. A config entry (kind 7)
// changes the limits and the rules' settings (log.Config.Rules) at one
// point of the log on every replica (UpdateConfig), and report entries
// (kind 8) carry each replica's applied index for stream info (see
// progress.go).
//
// Publishes go through one ordered pipeline per shard (pipeline.go): a
// message is stored after every message submitted to the same replica
// before it, so a connection's publishes keep their order. A chunker
// proposes large messages' chunk entries (up to MaxInFlight in flight,
// across messages); a committer proposes one group entry at a time
// (kind 10, batch.go) carrying, in order, every ready message at the head
// of the queue: small messages (at most 64 KiB with their header) inline,
// applied as their one chunk and their commit, and the commits of large
// messages whose chunk entries were applied. Many publishers share one
// entry, one leader fsync, one follower fsync and one apply batch.
//
// # Retries and duplicates
//
// ErrSystemBusy, ErrClusterNotReady and proposal timeouts are retried with
// backoff (5 ms doubling to 500 ms) until the caller's context ends (a
// minute per pipeline entry); proposals create no context per attempt. A
// pipeline entry's attempt lasts an election timeout, not
// ProposalTimeout: one sent to a leader that died is proposed again to
// the next, since everything queued behind it waits for it. A
// timed-out proposal may still commit, so a retry can put a chunk or a
// commit in the log twice: the log ignores a chunk it holds and answers a
// commit whose message id is already stored (log.DedupWindow) with the
// original sequence. Publish returns success only after the commit entry is
// applied on the proposing replica, which needs a quorum to have the entry
// in its fsynced raft log.
//
// # Timing
//
// Ticks of 2 ms; heartbeat every 50 ticks (100 ms); election timeout 500
// ticks (1 s, randomized up to 2 s); CheckQuorum on, so a leader cut off
// from a quorum steps down. The short tick is for memory: Dragonboat frees
// the applied entries of its in-memory log every 100 ticks. A 1 MiB entry
// crosses loopback in about 1 ms, so the 8 chunk entries a shard keeps in
// flight delay a heartbeat by tens of ms at worst, far below the election
// timeout.
//
// # Memory and the apply-side fsync
//
// The LogDB is one Pebble instance per host with two 32 MiB memtables
// (Dragonboat's presets run 16 instances), compacting level 0 only past 64
// files (raft entries are deleted at the next snapshot, mostly before a
// compaction would rewrite them). The in-memory raft log is capped at 64
// MiB per shard. A publishing node holds at most 8 chunk entries in
// flight per shard, each in a pooled buffer, and the small messages queued
// for the next group entry.
//
// Each Update batch still ends with one fsync of the segments (ApplySync):
// the applied marker must be durable with the data it covers, or a crash
// could leave a marker past records that never reached the disk. A PubAck
// needs more than that fsync anyway: the commit was in a quorum's fsynced
// LogDB before it was applied. Since a group entry carries everything
// queued during one round trip, the fsync is paid per group, not per
// message. Leaving the marker and fsync of chunk-only batches to the next
// batch that commits (Dragonboat re-applies unmarked entries after a
// crash) was tried and made 8 MiB publishes slower: the deferred writeback
// landed on the group commit, the one step that is not pipelined.
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

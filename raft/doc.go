// Package raft replicates streams and the cluster's definitions with
// Dragonboat (v3.3.8, no cgo); it is the only package that imports
// Dragonboat. Dragonboat's log store is replaced: each shard's raft log is
// a log.Log of its own, for a stream the stream's own segments (logdb.go,
// store.go), so Pebble is not used.
//
// # Pieces
//
//	NewNodeHost(Config)                    one per process: raft transport, the shards' stores
//	(*NodeHost).StartStreamShard(...)      a stream replica: on-disk state machine over log.Log
//	(*StreamShard).Submit(*Message, done)  ordered publish: queued, never blocks (pipeline.go)
//	(*StreamShard).Publish(ctx, *Message)  Submit and wait; returns seq, ts
//	(*StreamShard).Read / ReadLocal        linearizable / local reads of the log
//	(*NodeHost).StartMetaShard(...)        JSON documents by key, with revisions
//	Leader, TransferLeader, Members, AddReplica, RemoveReplica
//	InstallLogger(*slog.Logger, level)     Dragonboat's logging into slog, once per process
//
// # The segment is the raft log
//
// A stream replica's raft entries are records of the stream's own
// segments (log/raftlog.go), written by Dragonboat's SaveRaftState through
// the custom log store (logdb.go) with one fsync per shard per save. Its
// state machine changes the log only through the log's Apply methods
// (log/replica.go), the same segments, index, limits and commit code an R1
// stream uses, and never copies a payload: a chunk entry's data is
// recorded as a reference into the entry's record (log.ApplyChunkAt), a
// small message's commit record points into the group entry that carried
// it (log.ApplyInlineAt). Each Update batch ends with log.MarkApplied, an
// applied marker written without an fsync: it is durable with the next
// raft save. So a replica writes each byte once and fsyncs once per raft
// save, where it used to write it twice (Pebble, then the segment) and
// fsync twice.
//
// Open returns the index of the last intact applied marker: everything
// before it in the log is intact (the valid prefix: see
// log/replica_recover.go), the entries after it are kept (they are the
// raft log), and Dragonboat applies them again, which rebuilds the
// message state after the marker. Dragonboat's metadata-only snapshots of
// an on-disk state machine carry its applied index, and at a restart it
// skips every entry up to the newest snapshot's index without asking the
// state machine (Dragonboat issues 156, 369): SaveSnapshots therefore
// fsyncs the shard's log before it records a snapshot, and the raft floor
// (RemoveEntriesTo) is never past a recorded snapshot.
//
// Entries are the message's chunks (chunking framing: id, index, count,
// CRC-32C) and one commit entry with subject, header, size, chunk count
// and a digest of the chunk checksums; no entry is larger than a chunk
// plus 33 bytes, and no node holds a large message whole. Sequence
// numbers are assigned when the commit is applied, in raft order, so every
// replica assigns the same; timestamps come from the proposer (raised to
// stay monotonic). Which messages may be stored is not raft's business:
// the replica log asks its Checker (StreamOptions.Log.Checker: the
// stream's publish rules) at apply time, in log order, and a refusal (a
// *log.CheckError, unread here) goes back to the proposer in the entry's
// result. A config entry (kind 7) changes the limits and the rules'
// settings (log.Config.Rules) at one
// point of the log on every replica (UpdateConfig), and report entries
// (kind 8) carry each replica's applied index for stream info (see
// progress.go).
//
// Publishes go through one ordered pipeline per shard (pipeline.go): a
// message is stored after every message submitted to the same replica
// before it, so a connection's publishes keep their order. A chunker
// proposes large messages' chunk entries (up to MaxInFlight in flight,
// across messages); a committer proposes group entries (kind 11,
// committer.go and batch.go), up to MaxGroups in flight, each carrying, in
// order, every ready message at the head of the queue: small messages (at
// most 64 KiB with their header) inline, applied as a commit record
// pointing into the entry, and the commits of large messages whose chunk
// entries were applied. A group carries its pipeline's id and sequence,
// and the state machine applies the groups of one pipeline in the order
// they were proposed, refusing one that arrives before its predecessor
// (it is proposed again in turn), so groups in flight side by side keep
// the order. Many publishers share one entry, one fsync per replica and
// one apply batch, and the next group is saved while the last one is
// still on its way. An atomic batch (SubmitBatch, atomic.go) is one item
// of the queue: its large messages are chunked as any, then it is
// proposed alone as an atomic group entry (kind 12) that every replica
// applies all or nothing (log.ApplyBatch).
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
// Ticks of 1 ms; heartbeat every 100 ticks (100 ms); election timeout 1000
// ticks (1 s, randomized up to 2 s); CheckQuorum on, so a leader cut off
// from a quorum steps down. The short tick is for memory: Dragonboat frees
// the applied entries of its in-memory log every 100 ticks. A 1 MiB entry
// crosses loopback in about 1 ms, so the 8 chunk entries a shard keeps in
// flight delay a heartbeat by tens of ms at worst, far below the election
// timeout.
//
// # Memory
//
// No Pebble: each shard's store keeps one 32-byte location per raft entry
// above the floor, and the meta shard's log is a few small segments. The
// in-memory raft log is capped at 64 MiB per shard (MaxInMemLogSize). A
// publishing node holds at most 8 chunk entries in flight per shard, each
// in a pooled buffer, and the small messages queued for the next group
// entry.
//
// # Snapshots
//
// Stream shards take Dragonboat's metadata-only snapshots every
// SnapshotEntries entries, which lets it compact its log (RemoveEntriesTo:
// the log's raft floor; a segment goes once no live message and no entry
// above the floor needs it). A replica too far behind gets a streamed
// snapshot: the leader's segment files up to its last applied marker,
// CRC-checked. Installing them (store.go: install) must coexist with the
// entries raft keeps saving on the follower meanwhile: the segments are
// received into the store's next log generation and opened there while
// raft goes on saving into the current one; then, with the store held,
// the entries after the snapshot's index and the raft state are copied
// into the new log behind a reset record, and the side file names the new
// generation current. Received files go through the FS seam (Config.FS).
// The meta shard is an in-memory state machine whose snapshot is its map
// as JSON (Dragonboat's snapshot files); its raft log is a log of entries
// only under DataDir/shards.
//
// # Layout
//
//	DataDir/host/              Dragonboat's NodeHost directory and snapshots
//	DataDir/shards/<id>/       a non-stream shard's store (the meta shard)
//	<stream dir>/raft.meta     a shard's side file: bootstrap, snapshot records, log generation
//	<stream dir>/log.<gen>/    the shard's log: segments with entries and messages
//
// A DataDir of the earlier layout (DataDir/nodehost and DataDir/wal: raft
// entries in Pebble) is refused at start (ErrOldLayout), as is a stream
// directory holding segments directly: this version cannot read them, and
// starting empty would silently drop the node's raft state.
package raft

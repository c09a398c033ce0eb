// Package log is the storage engine under a stream: an append-only,
// segmented, checksummed log of messages with group-commit durability,
// limits, and recovery from a crash at any byte.
//
// # API in brief
//
//	Open(dir, cfg, opts)            recover and open; Close
//	Append(subj, hdr, size)         an Appender: Write pieces, then Commit or Abort
//	AppendMsg(subj, hdr, payload)   a small message in one call
//	AppendStaged, Stage, CommitBatch
//	                                an atomic batch: staged messages made durable
//	                                and visible in one step (batch.go)
//	LoadMsg(seq, *StoredMsg)        metadata + payload extents (zero-copy); ReadPayload
//	LoadNext(seq, filter, *StoredMsg), LastSeqForSubject, SeqAtTime, SubjectsState
//	Delete(seq), Purge(PurgeRequest), UpdateConfig(cfg), State()
//	Wait(ctx, seq), Changed()       block until a sequence exists, no polling
//	Options.Checker                 the caller's rules, asked about every message
//	                                in log order, before its sequence (check.go)
//	SaveRaft, ReadRaftEntries, ApplyChunkAt, ApplyInlineAt, MarkApplied
//	                                a replica log: raft's entries and the apply path
//	ApplyBatch                      a replica's atomic batch, all or nothing in one
//	                                step (replica_batch.go)
//
// Sequences start at 1 (or Config.FirstSeq) and are contiguous; LastSeq never goes back, even
// after a purge. Timestamps are unix nanoseconds from the injected clock,
// never less than the previous commit's.
//
// # Layout
//
// A log is a directory of segment files named %020d.seg. The number is the
// segment id: at least the first sequence that can be committed in it, and
// increasing with file order. Segments are only appended to; a new one is
// started when the next record would pass Options.SegmentSize. Space is
// reclaimed by removing whole segments from the front once no live message
// has a record in them (the newest segment is never removed; a background
// reaper closes and unlinks them, off the commit path), and by
// Compact, which rewrites a sealed segment whose live data fell below a
// threshold with only the records recovery still needs, replacing the file
// atomically (compact.go; a stray %020d.seg.compact is removed at Open).
//
// # Record format (version 1; version 2 for replica logs)
//
// A segment is a run of records. All integers are little-endian; every
// constant in record.go marked "format" is part of it. A stream log's
// segments are version 1; a replica log's (Options.Replica: a replicated
// stream's, whose segments are also its raft log) are version 2, which
// adds record types 9-13 and changes the applied marker.
//
//	0       4      5       6          8       12
//	+-------+------+-------+----------+-------+------------------+
//	|  crc  | type | flags | reserved |  len  |  body (len bytes)|
//	+-------+------+-------+----------+-------+------------------+
//
// crc is CRC-32C (Castagnoli) of header bytes 4..11 followed by the body,
// except that the payload of msg and chunk records is left out and carries
// its own CRC-32C in the record's meta (so a payload is checksummed exactly
// once while it is written, and the small metadata can be verified on every
// load without reading the payload). flags bit 0 = payload (for a commit
// record: every chunk) is s2 compressed; bit 1 (commit records of replica
// logs) = the chunk references point into raft entry records and no chunk
// or chunkref record goes with them.
// Bodies by type:
//
//	1 segment  "BARGESEG" | version u32 | segment id u64 | last seq u64 | last ts i64
//	2 msg      seq u64 | ts i64 | payload crc u32 | subj len u16 | hdr len u32 |
//	           size u64 | subject | hdr | payload
//	3 chunk    txn u64 | index u32 | data crc u32 | data
//	4 commit   seq u64 | ts i64 | subj len u16 | hdr len u32 | size u64 | txn u64 |
//	           nchunks u32 | subject | hdr | nchunks × (segment u64 | data offset u64 |
//	           data len u32 | data crc u32)
//	5 delete   seq u64
//	6 purge    last seq removed u64 | subj len u16 | subject filter ("" = all)
//	7 applied  raft index u64 | last seq u64 | last ts i64 | npending u32 |
//	           npending × message id u64 | state len u32 | state (the state
//	           machine's, opaque) (replica logs: replica.go)
//	8 skip     first seq u64 | last seq u64: messages first..last existed
//	           and were removed; compaction dropped their records
//	9 entry    raft index u64 | term u64 | key u64 | client u64 | series u64 |
//	           responded to u64 | type u8 | 3 zero bytes | cmd crc u32 | cmd
//	           (the record crc covers the meta; cmd has its own crc)
//	10 state   term u64 | vote u64 | commit u64 (raft's hard state)
//	11 reset   raft index u64: every entry record before is void; the raft
//	           log goes on after index (a snapshot was installed)
//	12 chunkref message id u64 | chunk index u32 | crc u32 | segment u64 |
//	           offset u64 | len u32: a pending message's chunk, inside an
//	           entry record
//	13 void    raft index u64: the apply side's records since the last
//	           applied marker are void (replica_recover.go)
//
// Types 9-13 are written by replica logs only (raftlog.go,
// replica_recover.go): a replicated stream's raft entries are records of
// its own segments, and a message applied from them refers to its payload
// where the entry record holds it, so every byte is written once. A
// segment, which raft's entries as well as messages can keep, goes once no
// live message has a record in it and raft's floor (SetRaftFloor) is past
// its entries.
//
// A message of at most ChunkSize bytes is one msg record. A larger one is
// written as chunk records while its payload arrives (chunks of concurrent
// appenders interleave; txn ties them to their message) and becomes a
// message only when its commit record, which lists where every chunk is, is
// written. An abandoned message leaves only unreferenced chunks.
//
// # Durability
//
// With SyncAlways (default) Commit, Delete and Purge return only after
// their record is fsynced. Writers enqueue their written records in file
// order; the first waiter to find no sync in progress leads a batch: it
// fsyncs once for everyone queued, applies the batch to the index in order,
// and wakes them (group commit). A record becomes visible to readers only
// then. Before a new segment is used the previous one is fsynced, and the
// new one's header and the directory too. A write or sync error (a full
// disk: ErrNoSpace; else ErrIO) fails every operation not yet durable and
// rolls the log back to its last durable point (the active segment is
// truncated there); writes are refused for a short backoff and then simply
// tried again, so publishing resumes once space returns, and nothing
// acknowledged is lost (writefail.go). Purge and Delete on a full disk free
// whole segments first and write their records into the freed space
// (free.go). Replica logs keep the old rule: the error sticks until
// reopened. A replica log's apply side (the Apply methods, MarkApplied)
// never fsyncs: its records are made durable by the raft side's fsync
// (SaveRaft: one per raft save, covering everything written before), and
// recovery rebuilds the messages up to the last intact applied marker
// (replica_recover.go).
//
// # Recovery
//
// Open replays every segment in order through the same apply code the
// writer uses, so limits and purges come out the same. A sealed segment
// with a valid index sidecar (%020d.idx: every record's offset, header and
// checksummed metadata, written in the background after a roll from the
// records' metadata alone, payloads unread; see index_file.go) is replayed from it without reading its payloads, whose
// own checksums are then checked on read; any mismatch falls back to a
// scan. A record that does
// not verify is skipped up to the next valid record; if none follows in the
// last segment, it is a torn tail and the file is truncated there. A
// committed sequence whose record (or one of its chunks) is corrupt is
// reported in State().Lost and to the logger, and LoadMsg returns
// ErrCorrupt for it: corrupt bytes are never returned as data. Because a
// sidecar replay leaves payloads unread, a background pass re-reads the
// messages of the segments sealed at Open, rate-limited
// (Options.VerifyRate), and flags those that fail as damaged: listed in
// State().Lost, ErrCorrupt on LoadMsg, skipped by LoadNext (verify.go).
//
// # Evictions
//
// Messages removed by the limits (MaxMsgs, MaxBytes, MaxAge,
// MaxMsgsPerSubject) are logged too (evict.go), because replay applies the
// limits of the Config the log is opened with: a limit raised since would
// otherwise bring evicted messages back. Front evictions are written as a
// purge record (empty filter, up to FirstSeq-1), interior ones
// (MaxMsgsPerSubject) as delete records; both replay idempotently. They are
// written right after the batch that evicted, by one on-demand goroutine,
// and join the next group commit. UpdateConfig makes the evictions under
// the old limits durable before the new ones apply, and those under the new
// ones before it returns; Open logs what it evicts under a lowered limit
// before it returns; Close logs what is pending. Window: a crash between an
// evicting batch and the fsync of its eviction records, followed by an Open
// with a higher limit than the writer had, can keep that batch's evicted
// messages (an Open with the same limits evicts them again by replay).
//
// A commit whose chunks are missing is reported lost, unless a later
// delete or purge record removes it: compaction drops the chunks of
// removed messages even when their commit record sits in a segment that is
// not rewritten.
//
// Known limits of this version: the newest segment, and sealed ones whose
// sidecar is missing (not yet written, or a compaction rewrote them since),
// are scanned in full at Open; Compact runs in the background after
// segment rolls (Options.CompactThreshold) or when called; it keeps every
// delete and purge record, and skips a segment
// pinned by an appender or holding chunks of a live message committed in a
// later segment; the files it replaces stay open until Close or until 64
// newer compactions (an Extent older than that fails with os.ErrClosed, as
// one of a removed segment does); replica logs
// are not compacted, and their segments are scanned in full at Open (no
// sidecars, no background verification).
package log

package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/chunking"
	"github.com/bargemq/barge/log"
)

// Stream shard entry format (format: changing it breaks existing raft
// logs). Every entry starts with a kind byte; integers are little-endian.
//
//	1 chunk   chunking header (32 bytes: message id, index, count, len, crcs) | data
//	2 commit  id u64 | ts i64 | size u64 | chunks u32 | digest u32 | flags u8 |
//	          last seq u64 | subj len u16 | hdr len u32 | subject | hdr
//	          (flags bit 0: check last seq)
//	3 delete  seq u64
//	4 purge   seq u64 | keep u64 | subj len u16 | subject
//	5 abort   id u64
//	6 commit with checks: kind 2's layout, then
//	          dup window i64 | subj seq u64 | filter len u16 | filter |
//	          last msg id len u16 | last msg id
//	          (flags bit 1: check subject seq, bit 2: check last msg id,
//	          bits 3-4: rollup, 1 subject 2 all; see log.Checks)
//	7 config  max msgs i64 | max bytes i64 | max age i64 ns |
//	          max msgs per subject i64 | max msg size i64 | discard u8
//	8 report  node u64 | applied index u64 | unix ns i64 (replica progress)
//	9 batch   small messages, each a one-chunk message and its commit
//	          (see batch.go)
//	10 group  small messages inline as in 9, and commits of large messages
//	          chunked before (batch.go; written by earlier versions)
//	11 group  what the publish pipeline writes: a group of kind 10 with
//	          its pipeline's id and sequence first (committer.go)
//
// Kind 2 is still written for commits without checks (and read), so logs
// written before kind 6 existed stay readable. An entry is at most one
// chunk plus 33 bytes (a commit: its subject, header and check strings):
// a large message never travels through raft whole.
const (
	kindChunk   byte = 1
	kindCommit  byte = 2
	kindDelete  byte = 3
	kindPurge   byte = 4
	kindAbort   byte = 5
	kindCommitX byte = 6
	kindConfig  byte = 7
	kindReport  byte = 8

	commitFixed = 1 + 8 + 8 + 8 + 4 + 4 + 1 + 8 + 2 + 4
	configSize  = 1 + 5*8 + 1
	reportSize  = 1 + 8 + 8 + 8

	flagLastSeq   = 1 << 0
	flagSubjSeq   = 1 << 1
	flagLastMsgID = 1 << 2
	rollupShift   = 3
	flagsKnown    = 1<<5 - 1
)

var le = binary.LittleEndian

var errBadEntry = errors.New("raft: malformed entry")

// appendCommit encodes a commit entry: kind 2 when it has no checks
// beyond the last sequence, kind 6 otherwise.
func appendCommit(dst []byte, c *log.Commit) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, commitFixed)...)
	b := dst[n:]
	b[0] = kindCommit
	le.PutUint64(b[1:], c.ID)
	le.PutUint64(b[9:], uint64(c.Time))
	le.PutUint64(b[17:], uint64(c.Size))
	le.PutUint32(b[25:], c.Chunks)
	le.PutUint32(b[29:], c.Digest)
	ch := &c.Checks
	var flags byte
	if c.CheckLastSeq {
		flags |= flagLastSeq
	}
	if ch.CheckSubjSeq {
		flags |= flagSubjSeq
	}
	if ch.CheckLastMsgID {
		flags |= flagLastMsgID
	}
	flags |= byte(ch.Rollup&3) << rollupShift
	b[33] = flags
	le.PutUint64(b[34:], c.LastSeq)
	le.PutUint16(b[42:], uint16(len(c.Subject)))
	le.PutUint32(b[44:], uint32(len(c.Hdr)))
	dst = append(dst, c.Subject...)
	dst = append(dst, c.Hdr...)
	if *ch == (log.Checks{}) {
		return dst
	}
	dst[n] = kindCommitX
	dst = le.AppendUint64(dst, uint64(ch.DupWindow))
	dst = le.AppendUint64(dst, ch.SubjSeq)
	dst = le.AppendUint16(dst, uint16(len(ch.SubjFilter)))
	dst = append(dst, ch.SubjFilter...)
	dst = le.AppendUint16(dst, uint16(len(ch.LastMsgID)))
	return append(dst, ch.LastMsgID...)
}

// parseCommit decodes a commit entry (kind 2 or 6) into c; c.Hdr aliases b.
func parseCommit(b []byte, c *log.Commit) error {
	if len(b) < commitFixed {
		return errBadEntry
	}
	sl, hl := int(le.Uint16(b[42:])), int(le.Uint32(b[44:]))
	flags := b[33]
	end := commitFixed + sl + hl
	if len(b) < end || flags&^flagsKnown != 0 || (b[0] == kindCommit && (len(b) != end || flags&^flagLastSeq != 0)) {
		return errBadEntry
	}
	*c = log.Commit{ID: le.Uint64(b[1:]), Time: int64(le.Uint64(b[9:])), Size: int64(le.Uint64(b[17:])),
		Chunks: le.Uint32(b[25:]), Digest: le.Uint32(b[29:]), CheckLastSeq: flags&flagLastSeq != 0, LastSeq: le.Uint64(b[34:]),
		Subject: string(b[commitFixed : commitFixed+sl]), Hdr: b[commitFixed+sl : end]}
	if b[0] == kindCommit {
		return nil
	}
	x := b[end:]
	if len(x) < 18 {
		return errBadEntry
	}
	ch := &c.Checks
	ch.DupWindow, ch.SubjSeq = int64(le.Uint64(x)), le.Uint64(x[8:])
	fl := int(le.Uint16(x[16:]))
	if len(x) < 18+fl+2 {
		return errBadEntry
	}
	ch.SubjFilter = string(x[18 : 18+fl])
	x = x[18+fl:]
	ml := int(le.Uint16(x))
	if len(x) != 2+ml {
		return errBadEntry
	}
	ch.LastMsgID = string(x[2:])
	ch.CheckSubjSeq, ch.CheckLastMsgID = flags&flagSubjSeq != 0, flags&flagLastMsgID != 0
	ch.Rollup = log.Rollup(flags >> rollupShift & 3)
	if ch.Rollup > log.RollupAll {
		return errBadEntry
	}
	return nil
}

// appendConfig encodes a config entry: the limits every replica applies
// at the same point of the log.
func appendConfig(dst []byte, cfg log.Config) []byte {
	dst = append(dst, kindConfig)
	for _, v := range []int64{cfg.MaxMsgs, cfg.MaxBytes, int64(cfg.MaxAge), cfg.MaxMsgsPerSubject, cfg.MaxMsgSize} {
		dst = le.AppendUint64(dst, uint64(v))
	}
	return append(dst, byte(cfg.Discard))
}

// parseConfig decodes a config entry over base (storage and compression
// are not replicated settings).
func parseConfig(b []byte, base log.Config) (log.Config, error) {
	if len(b) != configSize {
		return base, errBadEntry
	}
	v := func(i int) int64 { return int64(le.Uint64(b[1+8*i:])) }
	base.MaxMsgs, base.MaxBytes, base.MaxAge = v(0), v(1), time.Duration(v(2))
	base.MaxMsgsPerSubject, base.MaxMsgSize, base.Discard = v(3), v(4), log.Discard(b[41])
	return base, nil
}

// appendReport encodes a progress report of node.
func appendReport(dst []byte, node, applied uint64, ts int64) []byte {
	dst = append(dst, kindReport)
	dst = le.AppendUint64(dst, node)
	dst = le.AppendUint64(dst, applied)
	return le.AppendUint64(dst, uint64(ts))
}

// appendChunk encodes a chunk entry: the chunking frame of data.
func appendChunk(dst []byte, h chunking.Header, data []byte) []byte {
	dst = append(dst, kindChunk)
	dst = chunking.AppendHeader(dst, h)
	return append(dst, data...)
}

// parseChunk decodes and verifies a chunk entry.
func parseChunk(b []byte) (chunking.Header, []byte, error) {
	if len(b) < 1+chunking.HeaderSize {
		return chunking.Header{}, nil, errBadEntry
	}
	h, err := chunking.ParseHeader(b[1:])
	if err != nil {
		return h, nil, fmt.Errorf("%w: %v", errBadEntry, err)
	}
	data := b[1+chunking.HeaderSize:]
	if err := chunking.VerifyData(h, data); err != nil {
		return h, nil, fmt.Errorf("%w: %v", errBadEntry, err)
	}
	return h, data, nil
}

func appendU64Entry(dst []byte, kind byte, v uint64) []byte {
	dst = append(dst, kind)
	return le.AppendUint64(dst, v)
}

func appendPurge(dst []byte, req log.PurgeRequest) []byte {
	dst = append(dst, kindPurge)
	dst = le.AppendUint64(dst, req.Seq)
	dst = le.AppendUint64(dst, req.Keep)
	dst = le.AppendUint16(dst, uint16(len(req.Subject)))
	return append(dst, req.Subject...)
}

func parsePurge(b []byte) (log.PurgeRequest, error) {
	if len(b) < 19 || len(b) != 19+int(le.Uint16(b[17:])) {
		return log.PurgeRequest{}, errBadEntry
	}
	return log.PurgeRequest{Seq: le.Uint64(b[1:]), Keep: le.Uint64(b[9:]), Subject: string(b[19:])}, nil
}

// Result codes of stream entries (sm.Result.Data[0]; Value carries the
// sequence, or the purge count).
const (
	codeOK byte = iota
	codeDuplicate
	codeNotFound // commit of an unknown or aborted message; delete of a missing one
	codeCorrupt
	codeLastSeq
	codeLimit // MaxMsgSize / DiscardNew
	codeBadEntry
	codeOther
	codeDupMsgID  // Nats-Msg-Id duplicate: Value is the original sequence
	codeLastMsgID // Data[9:] is the actual last message id
)

// Errors a proposal can report. Everything else is a transport or
// shutdown error from Dragonboat, wrapped.
var (
	// ErrLastSeq: the expected last (subject) sequence did not match; it
	// comes wrapped in a *log.CheckError with the actual sequence.
	ErrLastSeq = errors.New("raft: wrong last sequence")
	// ErrLastMsgID: the expected last message id did not match; it comes
	// wrapped in a *log.CheckError with the actual id.
	ErrLastMsgID = errors.New("raft: wrong last message id")
	// ErrDuplicate: a Nats-Msg-Id duplicate within the duplicate window;
	// nothing was stored and the sequence returned is the original's.
	ErrDuplicate = errors.New("raft: duplicate message id")
	// ErrLimit: the stream's limits rejected the message.
	ErrLimit = errors.New("raft: message rejected by stream limits")
	// ErrNotFound: delete of a missing message.
	ErrNotFound = errors.New("raft: not found")
	// ErrRejected: the replicas refused the entry (corrupt or malformed).
	ErrRejected = errors.New("raft: entry rejected")
)

// codeOf maps a log error to a result code.
func codeOf(err error) byte {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, log.ErrDuplicate):
		return codeDuplicate
	case errors.Is(err, log.ErrDupMsgID):
		return codeDupMsgID
	case errors.Is(err, log.ErrLastMsgID):
		return codeLastMsgID
	case errors.Is(err, log.ErrNotFound), errors.Is(err, log.ErrDeleted):
		return codeNotFound
	case errors.Is(err, log.ErrCorrupt):
		return codeCorrupt
	case errors.Is(err, log.ErrLastSeq):
		return codeLastSeq
	case errors.Is(err, log.ErrMaxMsgSize), errors.Is(err, log.ErrMaxMsgs), errors.Is(err, log.ErrMaxBytes):
		return codeLimit
	case errors.Is(err, errBadEntry), errors.Is(err, log.ErrBadRequest), errors.Is(err, log.ErrConfig):
		return codeBadEntry
	}
	return codeOther
}

// errOf maps a result back to an error.
func errOf(res sm.Result) error {
	switch res.Data[0] {
	case codeOK, codeDuplicate:
		return nil
	case codeDupMsgID:
		return ErrDuplicate
	case codeNotFound:
		return ErrNotFound
	case codeLastSeq:
		return &log.CheckError{Err: ErrLastSeq, Seq: res.Value}
	case codeLastMsgID:
		return &log.CheckError{Err: ErrLastMsgID, MsgID: string(res.Data[9:])}
	case codeLimit:
		return ErrLimit
	}
	return fmt.Errorf("%w (code %d)", ErrRejected, res.Data[0])
}

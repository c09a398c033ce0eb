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
//	          reserved u64 | subj len u16 | hdr len u32 | subject | hdr
//	          (flags 0 and reserved 0, or flags flagAtSeq and reserved the
//	          sequence the message must get: a mirror's copy, whose ts is
//	          its origin's; log.Commit.Seq)
//	3 delete  seq u64
//	4 purge   seq u64 | keep u64 | subj len u16 | subject
//	5 abort   id u64
//	6 commit as written by earlier versions: kind 2's layout (flags bits
//	          0-4 set, reserved the expected last sequence), then
//	          dup window i64 | subj seq u64 | filter len u16 | filter |
//	          last msg id len u16 | last msg id
//	7 config  max msgs i64 | max bytes i64 | max age i64 ns |
//	          max msgs per subject i64 | reserved i64 | discard u8 |
//	          rules len u16 | rules (log.Config.Rules; absent in entries of
//	          earlier versions, whose reserved field was max msg size)
//	8 report  node u64 | applied index u64 | unix ns i64 (replica progress)
//	9 batch   small messages, each a one-chunk message and its commit
//	          (see batch.go)
//	10 group  small messages inline as in 9, and commits of large messages
//	          chunked before (batch.go; written by earlier versions)
//	11 group  what the publish pipeline writes: a group of kind 10 with
//	          its pipeline's id and sequence first (committer.go)
//	12 atomic a kind 11 group applied all or nothing: an atomic batch
//	          (atomic.go)
//
// The publish rules are not in the entry: the state machine's log asks
// its Checker (log.Options.Checker), which reads the message's header and
// the rules in the log's config, at apply time. Kind 6 and a kind 2 with
// flags, written by earlier versions when the checks travelled in the
// entry, are still read; their check fields are skipped (the header they
// were taken from is in the entry). An entry is at most one chunk plus 33
// bytes (a commit: its subject and header): a large message never travels
// through raft whole.
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
	configSize  = 1 + 5*8 + 1 // without the rules (earlier versions)
	reportSize  = 1 + 8 + 8 + 8

	// flagsKnown are the commit flags earlier versions wrote (their
	// checks: last seq, subject seq, last msg id, rollup).
	flagsKnown = 1<<5 - 1
	// flagAtSeq (kind 2 only): reserved holds the message's sequence.
	flagAtSeq = 1 << 5
)

var le = binary.LittleEndian

var errBadEntry = errors.New("raft: malformed entry")

// appendCommit encodes a commit entry (kind 2).
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
	if c.Seq != 0 {
		b[33] = flagAtSeq
		le.PutUint64(b[34:], c.Seq)
	}
	le.PutUint16(b[42:], uint16(len(c.Subject)))
	le.PutUint32(b[44:], uint32(len(c.Hdr)))
	dst = append(dst, c.Subject...)
	return append(dst, c.Hdr...)
}

// parseCommit decodes a commit entry (kind 2, or 6 from earlier versions,
// whose check fields are validated and skipped) into c; c.Hdr aliases b.
func parseCommit(b []byte, c *log.Commit) error {
	if len(b) < commitFixed {
		return errBadEntry
	}
	sl, hl := int(le.Uint16(b[42:])), int(le.Uint32(b[44:]))
	end := commitFixed + sl + hl
	atSeq := b[0] == kindCommit && b[33] == flagAtSeq
	if len(b) < end || (!atSeq && (b[33]&^flagsKnown != 0 || b[33]>>3 == 3)) || (b[0] == kindCommit && len(b) != end) {
		return errBadEntry
	}
	*c = log.Commit{ID: le.Uint64(b[1:]), Time: int64(le.Uint64(b[9:])), Size: int64(le.Uint64(b[17:])),
		Chunks: le.Uint32(b[25:]), Digest: le.Uint32(b[29:]),
		Subject: string(b[commitFixed : commitFixed+sl]), Hdr: b[commitFixed+sl : end]}
	if atSeq {
		c.Seq = le.Uint64(b[34:])
		if c.Seq == 0 {
			return errBadEntry
		}
	}
	if b[0] == kindCommit {
		return nil
	}
	// Kind 6: dup window, subject seq, filter, last msg id.
	x := b[end:]
	if len(x) < 18 || len(x) < 18+int(le.Uint16(x[16:]))+2 {
		return errBadEntry
	}
	x = x[18+int(le.Uint16(x[16:])):]
	if len(x) != 2+int(le.Uint16(x)) {
		return errBadEntry
	}
	return nil
}

// appendConfig encodes a config entry: the limits and rules every replica
// applies at the same point of the log.
func appendConfig(dst []byte, cfg log.Config) []byte {
	dst = append(dst, kindConfig)
	for _, v := range []int64{cfg.MaxMsgs, cfg.MaxBytes, int64(cfg.MaxAge), cfg.MaxMsgsPerSubject, 0} {
		dst = le.AppendUint64(dst, uint64(v))
	}
	dst = append(dst, byte(cfg.Discard))
	dst = le.AppendUint16(dst, uint16(len(cfg.Rules)))
	return append(dst, cfg.Rules...)
}

// parseConfig decodes a config entry over base (storage and compression
// are not replicated settings). An entry of an earlier version has no
// rules: they stay base's.
func parseConfig(b []byte, base log.Config) (log.Config, error) {
	switch {
	case len(b) == configSize:
	case len(b) >= configSize+2 && len(b) == configSize+2+int(le.Uint16(b[configSize:])):
		base.Rules = string(b[configSize+2:])
	default:
		return base, errBadEntry
	}
	v := func(i int) int64 { return int64(le.Uint64(b[1+8*i:])) }
	base.MaxMsgs, base.MaxBytes, base.MaxAge = v(0), v(1), time.Duration(v(2))
	base.MaxMsgsPerSubject, base.Discard = v(3), log.Discard(b[41])
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
// sequence, or the purge count). Results are not stored: they go from a
// replica's apply to a proposer on the same node.
const (
	codeOK        byte = 0
	codeDuplicate byte = 1 // a message id already committed (a retried proposal)
	codeNotFound  byte = 2 // commit of an unknown or aborted message; delete of a missing one
	codeCorrupt   byte = 3
	codeCheck     byte = 4 // the log's Checker refused: Value is its Seq, the extra its code u32 | text
	codeLimit     byte = 5 // DiscardNew: Value is 1 for max msgs, 2 for max bytes
	codeBadEntry  byte = 6
	codeOther     byte = 7
	codeSeqExists byte = 8 // a mirror's message whose sequence is stored already
)

// Errors a proposal can report. Everything else is a transport or
// shutdown error from Dragonboat, wrapped.
var (
	// ErrLimit: the stream's limits rejected the message; it wraps
	// log.ErrMaxMsgs or log.ErrMaxBytes.
	ErrLimit = errors.New("raft: message rejected by stream limits")
	// ErrNotFound: delete of a missing message.
	ErrNotFound = errors.New("raft: not found")
	// ErrRejected: the replicas refused the entry (corrupt or malformed).
	ErrRejected = errors.New("raft: entry rejected")
	// ErrSeqExists: a message with Message.Seq below the log's next
	// sequence (a mirror's copy of a message it has); it wraps
	// log.ErrSeqExists.
	ErrSeqExists = fmt.Errorf("raft: %w", log.ErrSeqExists)
)

// codeOf maps a log error to a result code.
func codeOf(err error) byte {
	var ce *log.CheckError
	switch {
	case err == nil:
		return codeOK
	case errors.As(err, &ce):
		return codeCheck
	case errors.Is(err, log.ErrDuplicate):
		return codeDuplicate
	case errors.Is(err, log.ErrSeqExists):
		return codeSeqExists
	case errors.Is(err, log.ErrNotFound), errors.Is(err, log.ErrDeleted):
		return codeNotFound
	case errors.Is(err, log.ErrCorrupt):
		return codeCorrupt
	case errors.Is(err, log.ErrMaxMsgs), errors.Is(err, log.ErrMaxBytes):
		return codeLimit
	case errors.Is(err, errBadEntry), errors.Is(err, log.ErrBadRequest), errors.Is(err, log.ErrConfig):
		return codeBadEntry
	}
	return codeOther
}

// outcome is a commit's result: its code, value (the sequence, a check's
// Seq, or which limit) and extra bytes (a check's code and text).
func outcome(code byte, seq uint64, err error) (val uint64, extra []byte) {
	var ce *log.CheckError
	switch {
	case code == codeOK:
		val = seq
	case code == codeCheck && errors.As(err, &ce):
		val = ce.Seq
		extra = le.AppendUint32(extra, ce.Code)
		extra = append(extra, ce.Text...)
	case code == codeDuplicate:
		val = seq
	case code == codeLimit && errors.Is(err, log.ErrMaxBytes):
		val = 2
	case code == codeLimit:
		val = 1
	}
	return val, extra
}

// errOf maps a result back to an error.
func errOf(res sm.Result) error {
	switch res.Data[0] {
	case codeOK, codeDuplicate:
		return nil
	case codeNotFound:
		return ErrNotFound
	case codeSeqExists:
		return ErrSeqExists
	case codeCheck:
		x := res.Data[9:]
		if len(x) < 4 {
			return fmt.Errorf("%w: short check result", ErrRejected)
		}
		return &log.CheckError{Code: le.Uint32(x), Seq: res.Value, Text: string(x[4:])}
	case codeLimit:
		if res.Value == 2 {
			return fmt.Errorf("%w: %w", ErrLimit, log.ErrMaxBytes)
		}
		return fmt.Errorf("%w: %w", ErrLimit, log.ErrMaxMsgs)
	}
	return fmt.Errorf("%w (code %d)", ErrRejected, res.Data[0])
}

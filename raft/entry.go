package raft

import (
	"encoding/binary"
	"errors"
	"fmt"

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
//
// An entry is at most one chunk plus 33 bytes: a large message never
// travels through raft whole.
const (
	kindChunk  byte = 1
	kindCommit byte = 2
	kindDelete byte = 3
	kindPurge  byte = 4
	kindAbort  byte = 5

	commitFixed = 1 + 8 + 8 + 8 + 4 + 4 + 1 + 8 + 2 + 4
)

var le = binary.LittleEndian

var errBadEntry = errors.New("raft: malformed entry")

// appendCommit encodes a commit entry.
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
	if c.CheckLastSeq {
		b[33] = 1
	}
	le.PutUint64(b[34:], c.LastSeq)
	le.PutUint16(b[42:], uint16(len(c.Subject)))
	le.PutUint32(b[44:], uint32(len(c.Hdr)))
	dst = append(dst, c.Subject...)
	return append(dst, c.Hdr...)
}

// parseCommit decodes a commit entry into c; c.Hdr aliases b.
func parseCommit(b []byte, c *log.Commit) error {
	if len(b) < commitFixed {
		return errBadEntry
	}
	sl, hl := int(le.Uint16(b[42:])), int(le.Uint32(b[44:]))
	if len(b) != commitFixed+sl+hl || b[33]&^1 != 0 {
		return errBadEntry
	}
	*c = log.Commit{ID: le.Uint64(b[1:]), Time: int64(le.Uint64(b[9:])), Size: int64(le.Uint64(b[17:])),
		Chunks: le.Uint32(b[25:]), Digest: le.Uint32(b[29:]), CheckLastSeq: b[33] == 1, LastSeq: le.Uint64(b[34:]),
		Subject: string(b[commitFixed : commitFixed+sl]), Hdr: b[commitFixed+sl:]}
	return nil
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
)

// Errors a proposal can report. Everything else is a transport or
// shutdown error from Dragonboat, wrapped.
var (
	// ErrLastSeq: the expected last sequence did not match.
	ErrLastSeq = errors.New("raft: wrong last sequence")
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
	case errors.Is(err, log.ErrNotFound), errors.Is(err, log.ErrDeleted):
		return codeNotFound
	case errors.Is(err, log.ErrCorrupt):
		return codeCorrupt
	case errors.Is(err, log.ErrLastSeq):
		return codeLastSeq
	case errors.Is(err, log.ErrMaxMsgSize), errors.Is(err, log.ErrMaxMsgs), errors.Is(err, log.ErrMaxBytes):
		return codeLimit
	case errors.Is(err, errBadEntry), errors.Is(err, log.ErrBadRequest):
		return codeBadEntry
	}
	return codeOther
}

// errOf maps a result code back to an error.
func errOf(code byte) error {
	switch code {
	case codeOK, codeDuplicate:
		return nil
	case codeNotFound:
		return ErrNotFound
	case codeLastSeq:
		return ErrLastSeq
	case codeLimit:
		return ErrLimit
	}
	return fmt.Errorf("%w (code %d)", ErrRejected, code)
}

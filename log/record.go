package log

import (
	"encoding/binary"
	"hash/crc32"
)

// Record format constants (format: changing any changes the bytes on disk).
const (
	recHeaderSize = 12         // crc u32 | type u8 | flags u8 | reserved u16 | len u32
	maxRecordBody = 256 << 20  // sanity bound on a record body while scanning
	segMagic      = "BARGESEG" // opens every segment's first record
	segVersion    = 1
	// segVersionRaft is the version of a replica log's segments (Options.
	// Replica): they also hold raft entries (types 9-12) and version-2
	// applied markers. A replica log refuses any other version
	// (ErrOldLayout); a stream log reads version 1 only.
	segVersionRaft = 2

	recSegment byte = 1 // segment header
	recMsg     byte = 2 // a whole small message
	recChunk   byte = 3 // one chunk of a large message
	recCommit  byte = 4 // commits a large message from its chunks
	recDelete  byte = 5 // tombstone for one sequence
	recPurge   byte = 6 // removes messages (optionally of a subject) up to a sequence
	recApplied byte = 7 // replicated logs: raft index applied up to here (replica.go)
	recSkip    byte = 8 // compaction removed the (dead) messages first..last here (compact.go)
	// Replica logs only (format version 2; see raftlog.go).
	recEntry    byte = 9  // a raft log entry
	recState    byte = 10 // raft's hard state: term, vote, commit
	recReset    byte = 11 // every entry before is void; the raft log goes on after an index
	recChunkRef byte = 12 // a pending message's chunk lies inside an entry record
	recVoid     byte = 13 // the apply side's records since the last applied marker are void
	recLast     byte = recVoid

	flagS2 byte = 1 << 0 // payload bytes are s2-compressed (msg, chunk)
	// flagRefs marks a commit record whose chunk references point into raft
	// entry records and have no chunk or chunkref record of their own (an
	// inline message of a group entry: replica.go).
	flagRefs   byte = 1 << 1
	flagsKnown      = flagS2 | flagRefs

	segBodySize   = 8 + 4 + 8 + 8 + 8 // magic, version, id, last seq, last ts
	msgMetaSize   = 8 + 8 + 4 + 2 + 4 + 8
	commitMetaSz  = 8 + 8 + 2 + 4 + 8 + 8 + 4
	chunkMetaSize = 8 + 4 + 4
	chunkRefSize  = 8 + 8 + 4 + 4
	deleteBodySz  = 8
	purgeMetaSize = 8 + 2
	skipBodySize  = 8 + 8 // first seq, last seq
	// entryMetaSize: index, term, key, client id, series id, responded to,
	// type u8, 3 reserved zero bytes, cmd crc u32.
	entryMetaSize    = 6*8 + 1 + 3 + 4
	stateBodySize    = 8 + 8 + 8
	resetBodySize    = 8
	chunkRefBodySize = 8 + 4 + 4 + 8 + 8 + 4 // id, index, crc, segment, offset, len
	voidBodySize     = 8                     // the applied index then
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(p []byte) uint32                 { return crc32.Checksum(p, castagnoli) }
func crc32cUpdate(c uint32, p []byte) uint32 { return crc32.Update(c, castagnoli, p) }

var le = binary.LittleEndian

// recHeader is a decoded record header.
type recHeader struct {
	crc   uint32
	typ   byte
	flags byte
	len   uint32 // body length
}

// putRecHeader writes the header for a body of n bytes into b[:12] with the
// crc left zero; sealRecord fills it.
func putRecHeader(b []byte, typ, flags byte, n int) {
	le.PutUint32(b[0:], 0)
	b[4] = typ
	b[5] = flags
	le.PutUint16(b[6:], 0)
	le.PutUint32(b[8:], uint32(n))
}

// sealRecord computes the record crc over header bytes 4..11 and covered
// (the body bytes the crc protects: all of it, or all but the payload for
// msg and chunk records, whose payload has its own crc in the meta).
func sealRecord(hdr []byte, covered []byte) {
	c := crc32c(hdr[4:recHeaderSize])
	c = crc32cUpdate(c, covered)
	le.PutUint32(hdr[0:], c)
}

func parseRecHeader(b []byte) recHeader {
	return recHeader{crc: le.Uint32(b[0:]), typ: b[4], flags: b[5], len: le.Uint32(b[8:])}
}

// plausible is the cheap filter used when looking for the next record after
// a corrupt one.
func (h recHeader) plausible(b []byte) bool {
	return h.typ >= recSegment && h.typ <= recLast && h.flags&^flagsKnown == 0 && le.Uint16(b[6:]) == 0 &&
		h.len <= maxRecordBody
}

// coveredLen returns how many body bytes the record crc covers, or -1 when
// the meta contradicts the body length.
func coveredLen(typ byte, body []byte) int {
	switch typ {
	case recMsg:
		if len(body) < msgMetaSize {
			return -1
		}
		n := msgMetaSize + int(le.Uint16(body[20:])) + int(le.Uint32(body[22:]))
		if n > len(body) {
			return -1
		}
		return n
	case recChunk:
		if len(body) < chunkMetaSize {
			return -1
		}
		return chunkMetaSize
	case recSegment:
		if len(body) != segBodySize {
			return -1
		}
	case recCommit:
		if len(body) < commitMetaSz {
			return -1
		}
		n := commitMetaSz + int(le.Uint16(body[16:])) + int(le.Uint32(body[18:])) + chunkRefSize*int(le.Uint32(body[38:]))
		if n != len(body) {
			return -1
		}
	case recDelete:
		if len(body) != deleteBodySz {
			return -1
		}
	case recPurge:
		if len(body) < purgeMetaSize || len(body) != purgeMetaSize+int(le.Uint16(body[8:])) {
			return -1
		}
	case recSkip:
		if len(body) != skipBodySize {
			return -1
		}
	case recApplied:
		if len(body) < appliedMetaSize {
			return -1
		}
		n := appliedMetaSize + 8*int(le.Uint32(body[appliedMetaSize-4:]))
		if len(body) < n+4 || len(body) != n+4+int(le.Uint32(body[n:])) {
			return -1
		}
	case recEntry:
		if len(body) < entryMetaSize {
			return -1
		}
		return entryMetaSize
	case recState:
		if len(body) != stateBodySize {
			return -1
		}
	case recReset:
		if len(body) != resetBodySize {
			return -1
		}
	case recChunkRef:
		if len(body) != chunkRefBodySize {
			return -1
		}
	case recVoid:
		if len(body) != voidBodySize {
			return -1
		}
	default:
		return -1
	}
	return len(body)
}

// verifyRecord checks a whole record (header + body): the record crc and,
// for msg and chunk records, the payload crc.
func verifyRecord(h recHeader, hdr, body []byte) bool {
	n := coveredLen(h.typ, body)
	if n < 0 {
		return false
	}
	c := crc32cUpdate(crc32c(hdr[4:recHeaderSize]), body[:n])
	if c != h.crc {
		return false
	}
	switch h.typ {
	case recMsg:
		return crc32c(body[n:]) == le.Uint32(body[16:])
	case recChunk:
		return crc32c(body[n:]) == le.Uint32(body[12:])
	case recEntry:
		return crc32c(body[n:]) == le.Uint32(body[entryMetaSize-4:])
	}
	return true
}

// msgMeta is the decoded fixed part of a msg or commit record.
type msgMeta struct {
	seq     uint64
	ts      int64
	crc     uint32 // payload crc (msg records)
	subjLen int
	hdrLen  int
	size    int64  // payload length, uncompressed
	txn     uint64 // commit records
	nchunks int    // commit records
}

func putMsgMeta(b []byte, m msgMeta) {
	le.PutUint64(b[0:], m.seq)
	le.PutUint64(b[8:], uint64(m.ts))
	le.PutUint32(b[16:], m.crc)
	le.PutUint16(b[20:], uint16(m.subjLen))
	le.PutUint32(b[22:], uint32(m.hdrLen))
	le.PutUint64(b[26:], uint64(m.size))
}

func getMsgMeta(b []byte) msgMeta {
	return msgMeta{seq: le.Uint64(b[0:]), ts: int64(le.Uint64(b[8:])), crc: le.Uint32(b[16:]),
		subjLen: int(le.Uint16(b[20:])), hdrLen: int(le.Uint32(b[22:])), size: int64(le.Uint64(b[26:]))}
}

func putCommitMeta(b []byte, m msgMeta) {
	le.PutUint64(b[0:], m.seq)
	le.PutUint64(b[8:], uint64(m.ts))
	le.PutUint16(b[16:], uint16(m.subjLen))
	le.PutUint32(b[18:], uint32(m.hdrLen))
	le.PutUint64(b[22:], uint64(m.size))
	le.PutUint64(b[30:], m.txn)
	le.PutUint32(b[38:], uint32(m.nchunks))
}

func getCommitMeta(b []byte) msgMeta {
	return msgMeta{seq: le.Uint64(b[0:]), ts: int64(le.Uint64(b[8:])), subjLen: int(le.Uint16(b[16:])),
		hdrLen: int(le.Uint32(b[18:])), size: int64(le.Uint64(b[22:])), txn: le.Uint64(b[30:]), nchunks: int(le.Uint32(b[38:]))}
}

// chunkRef locates one chunk's stored data: in segment seg, at byte off
// (the data itself, past the chunk record's header and meta), n bytes whose
// crc32c is crc.
type chunkRef struct {
	seg uint64
	off int64
	n   uint32
	crc uint32
}

func putChunkRef(b []byte, r chunkRef) {
	le.PutUint64(b[0:], r.seg)
	le.PutUint64(b[8:], uint64(r.off))
	le.PutUint32(b[16:], r.n)
	le.PutUint32(b[20:], r.crc)
}

func getChunkRef(b []byte) chunkRef {
	return chunkRef{seg: le.Uint64(b[0:]), off: int64(le.Uint64(b[8:])), n: le.Uint32(b[16:]), crc: le.Uint32(b[20:])}
}

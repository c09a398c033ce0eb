package chunking

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Format constants. Changing any of them changes the bytes on the wire and on
// disk.
const (
	// HeaderSize is the fixed size of a chunk header in bytes (format).
	HeaderSize = 32
	// HeaderMagic opens every chunk header (format).
	HeaderMagic uint16 = 0xC4B7
	// Version is the format version written in every header (format).
	Version byte = 1
	// FlagLast marks the final chunk of a message (format).
	FlagLast byte = 1 << 0
)

// Tuning constants (not part of the format).
const (
	// DefaultChunkSize is the chunk size used when none is configured.
	DefaultChunkSize = 1 << 20
	// MaxChunkSize bounds a chunk's data length; an Assembler rejects larger.
	MaxChunkSize = 64 << 20
)

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrCorrupt reports a header or data checksum mismatch, a bad magic or
	// version, or fields that contradict each other.
	ErrCorrupt = errors.New("chunking: corrupt chunk")
	// ErrMissing reports a gap: a chunk arrived after one that never did, or
	// the message ended without its last chunk.
	ErrMissing = errors.New("chunking: missing chunk")
	// ErrDuplicate reports a chunk whose index was already accepted.
	ErrDuplicate = errors.New("chunking: duplicate chunk")
	// ErrExtra reports a chunk after the last one of the message.
	ErrExtra = errors.New("chunking: chunk after last")
	// ErrForeign reports a chunk that belongs to another message id.
	ErrForeign = errors.New("chunking: chunk of another message")
	// ErrTooLarge reports a chunk longer than the receiver's buffer.
	ErrTooLarge = errors.New("chunking: chunk too large")
	// ErrSize reports a payload longer or shorter than declared.
	ErrSize = errors.New("chunking: payload size mismatch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C (Castagnoli) of p, hardware-accelerated where
// the CPU supports it.
func Checksum(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// UpdateChecksum extends a running CRC-32C with p.
func UpdateChecksum(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }

// Header describes one chunk.
type Header struct {
	MsgID uint64 // message the chunk belongs to
	Index uint32 // position of the chunk, from 0
	Count uint32 // number of chunks if known while cutting, else 0
	Last  bool   // this is the final chunk
	Len   uint32 // data length in bytes
	CRC   uint32 // CRC-32C of the data
}

// AppendHeader appends the 32-byte encoding of h to dst and returns the
// extended slice. It never allocates when dst has HeaderSize spare capacity.
func AppendHeader(dst []byte, h Header) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	b := dst[n : n+HeaderSize]
	binary.LittleEndian.PutUint16(b[0:], HeaderMagic)
	b[2] = Version
	b[3] = 0
	if h.Last {
		b[3] = FlagLast
	}
	binary.LittleEndian.PutUint64(b[4:], h.MsgID)
	binary.LittleEndian.PutUint32(b[12:], h.Index)
	binary.LittleEndian.PutUint32(b[16:], h.Count)
	binary.LittleEndian.PutUint32(b[20:], h.Len)
	binary.LittleEndian.PutUint32(b[24:], h.CRC)
	binary.LittleEndian.PutUint32(b[28:], Checksum(b[:28]))
	return dst
}

// ParseHeader decodes the header at the start of b. It checks the magic,
// version, flags and header checksum and returns ErrCorrupt when any is
// wrong, or ErrMissing when b is shorter than HeaderSize. It does not look
// at the data: the data checksum is checked by Assembler or VerifyData.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrMissing
	}
	if binary.LittleEndian.Uint16(b[0:]) != HeaderMagic || b[2] != Version || b[3]&^FlagLast != 0 {
		return Header{}, ErrCorrupt
	}
	if binary.LittleEndian.Uint32(b[28:]) != Checksum(b[:28]) {
		return Header{}, ErrCorrupt
	}
	h := Header{
		MsgID: binary.LittleEndian.Uint64(b[4:]),
		Index: binary.LittleEndian.Uint32(b[12:]),
		Count: binary.LittleEndian.Uint32(b[16:]),
		Last:  b[3]&FlagLast != 0,
		Len:   binary.LittleEndian.Uint32(b[20:]),
		CRC:   binary.LittleEndian.Uint32(b[24:]),
	}
	if h.Count != 0 && (h.Index >= h.Count || h.Last != (h.Index == h.Count-1)) {
		return Header{}, ErrCorrupt
	}
	return h, nil
}

// VerifyData reports ErrCorrupt unless data has the length and checksum h
// declares.
func VerifyData(h Header, data []byte) error {
	if uint32(len(data)) != h.Len || uint64(len(data)) != uint64(h.Len) || Checksum(data) != h.CRC {
		return ErrCorrupt
	}
	return nil
}

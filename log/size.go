package log

// How much a message counts toward State.Bytes, Config.MaxBytes and the
// DiscardNew checks: nats-server's figure, so that a max_bytes written for
// nats-server keeps the same messages here.
//
// A file log counts nats-server's file-store record of the message: 22
// bytes (record length u32, sequence u64, timestamp i64, subject length
// u16), the subject, when there is a header its length (u32) and the header,
// the payload, and an 8-byte checksum. A memory log counts subject, header
// and payload plus 16 bytes (nats-server's memory store). A chunked message
// counts once, with its whole payload; barge's own record layout (chunk and
// commit records, checksums) does not enter into it.
const (
	fileMsgOverhead = 22 + 8 // record header + checksum of a file-store record
	fileHdrLenSize  = 4      // header length field, present only with a header
	memMsgOverhead  = 16     // sequence + timestamp of a memory-store message
)

// MsgSize returns the bytes a message with a subject of subjLen bytes, a
// header of hdrLen bytes and a payload of size bytes counts in a log of the
// given storage kind.
func MsgSize(storage Storage, subjLen, hdrLen int, size int64) int64 {
	if storage == MemoryStorage {
		return int64(subjLen+hdrLen+memMsgOverhead) + size
	}
	n := int64(fileMsgOverhead+subjLen) + size
	if hdrLen > 0 {
		n += int64(fileHdrLenSize + hdrLen)
	}
	return n
}

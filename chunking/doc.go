// Package chunking frames a large payload as a run of self-describing,
// checksummed chunks, and checks such a run on the way back in.
//
// It is pure: no I/O, no goroutines, no package state. A Chunker cuts a
// payload that arrives in pieces of any size into chunks of a fixed size; an
// Assembler validates order and checksums and hands a chunk's bytes onward
// only once they are proven whole. A missing, duplicate or corrupt chunk is
// always reported as an error, never as data.
//
// # Chunk format (version 1)
//
// Every chunk is a 32-byte header followed by Len bytes of data. All integers
// are little-endian. Every constant named below is part of the format and
// must not change without bumping Version.
//
//	0       2    3       4                              12
//	+-------+----+-------+-------------------------------+
//	| Magic |Ver | Flags |        message id (u64)       |
//	+-------+----+-------+---------------+---------------+
//	12              16              20              24
//	| chunk index   | chunk count   |   data len    |
//	|    (u32)      | (u32, 0=open) |    (u32)      |
//	+---------------+---------------+---------------+
//	24              28              32
//	| data crc32c   | header crc32c |  data ...  (len bytes)
//	+---------------+---------------+------------...
//
// Fields:
//
//   - Magic is 0xC4B7 (HeaderMagic); Ver is 1 (Version).
//   - Flags bit 0 (FlagLast) marks the final chunk of the message; the other
//     bits must be zero.
//   - Chunk index counts from 0 within one message id.
//   - Chunk count is the number of chunks when it was known while cutting
//     (the payload size was given up front) and 0 otherwise; the last-chunk
//     flag is authoritative either way.
//   - The data crc32c is CRC-32C (Castagnoli) of the data bytes; the header
//     crc32c is CRC-32C of header bytes 0..27, so a flipped bit in the
//     header (a wrong length, a wrong index) is caught before the length is
//     trusted.
//
// A message of zero bytes is one chunk of zero length with FlagLast set.
package chunking

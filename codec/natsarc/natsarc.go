// Package natsarc reads and writes the stream archive of nats-server 2.15
// and later (magic NATSARC1): the uncompressed body of a stream snapshot,
// which nats-server sends s2-compressed in chunks to `nats backup stream`
// and reads back on a restore. barge writes and reads the same format, so
// a backup taken from either server restores into the other, and the CLI's
// offline tools (`nats backup info`, `validate`, `edit`) read barge's
// backups.
//
// # Format
//
// The archive is the 8 magic bytes, then entries until its end. Every
// integer is a Go varint (encoding/binary: unsigned LEB128; Timestamp
// zig-zag signed):
//
//	"NATSARC1"
//	entry: name len uvarint | timestamp varint | sequence uvarint |
//	       header size uvarint | payload size uvarint | name |
//	       header size + payload size bytes
//
// A stream snapshot holds, in order: an entry named "state.json" (the
// stream's state, JSON), one entry per consumer named "consumers/<name>"
// (its config and state, JSON), one entry per message (name: its subject;
// timestamp: unix ns; sequence; its header block then its payload), and an
// end entry whose every field is zero (IsEnd): an archive without it was
// cut short. The package knows only the framing; what the entries mean is
// its caller's.
//
// The reader never holds an entry whole: Read hands out the current
// entry's bytes in whatever pieces the caller asks for, and Next skips what
// was not read. It bounds the name (MaxName) so garbage cannot make it
// allocate without limit; every other length is the caller's to check.
package natsarc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic starts every archive (format).
const Magic = "NATSARC1"

// MaxName is the longest entry name the reader accepts (a subject is at
// most 64 KiB in barge; nats-server's reader accepts up to 1 MiB).
const MaxName = 64 << 10

var (
	// ErrInvalid: the bytes are not a well-formed archive (a bad magic, a
	// field out of range, an entry cut short).
	ErrInvalid = errors.New("natsarc: invalid archive")
	// ErrEntry: a write that does not fit the current entry (past its
	// declared size, or a new header before the last entry's bytes).
	ErrEntry = errors.New("natsarc: write does not match the entry")
)

// Header describes one entry. Its payload is HeaderSize bytes of message
// header followed by PayloadSize bytes of body (entries that are not
// messages put everything in PayloadSize).
type Header struct {
	Name        string
	Timestamp   int64
	Sequence    uint64
	HeaderSize  int64
	PayloadSize int64
}

// IsEnd reports whether h is the end-of-archive entry (every field zero).
func (h *Header) IsEnd() bool {
	return h.Name == "" && h.Timestamp == 0 && h.Sequence == 0 && h.HeaderSize == 0 && h.PayloadSize == 0
}

// Size is the entry's byte count after its header fields.
func (h *Header) Size() int64 { return h.HeaderSize + h.PayloadSize }

// Writer writes an archive to an io.Writer. It is not safe for concurrent
// use. Errors from the underlying writer stick.
type Writer struct {
	w         io.Writer
	started   bool
	remaining int64 // bytes the current entry still needs
	err       error
	scratch   [5 * binary.MaxVarintLen64]byte
}

// NewWriter returns a Writer that writes the magic before its first entry.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteHeader starts an entry; its HeaderSize+PayloadSize bytes follow
// through Write. The previous entry must be complete (ErrEntry).
func (a *Writer) WriteHeader(h *Header) error {
	if a.err != nil {
		return a.err
	}
	if a.remaining != 0 {
		return fmt.Errorf("%w: %d bytes of the last entry missing", ErrEntry, a.remaining)
	}
	if h.HeaderSize < 0 || h.PayloadSize < 0 || h.Size() < 0 || len(h.Name) > MaxName {
		return fmt.Errorf("%w: sizes out of range", ErrEntry)
	}
	if !a.started {
		if _, err := io.WriteString(a.w, Magic); err != nil {
			a.err = err
			return err
		}
		a.started = true
	}
	b := a.scratch[:0]
	b = binary.AppendUvarint(b, uint64(len(h.Name)))
	b = binary.AppendVarint(b, h.Timestamp)
	b = binary.AppendUvarint(b, h.Sequence)
	b = binary.AppendUvarint(b, uint64(h.HeaderSize))
	b = binary.AppendUvarint(b, uint64(h.PayloadSize))
	if _, err := a.w.Write(b); err != nil {
		a.err = err
		return err
	}
	if _, err := io.WriteString(a.w, h.Name); err != nil {
		a.err = err
		return err
	}
	a.remaining = h.Size()
	return nil
}

// Write writes bytes of the current entry; more than it has left is
// ErrEntry (nothing is written then).
func (a *Writer) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if int64(len(p)) > a.remaining {
		return 0, fmt.Errorf("%w: %d bytes for %d left", ErrEntry, len(p), a.remaining)
	}
	n, err := a.w.Write(p)
	a.remaining -= int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		a.err = err
	}
	return n, err
}

// WriteEntry writes a whole entry held in memory (state, consumers).
func (a *Writer) WriteEntry(h *Header, body []byte) error {
	h.PayloadSize = int64(len(body)) - h.HeaderSize
	if err := a.WriteHeader(h); err != nil {
		return err
	}
	_, err := a.Write(body)
	return err
}

// WriteEnd writes the end entry. Entries written after it would not be
// read by nats-server.
func (a *Writer) WriteEnd() error { return a.WriteHeader(&Header{}) }

// Reader reads an archive entry by entry. It is not safe for concurrent
// use. Once it fails it keeps returning the same error.
type Reader struct {
	r         *bufio.Reader
	started   bool
	remaining int64
	err       error
}

// NewReader returns a Reader over r, buffered with a 64 KiB buffer.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next skips what is left of the current entry and returns the next
// entry's header. io.EOF: the bytes ended cleanly where an entry would
// start (an archive without its end entry, or nothing after it); ErrInvalid:
// they are not an archive, or end inside an entry; other errors are the
// underlying reader's.
func (u *Reader) Next() (Header, error) {
	if u.err != nil {
		return Header{}, u.err
	}
	if u.remaining > 0 {
		if _, err := io.CopyN(io.Discard, u.r, u.remaining); err != nil {
			return Header{}, u.fail(truncated(err))
		}
		u.remaining = 0
	}
	if !u.started {
		var magic [len(Magic)]byte
		if _, err := io.ReadFull(u.r, magic[:]); err != nil {
			if err == io.EOF {
				return Header{}, u.fail(io.EOF)
			}
			return Header{}, u.fail(truncated(err))
		}
		if string(magic[:]) != Magic {
			return Header{}, u.fail(fmt.Errorf("%w: no %s magic", ErrInvalid, Magic))
		}
		u.started = true
	}
	nameLen, err := binary.ReadUvarint(u.r)
	if err != nil {
		if err == io.EOF {
			return Header{}, u.fail(io.EOF)
		}
		return Header{}, u.fail(truncated(err))
	}
	var h Header
	var hs, ps uint64
	if h.Timestamp, err = binary.ReadVarint(u.r); err == nil {
		if h.Sequence, err = binary.ReadUvarint(u.r); err == nil {
			if hs, err = binary.ReadUvarint(u.r); err == nil {
				ps, err = binary.ReadUvarint(u.r)
			}
		}
	}
	if err != nil {
		return Header{}, u.fail(truncated(err))
	}
	h.HeaderSize, h.PayloadSize = int64(hs), int64(ps)
	if nameLen > MaxName || h.HeaderSize < 0 || h.PayloadSize < 0 || h.Size() < 0 {
		return Header{}, u.fail(fmt.Errorf("%w: entry fields out of range", ErrInvalid))
	}
	if nameLen > 0 {
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(u.r, name); err != nil {
			return Header{}, u.fail(truncated(err))
		}
		h.Name = string(name)
	}
	u.remaining = h.Size()
	return h, nil
}

// Read reads the current entry's bytes; io.EOF at its end. The bytes
// ending inside the entry is ErrInvalid.
func (u *Reader) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if u.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > u.remaining {
		p = p[:u.remaining]
	}
	n, err := u.r.Read(p)
	u.remaining -= int64(n)
	if err != nil {
		if err == io.EOF && u.remaining == 0 {
			return n, nil
		}
		return n, u.fail(truncated(err))
	}
	return n, nil
}

// Remaining is how many bytes of the current entry are unread.
func (u *Reader) Remaining() int64 { return u.remaining }

func (u *Reader) fail(err error) error {
	u.err = err
	return err
}

// truncated turns an end of input inside an entry into ErrInvalid.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: cut short", ErrInvalid)
	}
	if err.Error() == varintOverflow {
		return fmt.Errorf("%w: a varint overflows", ErrInvalid)
	}
	return err
}

// varintOverflow is the text of encoding/binary's error for a varint of
// more than 64 bits (the error itself is not exported).
const varintOverflow = "binary: varint overflows a 64-bit integer"

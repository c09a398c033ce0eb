package raft

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"

	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/bargemq/barge/log"
)

// Stream snapshot format (format), streamed to a replica that is too far
// behind for the raft log:
//
//	"BARGESNP" | version u32 | applied index u64 | nfiles u32 |
//	nfiles × (name len u16 | name | size u64 | size bytes) | crc32c u32
//
// The trailing CRC-32C covers every byte before it. Files are the log's
// segments, cut at its last applied marker; they hold the raft entries the
// messages' payloads lie in, which the receiver's reset record voids as
// raft entries (store.go: install).
const (
	snapMagic   = "BARGESNP"
	snapVersion = 1
	maxSnapName = 255
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcWriter is an io.Writer that keeps a running CRC-32C of what passes.
type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// streamError maps a failure to stream a snapshot to the error Dragonboat
// expects from SaveSnapshot while streaming: ErrSnapshotStopped when the
// node stops, else ErrSnapshotStreaming (the receiver went away, or a
// segment could not be read: the leader streams again later). Dragonboat
// compares with ==, so the sentinel is returned unwrapped.
func streamError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sm.ErrSnapshotStopped):
		return sm.ErrSnapshotStopped
	case errors.Is(err, sm.ErrSnapshotAborted):
		return sm.ErrSnapshotAborted
	}
	return sm.ErrSnapshotStreaming
}

// writeSnapshotFiles streams snap to w. SaveSnapshot returns its error
// through streamError: any error but Dragonboat's sentinels makes its
// snapshot worker panic, and a sink that fails because the receiver went
// away is routine.
func writeSnapshotFiles(w io.Writer, snap *log.Snapshot, stop <-chan struct{}) error {
	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, 256<<10)
	var hdr []byte
	hdr = append(hdr, snapMagic...)
	hdr = le.AppendUint32(hdr, snapVersion)
	hdr = le.AppendUint64(hdr, snap.Applied)
	hdr = le.AppendUint32(hdr, uint32(len(snap.Files)))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	for _, f := range snap.Files {
		select {
		case <-stop:
			return sm.ErrSnapshotStopped
		default:
		}
		var b []byte
		b = le.AppendUint16(b, uint16(len(f.Name)))
		b = append(b, f.Name...)
		b = le.AppendUint64(b, uint64(f.Size))
		if _, err := bw.Write(b); err != nil {
			return err
		}
		if n, err := io.Copy(bw, f.Reader()); err != nil {
			return fmt.Errorf("raft: snapshot %s: %d of %d bytes: %w", f.Name, n, f.Size, err)
		} else if n != f.Size {
			return fmt.Errorf("raft: snapshot %s: %d of %d bytes", f.Name, n, f.Size)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(le.AppendUint32(nil, cw.crc))
	return err
}

// crcReader keeps a running CRC-32C of what it reads.
type crcReader struct {
	r   io.Reader
	crc uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// readSnapshot receives a snapshot into dir (which must not hold
// segments), through fs: every file synced, then the directory, once the
// trailing checksum is checked.
func readSnapshot(fs log.FS, r io.Reader, dir string, stop <-chan struct{}) error {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cr := &crcReader{r: bufio.NewReaderSize(r, 256<<10)}
	var hdr [24]byte
	if _, err := io.ReadFull(cr, hdr[:]); err != nil {
		return fmt.Errorf("raft: snapshot header: %w", err)
	}
	if string(hdr[:8]) != snapMagic || le.Uint32(hdr[8:]) != snapVersion {
		return fmt.Errorf("raft: not a stream snapshot (version %d)", le.Uint32(hdr[8:]))
	}
	n := le.Uint32(hdr[20:])
	buf := make([]byte, 256<<10)
	for range n {
		select {
		case <-stop:
			return sm.ErrSnapshotStopped
		default:
		}
		var nl [2]byte
		if _, err := io.ReadFull(cr, nl[:]); err != nil {
			return fmt.Errorf("raft: snapshot file header: %w", err)
		}
		name := make([]byte, le.Uint16(nl[:]))
		if len(name) > maxSnapName {
			return fmt.Errorf("raft: snapshot file name of %d bytes", len(name))
		}
		var size [8]byte
		if _, err := io.ReadFull(cr, name); err != nil {
			return err
		}
		if _, err := io.ReadFull(cr, size[:]); err != nil {
			return err
		}
		if !log.IsSegmentName(string(name)) {
			return fmt.Errorf("raft: snapshot file %q is not a segment", name)
		}
		if err := receiveFile(fs, path.Join(dir, string(name)), cr, int64(le.Uint64(size[:])), buf); err != nil {
			return err
		}
	}
	want := cr.crc
	var got [4]byte
	if _, err := io.ReadFull(cr, got[:]); err != nil {
		return fmt.Errorf("raft: snapshot trailer: %w", err)
	}
	if le.Uint32(got[:]) != want {
		return fmt.Errorf("raft: snapshot checksum mismatch")
	}
	return fs.SyncDir(dir)
}

// receiveFile writes exactly size bytes from r to a new file at p, synced.
func receiveFile(fs log.FS, p string, r io.Reader, size int64, buf []byte) error {
	f, err := fs.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	var off int64
	for err == nil && off < size {
		var n int
		n, err = io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if n > 0 {
			if _, werr := f.WriteAt(buf[:n], off); werr != nil && err == nil {
				err = werr
			}
			off += int64(n)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raft: snapshot file %s: %w", path.Base(p), err)
	}
	return nil
}

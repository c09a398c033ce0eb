package raft

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

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
// segments, cut at its last applied marker.
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

// writeSnapshot streams snap to w.
func writeSnapshot(w io.Writer, snap *log.Snapshot, stop <-chan struct{}) error {
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
		if n, err := io.Copy(bw, f.Reader()); err != nil || n != f.Size {
			return fmt.Errorf("raft: snapshot %s: %d of %d bytes: %v", f.Name, n, f.Size, err)
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

// readSnapshot receives a snapshot into dir (emptied first), every file
// synced, and checks the trailing checksum.
func readSnapshot(r io.Reader, dir string, stop <-chan struct{}) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
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
		if err := receiveFile(filepath.Join(dir, string(name)), cr, int64(le.Uint64(size[:]))); err != nil {
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
	return syncDir(dir)
}

// receiveFile writes exactly size bytes from r to a new file at p, synced.
func receiveFile(p string, r io.Reader, size int64) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raft: snapshot file %s: %w", filepath.Base(p), err)
	}
	return nil
}

// swapDir replaces dir with the directory next (its sibling): dir moves
// aside, next takes its name, the old one is removed.
func swapDir(dir, next string) error {
	old := dir + ".old"
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Rename(next, dir); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

package log

import (
	"fmt"
	"io"
	"os"
)

// Snapshot is a point-in-time copy of a replica log's segments: the files
// up to its last applied marker, held open so that segments the log removes
// meanwhile stay readable. Close it when done.
type Snapshot struct {
	Applied uint64         // raft index the snapshot covers
	Files   []SnapshotFile // in segment order
}

// SnapshotFile is one segment of a Snapshot: Size bytes of the file Name.
type SnapshotFile struct {
	Name string
	Size int64
	f    File
}

// Reader returns a reader of the file's Size bytes.
func (f SnapshotFile) Reader() io.Reader { return io.NewSectionReader(f.f, 0, f.Size) }

// Close releases the snapshot's files.
func (s *Snapshot) Close() error {
	var err error
	for _, f := range s.Files {
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
	}
	s.Files = nil
	return err
}

// Snapshot captures the segments as of the last ApplySync (concurrent
// appends past it are not included). It must not run concurrently with the
// Apply methods (it waits for them). Installing a snapshot is writing its
// files, byte for byte under their names, into an empty directory and
// opening it with Options.Replica. Errors: ErrNotReplica, I/O errors.
func (l *Log) Snapshot() (*Snapshot, error) {
	rs := &l.rep
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := l.replicaLocked(); err != nil {
		return nil, err
	}
	s := &Snapshot{Applied: rs.mu.applied}
	if rs.mu.markerSeg == 0 {
		return s, nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, seg := range l.mu.segs {
		if seg.id > rs.mu.markerSeg {
			break
		}
		f, err := l.fs.OpenFile(seg.path, os.O_RDONLY, 0)
		if err == nil {
			size := rs.mu.markerEnd
			if seg.id != rs.mu.markerSeg {
				var fi os.FileInfo
				if fi, err = f.Stat(); err == nil {
					size = fi.Size()
				}
			}
			s.Files = append(s.Files, SnapshotFile{Name: segName(seg.id), Size: size, f: f})
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("log: snapshot %s: %w", seg.path, err)
		}
	}
	return s, nil
}

// IsSegmentName reports whether name is a segment file's name, as a
// Snapshot's files are named.
func IsSegmentName(name string) bool {
	_, ok := parseSegName(name)
	return ok
}

package log

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// FS is the file-system seam. The log touches the disk only through it, so
// tests can substitute a file system that crashes or fails on cue.
type FS interface {
	// OpenFile opens name like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove deletes a file or an empty directory.
	Remove(name string) error
	// RemoveAll deletes name and everything under it; a missing name is
	// not an error (os.RemoveAll).
	RemoveAll(name string) error
	// List returns the names (not paths) of the entries of dir, files and
	// directories, sorted.
	List(dir string) ([]string, error)
	// MkdirAll creates dir and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the creation, removal and renaming of dir's entries
	// durable.
	SyncDir(dir string) error
	// Rename atomically replaces newname with oldname (os.Rename).
	Rename(oldname, newname string) error
}

// File is an open file. *os.File satisfies it, so extents on the OS file
// system carry the *os.File itself and a transport can send them with
// sendfile or splice.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

// OpenFile calls os.OpenFile and returns the *os.File.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// RemoveAll calls os.RemoveAll.
func (OSFS) RemoveAll(name string) error { return os.RemoveAll(name) }

// List reads the directory names, sorted.
func (OSFS) List(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// Rename calls os.Rename.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// MkdirAll calls os.MkdirAll.
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// SyncDir fsyncs the directory.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// The helpers below are how barge writes its small durable files (stream
// and consumer meta.json, consumer state, the log's index sidecars, marker
// files) through an FS, so that the crashable MemFS and the injected-error
// file systems of the tests cover them as they cover the segments.

// TmpSuffix ends the name of the temporary file WriteFileAtomic writes
// first; one left by a crash holds nothing anyone needs.
const TmpSuffix = ".tmp"

// WriteFileAtomic replaces dir/name with data so that a crash at any point
// leaves the old file or the new one, never a torn or empty one: data goes
// to dir/name.tmp, which is fsynced and renamed over dir/name, then dir is
// fsynced. dir must exist. On an error dir/name is as it was (or, when only
// the final directory sync failed, already the new file) and the
// temporary file is removed.
func WriteFileAtomic(fsys FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+TmpSuffix)
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.WriteAt(data, 0); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		// Best effort: the bytes it holds may be what a full disk needs.
		_ = fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(dir)
}

// ReadFile returns the contents of the file name.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// MkdirDurable creates dir, and the directories above it that are
// missing, and makes dir's entry in its parent durable (an entry the
// parent already had is synced again, harmlessly). Only the last level
// is synced: a caller that creates two new levels makes the upper one
// durable first.
func MkdirDurable(fsys FS, dir string) error {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(filepath.Clean(dir)))
}

// DeletingSuffix marks a directory being removed by RemoveDir. Whoever
// lists the parent on startup removes what carries it (a removal a crash
// interrupted) and never loads it.
const DeletingSuffix = ".deleting"

// RemoveDir deletes dir and everything in it so that a crash never leaves
// a half-removed directory under its own name: dir is renamed to
// dir+DeletingSuffix, the rename made durable, and the renamed tree
// removed. A missing dir is not an error.
func RemoveDir(fsys FS, dir string) error {
	dir = filepath.Clean(dir)
	gone := dir + DeletingSuffix
	if err := fsys.RemoveAll(gone); err != nil { // an earlier removal's rest
		return err
	}
	if err := fsys.Rename(dir, gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return fsys.RemoveAll(gone)
}

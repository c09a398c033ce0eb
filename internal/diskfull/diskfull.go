// Package diskfull is a log.FS with a byte capacity, for tests of full
// disks through the log's file-system seam: a write that would take the
// files written through it past the capacity writes the part that fits and
// fails with ENOSPC (as a real file system does); truncating or removing a
// file frees its bytes; SetCapacity moves the limit, so a test makes the
// disk full and lets space return. Only files opened through it count.
package diskfull

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/bargemq/barge/log"
)

// FS wraps a log.FS with a capacity. Safe for concurrent use.
type FS struct {
	inner log.FS
	mu    struct {
		sync.Mutex
		capacity int64            // bytes; < 0 = unlimited
		used     int64            // sum of sizes
		sizes    map[string]int64 // by cleaned name
	}
}

// New wraps inner with capacity bytes (< 0: unlimited).
func New(inner log.FS, capacity int64) *FS {
	f := &FS{inner: inner}
	f.mu.capacity = capacity
	f.mu.sizes = make(map[string]int64)
	return f
}

// SetCapacity changes the capacity (< 0: unlimited).
func (f *FS) SetCapacity(n int64) {
	f.mu.Lock()
	f.mu.capacity = n
	f.mu.Unlock()
}

// Fill makes the disk full: the capacity becomes what is used now plus
// slack bytes.
func (f *FS) Fill(slack int64) {
	f.mu.Lock()
	f.mu.capacity = f.mu.used + slack
	f.mu.Unlock()
}

// Used returns the bytes the files written through f take.
func (f *FS) Used() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.used
}

// setSize records name's size; f.mu held.
func (f *FS) setSizeLocked(name string, n int64) {
	f.mu.used += n - f.mu.sizes[name]
	f.mu.sizes[name] = n
}

// OpenFile opens name through the inner FS and tracks its size.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (log.File, error) {
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	name = path.Clean(name)
	fi, err := inner.Stat()
	if err != nil {
		inner.Close()
		return nil, err
	}
	f.mu.Lock()
	f.setSizeLocked(name, fi.Size())
	f.mu.Unlock()
	return &file{File: inner, fs: f, name: name}, nil
}

// Remove removes name and frees its bytes.
func (f *FS) Remove(name string) error {
	if err := f.inner.Remove(name); err != nil {
		return err
	}
	name = path.Clean(name)
	f.mu.Lock()
	f.setSizeLocked(name, 0)
	delete(f.mu.sizes, name)
	f.mu.Unlock()
	return nil
}

// RemoveAll removes name and everything under it, and frees their bytes.
func (f *FS) RemoveAll(name string) error {
	if err := f.inner.RemoveAll(name); err != nil {
		return err
	}
	name = path.Clean(name)
	f.mu.Lock()
	for n := range f.mu.sizes {
		if n == name || strings.HasPrefix(n, name+"/") {
			f.setSizeLocked(n, 0)
			delete(f.mu.sizes, n)
		}
	}
	f.mu.Unlock()
	return nil
}

// Rename moves oldname over newname (a file or a directory).
func (f *FS) Rename(oldname, newname string) error {
	if err := f.inner.Rename(oldname, newname); err != nil {
		return err
	}
	oldname, newname = path.Clean(oldname), path.Clean(newname)
	f.mu.Lock()
	for n, size := range f.mu.sizes {
		if n == oldname || strings.HasPrefix(n, oldname+"/") {
			f.setSizeLocked(n, 0)
			delete(f.mu.sizes, n)
			f.setSizeLocked(newname+n[len(oldname):], size)
		}
	}
	f.mu.Unlock()
	return nil
}

// List, MkdirAll and SyncDir pass through.
func (f *FS) List(dir string) ([]string, error)           { return f.inner.List(dir) }
func (f *FS) MkdirAll(dir string, perm os.FileMode) error { return f.inner.MkdirAll(dir, perm) }
func (f *FS) SyncDir(dir string) error                    { return f.inner.SyncDir(dir) }

// file is an open file whose growth is charged to the capacity.
type file struct {
	log.File
	fs   *FS
	name string
}

// WriteAt writes what fits and fails with ENOSPC for the rest.
func (h *file) WriteAt(p []byte, off int64) (int, error) {
	f := h.fs
	f.mu.Lock()
	size := f.mu.sizes[h.name]
	end := off + int64(len(p))
	fit := len(p)
	if grow := end - size; grow > 0 && f.mu.capacity >= 0 && f.mu.used+grow > f.mu.capacity {
		room := max(f.mu.capacity-f.mu.used, 0)
		fit = int(min(max(size+room-off, 0), int64(len(p))))
	}
	// Charge before writing, so concurrent writers cannot both fit.
	if e := off + int64(fit); e > size {
		f.setSizeLocked(h.name, e)
	}
	f.mu.Unlock()
	n, err := h.File.WriteAt(p[:fit], off)
	if err == nil && fit < len(p) {
		err = &fs.PathError{Op: "write", Path: h.name, Err: syscall.ENOSPC}
	}
	return n, err
}

// Truncate changes the size and the bytes charged.
func (h *file) Truncate(size int64) error {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if grow := size - f.mu.sizes[h.name]; grow > 0 && f.mu.capacity >= 0 && f.mu.used+grow > f.mu.capacity {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: syscall.ENOSPC}
	}
	if err := h.File.Truncate(size); err != nil {
		return err
	}
	f.setSizeLocked(h.name, size)
	return nil
}

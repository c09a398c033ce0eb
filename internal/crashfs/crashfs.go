// Package crashfs is a log.FS for crash tests: it runs on a log.MemFS and,
// while recording, takes after every operation that changes the file
// system the image a power loss at that moment would leave
// (MemFS.CrashClone). A test records an operation (a stream create, a
// consumer state write) once and then opens the store from every image,
// which is a crash at every point of it.
package crashfs

import (
	"fmt"
	"os"
	"sync"

	"github.com/bargemq/barge/log"
)

// FS records crash images of a MemFS. Safe for concurrent use; while it
// records, operations run one at a time, each followed by its image.
type FS struct {
	mem  *log.MemFS
	keep func(name string, unsynced int64) int64
	mu   struct {
		sync.Mutex
		on     bool
		images []Image
	}
}

// Image is what a crash right after one operation leaves.
type Image struct {
	Op string     // the operation, e.g. "rename /s/meta.json.tmp /s/meta.json"
	FS *log.MemFS // the file system found after the crash
}

var _ log.FS = (*FS)(nil)

// New wraps mem. keep is CrashClone's: how many of a file's unsynced bytes
// the crash keeps (nil: none).
func New(mem *log.MemFS, keep func(name string, unsynced int64) int64) *FS {
	return &FS{mem: mem, keep: keep}
}

// Mem is the wrapped MemFS.
func (f *FS) Mem() *log.MemFS { return f.mem }

// Record starts recording, dropping the images recorded before.
func (f *FS) Record() {
	f.mu.Lock()
	f.mu.on, f.mu.images = true, nil
	f.mu.Unlock()
}

// Stop stops recording and returns the images, in operation order.
func (f *FS) Stop() []Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.on = false
	imgs := f.mu.images
	f.mu.images = nil
	return imgs
}

// do runs op and, while recording, takes the image after it.
func (f *FS) do(desc func() string, op func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := op()
	if f.mu.on {
		f.mu.images = append(f.mu.images, Image{Op: desc(), FS: f.mem.CrashClone(f.keep)})
	}
	return err
}

// OpenFile opens name; creating or truncating it counts as an operation.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (log.File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) == 0 {
		h, err := f.mem.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return &file{File: h, fs: f, name: name}, nil
	}
	var h log.File
	err := f.do(func() string { return "open " + name }, func() (err error) {
		h, err = f.mem.OpenFile(name, flag, perm)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &file{File: h, fs: f, name: name}, nil
}

// Remove removes name.
func (f *FS) Remove(name string) error {
	return f.do(func() string { return "remove " + name }, func() error { return f.mem.Remove(name) })
}

// RemoveAll removes name and what is under it.
func (f *FS) RemoveAll(name string) error {
	return f.do(func() string { return "removeall " + name }, func() error { return f.mem.RemoveAll(name) })
}

// MkdirAll creates dir and its parents.
func (f *FS) MkdirAll(dir string, perm os.FileMode) error {
	return f.do(func() string { return "mkdir " + dir }, func() error { return f.mem.MkdirAll(dir, perm) })
}

// SyncDir makes dir's entries durable.
func (f *FS) SyncDir(dir string) error {
	return f.do(func() string { return "syncdir " + dir }, func() error { return f.mem.SyncDir(dir) })
}

// Rename moves oldname to newname.
func (f *FS) Rename(oldname, newname string) error {
	return f.do(func() string { return "rename " + oldname + " " + newname },
		func() error { return f.mem.Rename(oldname, newname) })
}

// List lists dir (not an operation that changes anything).
func (f *FS) List(dir string) ([]string, error) { return f.mem.List(dir) }

// file records its writes, truncations and syncs.
type file struct {
	log.File
	fs   *FS
	name string
}

func (h *file) WriteAt(p []byte, off int64) (n int, err error) {
	err = h.fs.do(func() string { return fmt.Sprintf("write %s %d+%d", h.name, off, len(p)) },
		func() error { n, err = h.File.WriteAt(p, off); return err })
	return n, err
}

func (h *file) Truncate(size int64) error {
	return h.fs.do(func() string { return fmt.Sprintf("truncate %s %d", h.name, size) },
		func() error { return h.File.Truncate(size) })
}

func (h *file) Sync() error {
	return h.fs.do(func() string { return "sync " + h.name }, h.File.Sync)
}

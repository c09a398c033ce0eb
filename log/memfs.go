package log

import (
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memBlock is the allocation unit of a MemFS file: files grow a block at a
// time, so a large file never needs one huge contiguous slice.
const memBlock = 256 << 10

// MemFS is an in-memory FS. MemoryStorage logs run on it, and tests use it
// to simulate crashes: it remembers how much of each file was synced and
// which names were made durable by SyncDir, and CrashClone returns the state
// a machine would find after losing power.
//
// The crash model assumes what the log does: files are written by appending
// (a write below the synced length counts as synced) and truncated only to
// drop a torn tail. Creating a file is durable only after SyncDir of its
// directory; removing one is durable at once; a rename is atomic and
// durable after SyncDir (a crash before it finds the names as they were).
// Safe for concurrent use.
type MemFS struct {
	mu struct {
		sync.Mutex
		files   map[string]*memFile // current namespace
		durable map[string]*memFile // names that survive a crash, and their files
	}
}

type memFile struct {
	mu struct {
		sync.RWMutex
		blocks [][]byte
		size   int64
		synced int64 // prefix length that survives a crash
	}
}

// NewMemFS returns an empty in-memory file system.
func NewMemFS() *MemFS {
	m := &MemFS{}
	m.mu.files = make(map[string]*memFile)
	m.mu.durable = make(map[string]*memFile)
	return m
}

// OpenFile opens or creates name. Supported flags: O_CREATE, O_EXCL,
// O_TRUNC; access mode is not enforced.
func (m *MemFS) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.mu.files[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		f = &memFile{}
		m.mu.files[name] = f
	}
	h := &memHandle{f: f, name: name}
	if flag&os.O_TRUNC != 0 {
		if err := h.Truncate(0); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Remove deletes name; the removal is durable immediately.
func (m *MemFS) Remove(name string) error {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.files[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.mu.files, name)
	delete(m.mu.durable, name)
	return nil
}

// List returns the sorted base names of the files directly in dir.
func (m *MemFS) List(dir string) ([]string, error) {
	dir = path.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for name := range m.mu.files {
		if path.Dir(name) == dir {
			names = append(names, path.Base(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll is a no-op: directories are implicit.
func (m *MemFS) MkdirAll(string, os.FileMode) error { return nil }

// SyncDir makes the existence of every file now in dir durable.
func (m *MemFS) SyncDir(dir string) error {
	dir = path.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.mu.files {
		if path.Dir(name) == dir {
			m.mu.durable[name] = m.mu.files[name]
		}
	}
	return nil
}

// Rename moves oldname to newname, replacing it; the change is durable
// after SyncDir.
func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = path.Clean(oldname), path.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.mu.files[oldname]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	delete(m.mu.files, oldname)
	m.mu.files[newname] = f
	return nil
}

// CrashClone returns the file system as found after a power loss: only
// durable names exist, and each file keeps its synced prefix plus
// keep(unsynced) bytes of what was written after it (keep returns a count in
// [0, unsynced]; return 0 to lose all unsynced data). The receiver is not
// changed.
func (m *MemFS) CrashClone(keep func(name string, unsynced int64) int64) *MemFS {
	c := NewMemFS()
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, f := range m.mu.durable {
		f.mu.RLock()
		n := f.mu.synced
		if extra := f.mu.size - f.mu.synced; extra > 0 && keep != nil {
			n += min(max(keep(name, extra), 0), extra)
		}
		nf := &memFile{}
		nf.writeAtLocked(f.readAll(n), 0)
		nf.mu.synced = n
		f.mu.RUnlock()
		c.mu.files[name] = nf
		c.mu.durable[name] = nf
	}
	return c
}

// Corrupt flips the byte at off of name (for tests of checksum handling).
func (m *MemFS) Corrupt(name string, off int64) {
	m.mu.Lock()
	f := m.mu.files[path.Clean(name)]
	m.mu.Unlock()
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < f.mu.size {
		f.mu.blocks[off/memBlock][off%memBlock] ^= 0x5a
	}
}

// readAll copies the first n bytes; f.mu must be held.
func (f *memFile) readAll(n int64) []byte {
	b := make([]byte, n)
	f.readAtLocked(b, 0)
	return b
}

func (f *memFile) readAtLocked(p []byte, off int64) int {
	done := 0
	for done < len(p) && off < f.mu.size {
		blk := f.mu.blocks[off/memBlock]
		within := off % memBlock
		k := copy(p[done:], blk[within:min(int64(len(blk)), within+f.mu.size-off)])
		done += k
		off += int64(k)
	}
	return done
}

func (f *memFile) writeAtLocked(p []byte, off int64) {
	end := off + int64(len(p))
	for int64(len(f.mu.blocks))*memBlock < end {
		f.mu.blocks = append(f.mu.blocks, make([]byte, memBlock))
	}
	for len(p) > 0 {
		k := copy(f.mu.blocks[off/memBlock][off%memBlock:], p)
		p = p[k:]
		off += int64(k)
	}
	if end > f.mu.size {
		f.mu.size = end
	}
}

// memHandle is an open MemFS file.
type memHandle struct {
	f      *memFile
	name   string
	closed atomic.Bool
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	if h.closed.Load() {
		return 0, os.ErrClosed
	}
	h.f.mu.RLock()
	defer h.f.mu.RUnlock()
	n := h.f.readAtLocked(p, off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	if h.closed.Load() {
		return 0, os.ErrClosed
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.writeAtLocked(p, off)
	if off < h.f.mu.synced {
		h.f.mu.synced = max(h.f.mu.synced, min(off+int64(len(p)), h.f.mu.size))
	}
	return len(p), nil
}

func (h *memHandle) Sync() error {
	if h.closed.Load() {
		return os.ErrClosed
	}
	h.f.mu.Lock()
	h.f.mu.synced = h.f.mu.size
	h.f.mu.Unlock()
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	if h.closed.Load() {
		return os.ErrClosed
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if size < h.f.mu.size {
		// Zero the cut part so a later extension reads zeros.
		for off := size; off < h.f.mu.size; {
			bi, within := off/memBlock, off%memBlock
			n := min(memBlock-within, h.f.mu.size-off)
			clear(h.f.mu.blocks[bi][within : within+n])
			off += n
		}
		h.f.mu.blocks = h.f.mu.blocks[:(size+memBlock-1)/memBlock]
		h.f.mu.synced = min(h.f.mu.synced, size)
	}
	for int64(len(h.f.mu.blocks))*memBlock < size {
		h.f.mu.blocks = append(h.f.mu.blocks, make([]byte, memBlock))
	}
	h.f.mu.size = size
	return nil
}

func (h *memHandle) Stat() (os.FileInfo, error) {
	if h.closed.Load() {
		return nil, os.ErrClosed
	}
	h.f.mu.RLock()
	defer h.f.mu.RUnlock()
	return memInfo{name: path.Base(h.name), size: h.f.mu.size}, nil
}

func (h *memHandle) Close() error {
	if h.closed.Swap(true) {
		return os.ErrClosed
	}
	return nil
}

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return strings.HasSuffix(i.name, "/") }
func (i memInfo) Sys() any           { return nil }

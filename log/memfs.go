package log

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// memBlock is the allocation unit of a MemFS file: files grow a block at a
// time, so a large file never needs one huge contiguous slice.
const memBlock = 256 << 10

// memMinBlock is the least a file's last block is allocated with; it
// doubles up to memBlock as the file grows.
const memMinBlock = 4 << 10

// MemFS is an in-memory FS. MemoryStorage logs run on it, and tests use it
// to simulate crashes: it remembers how much of each file was synced and
// which directory entries were made durable by SyncDir, and CrashClone
// returns the state a machine would find after losing power.
//
// The crash model assumes what the log does: files are written by appending
// (a write below the synced length counts as synced) and truncated only to
// drop a torn tail. Directories are a tree, as on a disk: a directory's
// entries survive a crash as they were at its last SyncDir, so a new file,
// a new directory or a rename is durable only once its directory (both
// directories, for a rename between two) is synced, and a file survives
// only if every directory above it does. Removing a file or a tree is
// durable at once. The root is always durable. Operations fail as the OS's
// do: opening or listing under a missing directory is fs.ErrNotExist.
// Safe for concurrent use.
type MemFS struct {
	mu struct {
		sync.Mutex
		root *memDir // the tree; every memDir's maps are guarded by mu
	}
}

// memDir is a directory: its entries now, and those a crash would find.
// An entry is a *memFile or a *memDir.
type memDir struct {
	entries map[string]any
	durable map[string]any // as of the last SyncDir
}

func newMemDir() *memDir {
	return &memDir{entries: make(map[string]any), durable: make(map[string]any)}
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
	m.mu.root = newMemDir()
	return m
}

// split cleans name into its parent directory's path and its base name;
// "/a/b" and "a/b" name the same file.
func split(name string) (dir, base string) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		return "", ""
	}
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// dirLocked returns the directory at dir (a path from split; "" is the
// root); m.mu held.
func (m *MemFS) dirLocked(op, dir string) (*memDir, error) {
	d := m.mu.root
	if dir == "" {
		return d, nil
	}
	for part := range strings.SplitSeq(dir, "/") {
		switch e := d.entries[part].(type) {
		case *memDir:
			d = e
		case *memFile:
			return nil, &fs.PathError{Op: op, Path: "/" + dir, Err: syscall.ENOTDIR}
		default:
			return nil, &fs.PathError{Op: op, Path: "/" + dir, Err: fs.ErrNotExist}
		}
	}
	return d, nil
}

// cleanDir cleans a directory name to the form dirLocked takes.
func cleanDir(name string) string {
	dir, base := split(name)
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

// OpenFile opens or creates name. Supported flags: O_CREATE, O_EXCL,
// O_TRUNC; access mode is not enforced.
func (m *MemFS) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	dir, base := split(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.dirLocked("open", dir)
	if err != nil {
		return nil, err
	}
	var f *memFile
	switch e := d.entries[base].(type) {
	case *memDir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case *memFile:
		if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
		}
		f = e
	default:
		if flag&os.O_CREATE == 0 || base == "" {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		f = &memFile{}
		d.entries[base] = f
	}
	h := &memHandle{f: f, name: path.Clean(name)}
	if flag&os.O_TRUNC != 0 {
		if err := h.Truncate(0); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Remove deletes a file or an empty directory; the removal is durable
// immediately.
func (m *MemFS) Remove(name string) error {
	dir, base := split(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.dirLocked("remove", dir)
	if err != nil {
		return err
	}
	switch e := d.entries[base].(type) {
	case nil:
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	case *memDir:
		if len(e.entries) > 0 {
			return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
		}
	}
	delete(d.entries, base)
	delete(d.durable, base)
	return nil
}

// RemoveAll deletes name and everything under it; nothing there is not an
// error. The removal is durable immediately.
func (m *MemFS) RemoveAll(name string) error {
	dir, base := split(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if base == "" {
		m.mu.root = newMemDir()
		return nil
	}
	d, err := m.dirLocked("removeall", dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	delete(d.entries, base)
	delete(d.durable, base)
	return nil
}

// List returns the sorted names of the files and directories in dir.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.dirLocked("open", cleanDir(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll creates dir and the missing directories above it; each is
// durable once its parent is synced.
func (m *MemFS) MkdirAll(dir string, _ os.FileMode) error {
	dir = cleanDir(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if dir == "" {
		return nil
	}
	d := m.mu.root
	for part := range strings.SplitSeq(dir, "/") {
		switch e := d.entries[part].(type) {
		case *memDir:
			d = e
		case *memFile:
			return &fs.PathError{Op: "mkdir", Path: "/" + dir, Err: syscall.ENOTDIR}
		default:
			nd := newMemDir()
			d.entries[part] = nd
			d = nd
		}
	}
	return nil
}

// SyncDir makes dir's entries as they are now what a crash finds.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.dirLocked("sync", cleanDir(dir))
	if err != nil {
		return err
	}
	d.durable = maps.Clone(d.entries)
	return nil
}

// Rename moves oldname (a file or a directory) to newname, replacing a
// file there; the change is durable once the directories involved are
// synced.
func (m *MemFS) Rename(oldname, newname string) error {
	odir, obase := split(oldname)
	ndir, nbase := split(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	od, err := m.dirLocked("rename", odir)
	if err != nil {
		return err
	}
	nd, err := m.dirLocked("rename", ndir)
	if err != nil {
		return err
	}
	e, ok := od.entries[obase]
	if !ok || obase == "" {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	if nbase == "" {
		return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EBUSY}
	}
	if old, ok := nd.entries[nbase].(*memDir); ok {
		if _, isDir := e.(*memDir); !isDir {
			return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EISDIR}
		}
		if len(old.entries) > 0 {
			return &fs.PathError{Op: "rename", Path: newname, Err: syscall.ENOTEMPTY}
		}
	}
	delete(od.entries, obase)
	nd.entries[nbase] = e
	return nil
}

// CrashClone returns the file system as found after a power loss: the
// durable entries of every directory reachable through durable entries
// from the root, each file with its synced prefix plus keep(unsynced)
// bytes of what was written after it (keep gets the file's path, as a
// crash finds it, and returns a count in [0, unsynced]; a nil keep loses
// all unsynced data). The receiver is not changed.
func (m *MemFS) CrashClone(keep func(name string, unsynced int64) int64) *MemFS {
	c := NewMemFS()
	m.mu.Lock()
	defer m.mu.Unlock()
	c.mu.root = cloneDir(m.mu.root, "", keep)
	return c
}

// cloneDir copies what a crash leaves of d (at path p); the MemFS lock is
// held.
func cloneDir(d *memDir, p string, keep func(string, int64) int64) *memDir {
	nd := newMemDir()
	for name, e := range d.durable {
		switch e := e.(type) {
		case *memDir:
			nd.entries[name] = cloneDir(e, p+"/"+name, keep)
		case *memFile:
			nd.entries[name] = e.crashCopy(p+"/"+name, keep)
		}
	}
	nd.durable = maps.Clone(nd.entries)
	return nd
}

// crashCopy returns what a crash leaves of f, found at name.
func (f *memFile) crashCopy(name string, keep func(string, int64) int64) *memFile {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := f.mu.synced
	if extra := f.mu.size - f.mu.synced; extra > 0 && keep != nil {
		n += min(max(keep(name, extra), 0), extra)
	}
	nf := &memFile{}
	nf.writeAtLocked(f.readAll(n), 0)
	nf.mu.synced = n
	return nf
}

// Corrupt flips the byte at off of name (for tests of checksum handling).
func (m *MemFS) Corrupt(name string, off int64) {
	dir, base := split(name)
	m.mu.Lock()
	var f *memFile
	if d, err := m.dirLocked("open", dir); err == nil {
		f, _ = d.entries[base].(*memFile)
	}
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

// growLocked makes the blocks hold end bytes: every block but the last is
// memBlock long, the last at least as long as the bytes it holds (so a
// small file takes little memory: crash tests clone many). f.mu held.
func (f *memFile) growLocked(end int64) {
	if end <= 0 {
		return
	}
	last := int((end - 1) / memBlock)
	for i := range min(len(f.mu.blocks), last) {
		f.mu.blocks[i] = extend(f.mu.blocks[i], memBlock)
	}
	for len(f.mu.blocks) < last {
		f.mu.blocks = append(f.mu.blocks, make([]byte, memBlock))
	}
	need := int(end - int64(last)*memBlock)
	if len(f.mu.blocks) == last {
		f.mu.blocks = append(f.mu.blocks, make([]byte, min(max(need, memMinBlock), memBlock)))
	}
	if b := f.mu.blocks[last]; len(b) < need {
		f.mu.blocks[last] = extend(b, max(need, min(2*len(b), memBlock)))
	}
}

// extend returns b lengthened to n with zeros.
func extend(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}

func (f *memFile) writeAtLocked(p []byte, off int64) {
	end := off + int64(len(p))
	f.growLocked(end)
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
	h.f.growLocked(size)
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

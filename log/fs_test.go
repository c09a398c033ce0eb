package log_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/bargemq/barge/internal/crashfs"
	"github.com/bargemq/barge/internal/diskfull"
	"github.com/bargemq/barge/log"
)

// write creates (or truncates) name on m with data, synced or not.
func write(t *testing.T, m log.FS, name, data string, sync bool) {
	t.Helper()
	f, err := m.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
}

// content returns name's bytes on m, or "<absent>".
func content(t *testing.T, m log.FS, name string) string {
	t.Helper()
	b, err := log.ReadFile(m, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "<absent>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMemFSCrashModel pins down what a crash keeps: a directory's entries
// as of its last SyncDir, a file's synced bytes, and only what hangs from
// the root through durable entries.
func TestMemFSCrashModel(t *testing.T) {
	m := log.NewMemFS()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.MkdirAll("/a/b", 0o755))
	write(t, m, "/a/b/f", "one", true)
	must(m.SyncDir("/a/b"))
	// /a and /a/b are not durable in their parents yet: nothing survives.
	if got := content(t, m.CrashClone(nil), "/a/b/f"); got != "<absent>" {
		t.Fatalf("file under an unsynced directory survived: %q", got)
	}
	must(m.SyncDir("/"))
	must(m.SyncDir("/a"))
	if got := content(t, m.CrashClone(nil), "/a/b/f"); got != "one" {
		t.Fatalf("after syncing the tree: %q", got)
	}

	// Unsynced bytes vanish unless keep keeps them.
	f, err := m.OpenFile("/a/b/f", os.O_RDWR, 0)
	must(err)
	_, err = f.WriteAt([]byte("-two"), 3)
	must(err)
	f.Close()
	if got := content(t, m.CrashClone(nil), "/a/b/f"); got != "one" {
		t.Fatalf("unsynced append kept: %q", got)
	}
	keep2 := func(name string, n int64) int64 {
		if name != "/a/b/f" || n != 4 {
			t.Errorf("keep(%q, %d)", name, n)
		}
		return 2
	}
	if got := content(t, m.CrashClone(keep2), "/a/b/f"); got != "one-t" {
		t.Fatalf("torn append: %q", got)
	}

	// A rename is durable after SyncDir; before it the names are as they
	// were (and the old name no longer exists after it).
	write(t, m, "/a/b/g.tmp", "new", true)
	must(m.Rename("/a/b/g.tmp", "/a/b/f"))
	c := m.CrashClone(nil)
	if got := content(t, c, "/a/b/f"); got != "one" {
		t.Fatalf("rename before SyncDir: f = %q", got)
	}
	must(m.SyncDir("/a/b"))
	c = m.CrashClone(nil)
	if got, tmp := content(t, c, "/a/b/f"), content(t, c, "/a/b/g.tmp"); got != "new" || tmp != "<absent>" {
		t.Fatalf("rename after SyncDir: f = %q, g.tmp = %q", got, tmp)
	}

	// Renaming a directory moves its tree; removal is durable at once.
	must(m.Rename("/a/b", "/a/c"))
	if names, _ := m.List("/a"); !slices.Equal(names, []string{"c"}) {
		t.Fatalf("List /a = %v", names)
	}
	if got := content(t, m, "/a/c/f"); got != "new" {
		t.Fatalf("after dir rename: %q", got)
	}
	if got := content(t, m.CrashClone(nil), "/a/b/f"); got != "new" {
		t.Fatalf("dir rename before SyncDir must find the old name: %q", got)
	}
	must(m.SyncDir("/a"))
	c = m.CrashClone(nil)
	if a, b := content(t, c, "/a/c/f"), content(t, c, "/a/b/f"); a != "new" || b != "<absent>" {
		t.Fatalf("dir rename after SyncDir: c/f %q b/f %q", a, b)
	}
	must(m.RemoveAll("/a/c"))
	if got := content(t, m.CrashClone(nil), "/a/c/f"); got != "<absent>" {
		t.Fatalf("RemoveAll not durable: %q", got)
	}
	must(m.RemoveAll("/a/nothing"))

	// Errors are the OS's.
	if _, err := m.OpenFile("/nodir/x", os.O_CREATE|os.O_RDWR, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("create in a missing dir: %v", err)
	}
	if _, err := m.List("/nodir"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list a missing dir: %v", err)
	}
	write(t, m, "/a/file", "x", false)
	if _, err := m.OpenFile("/a/file/meta.json", os.O_RDONLY, 0); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("open under a file: %v", err)
	}
	must(m.MkdirAll("/a/d", 0o755))
	write(t, m, "/a/d/x", "x", false)
	if err := m.Remove("/a/d"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove a non-empty dir: %v", err)
	}
}

// TestWriteFileAtomicCrashPoints crashes a log.WriteFileAtomic after each of
// its steps, on the crashable MemFS, keeping none, some or all of the
// unsynced bytes: the file is always the old or the new one, whole.
func TestWriteFileAtomicCrashPoints(t *testing.T) {
	old, next := bytes.Repeat([]byte("o"), 5000), bytes.Repeat([]byte("n"), 7000)
	for _, keep := range []func(string, int64) int64{
		nil,
		func(_ string, n int64) int64 { return n / 2 },
		func(_ string, n int64) int64 { return n },
	} {
		m := log.NewMemFS()
		if err := log.MkdirDurable(m, "/d"); err != nil {
			t.Fatal(err)
		}
		if err := log.WriteFileAtomic(m, "/d", "meta.json", old); err != nil {
			t.Fatal(err)
		}
		rec := crashfs.New(m, keep)
		rec.Record()
		if err := log.WriteFileAtomic(rec, "/d", "meta.json", next); err != nil {
			t.Fatal(err)
		}
		images := rec.Stop()
		if len(images) < 5 {
			t.Fatalf("only %d steps recorded", len(images))
		}
		sawNew := false
		for _, img := range images {
			b, err := log.ReadFile(img.FS, "/d/meta.json")
			if err != nil {
				t.Fatalf("after %s: %v", img.Op, err)
			}
			switch {
			case bytes.Equal(b, old):
			case bytes.Equal(b, next):
				sawNew = true
			default:
				t.Fatalf("after %s: meta.json is neither old nor new (%d bytes)", img.Op, len(b))
			}
		}
		if !sawNew {
			t.Fatal("no step found the new file")
		}
		if b, _ := log.ReadFile(images[len(images)-1].FS, "/d/meta.json"); !bytes.Equal(b, next) {
			t.Fatal("after the last step the file is not the new one")
		}
	}
}

// TestWriteFileAtomicFullDisk: a write that meets a full disk fails,
// leaves the old file and no temporary file, and succeeds once space
// returns.
func TestWriteFileAtomicFullDisk(t *testing.T) {
	m := log.NewMemFS()
	ffs := diskfull.New(m, -1)
	if err := log.MkdirDurable(m, "/d"); err != nil {
		t.Fatal(err)
	}
	if err := log.WriteFileAtomic(ffs, "/d", "state", []byte("old")); err != nil {
		t.Fatal(err)
	}
	ffs.Fill(10)
	if err := log.WriteFileAtomic(ffs, "/d", "state", bytes.Repeat([]byte("x"), 100)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if names, _ := m.List("/d"); !slices.Equal(names, []string{"state"}) {
		t.Fatalf("files left: %v", names)
	}
	if got := content(t, m, "/d/state"); got != "old" {
		t.Fatalf("state = %q", got)
	}
	if ffs.Used() != 3 {
		t.Fatalf("the failed write still takes %d bytes", ffs.Used()-3)
	}
	ffs.SetCapacity(-1)
	if err := log.WriteFileAtomic(ffs, "/d", "state", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := content(t, m.CrashClone(nil), "/d/state"); got != "new" {
		t.Fatalf("state after space returned = %q", got)
	}
}

// TestRemoveDir: a removal interrupted after its rename leaves only the
// .deleting name, which a crash keeps or drops whole.
func TestRemoveDir(t *testing.T) {
	m := log.NewMemFS()
	for _, d := range []string{"/p", "/p/s"} {
		if err := log.MkdirDurable(m, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.WriteFileAtomic(m, "/p/s", "meta.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	rec := crashfs.New(m, nil)
	rec.Record()
	if err := log.RemoveDir(rec, "/p/s"); err != nil {
		t.Fatal(err)
	}
	for _, img := range rec.Stop() {
		names, err := img.FS.List("/p")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case slices.Equal(names, []string{"s"}), slices.Equal(names, []string{"s" + log.DeletingSuffix}), len(names) == 0:
		default:
			t.Fatalf("after %s: /p holds %v", img.Op, names)
		}
	}
	if names, _ := m.CrashClone(nil).List("/p"); len(names) != 0 {
		t.Fatalf("after log.RemoveDir: %v", names)
	}
	if err := log.RemoveDir(m, "/p/s"); err != nil {
		t.Fatalf("removing a missing dir: %v", err)
	}
}

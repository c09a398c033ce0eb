package jetstream

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestSpoolPool: get never makes a file (an empty pool answers nil and
// refills in the background, here run directly), files are unlinked
// (nothing stays in the directory), put empties a file for reuse, and
// close closes what is kept.
func TestSpoolPool(t *testing.T) {
	dir := t.TempDir()
	none := newSpoolPool(filepath.Join(dir, "missing"))
	if f := none.get(); f != nil {
		t.Fatal("get returned a file from an empty pool")
	}
	none.close()
	p := newSpoolPool(dir)
	p.fill() // what get starts in the background
	f := p.get()
	if f == nil {
		t.Fatal("no file after a refill")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("spool files left in the directory: %v", ents)
	}
	if _, err := f.Write([]byte("body bytes")); err != nil {
		t.Fatal(err)
	}
	p.put(f)
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
		t.Fatalf("put did not empty the file: %v %v", fi, err)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 0 {
		t.Fatalf("put left the offset at %d", off)
	}
	p.close()
	if _, err := f.Write([]byte("x")); err == nil {
		t.Fatal("close left a kept file open")
	}
}

package diskfull

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/bargemq/barge/log"
)

// TestDirectoryAccounting: renaming a directory keeps its files' bytes
// charged, removing a tree frees them, and a write past the capacity
// fails with ENOSPC after writing what fits.
func TestDirectoryAccounting(t *testing.T) {
	f := New(log.NewMemFS(), 100)
	if err := f.MkdirAll("/d/s", 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := f.OpenFile("/d/s/a", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(make([]byte, 60), 0); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if err := f.Rename("/d/s", "/d/s.deleting"); err != nil {
		t.Fatal(err)
	}
	if f.Used() != 60 {
		t.Fatalf("used %d after rename, want 60", f.Used())
	}
	h, _ = f.OpenFile("/d/b", os.O_CREATE|os.O_RDWR, 0o644)
	if n, err := h.WriteAt(make([]byte, 50), 0); n != 40 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past capacity: %d %v", n, err)
	}
	h.Close()
	if err := f.RemoveAll("/d/s.deleting"); err != nil {
		t.Fatal(err)
	}
	if f.Used() != 40 {
		t.Fatalf("used %d after RemoveAll, want 40", f.Used())
	}
}

package limits

import (
	"testing"
	"time"
)

func TestLoopbackAndDisk(t *testing.T) {
	bw, err := Loopback(50*time.Millisecond, 256<<10)
	if err != nil || bw <= 0 {
		t.Fatalf("Loopback = %v, %v", bw, err)
	}
	dw, err := DiskFsync(t.TempDir(), 4<<20, 1<<20, 2<<20)
	if err != nil || dw <= 0 {
		t.Fatalf("DiskFsync = %v, %v", dw, err)
	}
}

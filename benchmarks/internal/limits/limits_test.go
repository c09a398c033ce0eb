package limits

import (
	"os"
	"testing"
	"time"
)

func TestLoopback(t *testing.T) {
	bw, err := Loopback(50*time.Millisecond, 256<<10)
	if err != nil || bw <= 0 {
		t.Fatalf("Loopback = %v, %v", bw, err)
	}
}

// The probe writes what the log would for each shape: small records
// buffered into few large writes, large ones one write each, chunked ones
// past 1 MiB, a roll at 64 MiB; every message acknowledged by an fsync;
// and it leaves no file behind.
func TestDiskLogShapes(t *testing.T) {
	for _, c := range []struct {
		name  string
		shape DiskShape
		bytes int64
		check func(t *testing.T, r DiskResult)
	}{
		{"small records share writes", JSPubShape(1<<10, 32<<20), 2 << 20, func(t *testing.T, r DiskResult) {
			// 1 KiB records go out in pieces of up to 256 KiB, or when the
			// leader writes out the buffer before an fsync: never one
			// write per message, however fast the fsyncs.
			if r.Writes > r.Syncs+r.Written/(256<<10)+1 || r.Writes >= r.Msgs {
				t.Errorf("%d writes for %d small messages, %d syncs", r.Writes, r.Msgs, r.Syncs)
			}
		}},
		{"one write per mid-size record", JSPubShape(64<<10, 32<<20), 4 << 20, func(t *testing.T, r DiskResult) {
			if r.Writes < r.Msgs || r.Writes > r.Msgs+r.Syncs {
				t.Errorf("%d writes for %d 64 KiB messages and %d syncs", r.Writes, r.Msgs, r.Syncs)
			}
		}},
		{"chunked and rolled", JSPubShape(40<<20, 32<<20), 64 << 20, func(t *testing.T, r DiskResult) {
			// 40 MiB messages: 40 chunk records each, and two messages pass
			// the 64 MiB segment size.
			if r.Msgs < 2 || r.Writes < 80 || r.Rolls < 1 {
				t.Errorf("msgs %d writes %d rolls %d", r.Msgs, r.Writes, r.Rolls)
			}
			if r.Written < r.Bytes {
				t.Errorf("wrote %d bytes for %d of payload", r.Written, r.Bytes)
			}
		}},
		{"object store put", ObjPutShape(1 << 20), 2 << 20, func(t *testing.T, r DiskResult) {
			// Each 1 MiB object: 8 chunks and its meta message; the put
			// waits for all of them, so no fsync spans two objects.
			if r.Msgs%9 != 0 || r.Bytes != r.Msgs/9*(1<<20) {
				t.Errorf("msgs %d bytes %d", r.Msgs, r.Bytes)
			}
			if r.Syncs < r.Msgs/9 {
				t.Errorf("%d syncs for %d objects", r.Syncs, r.Msgs/9)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := DiskLog(dir, c.shape, c.bytes, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if r.Bps <= 0 || r.Syncs == 0 || r.Msgs < 2 || r.Bytes < c.bytes || r.BytesPerSync() <= 0 {
				t.Fatalf("result %+v", r)
			}
			t.Logf("%+v, %.0f bytes and %.1f writes per fsync", r, r.BytesPerSync(), r.WritesPerSync())
			c.check(t, r)
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left %d files", len(left))
			}
		})
	}
}

func TestShapes(t *testing.T) {
	if s := JSPubShape(1<<10, 32<<20); s.Window != 1000 || s.Payload != 1<<10 {
		t.Errorf("1 KiB js-pub shape %+v", s)
	}
	if s := JSPubShape(1<<20, 32<<20); s.Window != 32 {
		t.Errorf("1 MiB js-pub shape %+v", s)
	}
	if s := JSPubShape(1<<30, 32<<20); s.Window != 2 {
		t.Errorf("1 GiB js-pub shape %+v", s)
	}
	if s := ObjPutShape(1 << 30); s.Payload != 128<<10 || s.Object != 8192 {
		t.Errorf("1 GiB obj-put shape %+v", s)
	}
	if s := ObjPutShape(1 << 10); s.Payload != 1<<10 || s.Object != 1 {
		t.Errorf("1 KiB obj-put shape %+v", s)
	}
}

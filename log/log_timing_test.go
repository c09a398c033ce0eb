package log

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingFS counts fsyncs of segment files.
type countingFS struct {
	OSFS
	syncs *atomic.Int64
}

func (c countingFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countingFile{f, c.syncs}, nil
}

type countingFile struct {
	File
	syncs *atomic.Int64
}

func (f countingFile) Sync() error { f.syncs.Add(1); return f.File.Sync() }

func sizeName(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// appendOne stores payload the way the broker will: in 64 KiB pieces as
// they come off a socket.
func appendOne(l *Log, payload []byte) error {
	a, err := l.Append("bench.subject", nil, int64(len(payload)))
	if err != nil {
		return err
	}
	for p := payload; len(p) > 0; {
		n := min(len(p), 64<<10)
		if _, err := a.Write(p[:n]); err != nil {
			a.Abort()
			return err
		}
		p = p[n:]
	}
	_, _, err = a.Commit()
	return err
}

// rawWrite is the baseline: the same messages written sequentially to one
// file, each followed by fsync, in the same directory.
func rawWrite(b *testing.B, dir string, payload []byte, n int) time.Duration {
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	start := time.Now()
	var off int64
	for range n {
		if _, err := f.WriteAt(payload, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(payload))
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if off > 512<<20 { // keep the file bounded, like the log's MaxBytes
			f.Truncate(0)
			off = 0
		}
	}
	return time.Since(start)
}

// BenchmarkAppend measures commit throughput with SyncAlways against a raw
// write+fsync of the same bytes on the same disk in the same run, and
// reports the ratio (log rate / raw rate) and fsyncs per message.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 64 << 20} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("size=%s/writers=%d", sizeName(size), writers), func(b *testing.B) {
				dir := b.TempDir()
				var syncs atomic.Int64
				l, err := Open(filepath.Join(dir, "s"), Config{MaxBytes: 512 << 20}, Options{FS: countingFS{syncs: &syncs}})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				payload := payloadFor("bench", size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				syncs.Store(0)
				b.ResetTimer()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := appendOne(l, payload); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				logDur := b.Elapsed()
				b.StopTimer()
				b.ReportMetric(float64(syncs.Load())/float64(b.N), "fsyncs/op")
				raw := rawWrite(b, dir, payload, b.N)
				b.ReportMetric(raw.Seconds()/logDur.Seconds(), "ratio-vs-raw")
				b.ReportMetric(float64(size)*float64(b.N)/raw.Seconds()/(1<<20), "raw-MiB/s")
			})
		}
	}
}

// BenchmarkLoad reads messages by sequence from the page cache: LoadMsg
// plus ReadPayload into a reused buffer (0 allocations).
func BenchmarkLoad(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "s"), Config{}, Options{Sync: SyncInterval})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			const msgs = 64
			payload := payloadFor("load", size)
			for range msgs {
				if _, _, err := l.AppendMsg("load", nil, payload); err != nil {
					b.Fatal(err)
				}
			}
			var sm StoredMsg
			dst := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := l.LoadMsg(uint64(i%msgs)+1, &sm); err != nil {
					b.Fatal(err)
				}
				if dst, err = sm.ReadPayload(dst[:0]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkAppendHuge appends one 1 GiB message (SyncAlways) and reports
// the bytes the Go heap allocated while doing it, beyond the pooled chunk
// buffer.
func BenchmarkAppendHuge(b *testing.B) {
	const size = 1 << 30
	b.Run("size=1GiB", func(b *testing.B) {
		l, err := Open(filepath.Join(b.TempDir(), "s"), Config{MaxMsgs: 1}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		piece := payloadFor("huge", 64<<10)
		b.SetBytes(size)
		b.ReportAllocs()
		var heap uint64
		for b.Loop() {
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			a, err := l.Append("huge", nil, size)
			if err != nil {
				b.Fatal(err)
			}
			for range size / len(piece) {
				if _, err := a.Write(piece); err != nil {
					b.Fatal(err)
				}
			}
			if _, _, err := a.Commit(); err != nil {
				b.Fatal(err)
			}
			runtime.ReadMemStats(&m1)
			heap = max(heap, m1.TotalAlloc-m0.TotalAlloc)
		}
		chunkBuf := uint64(l.bufCap())
		b.ReportMetric(float64(heap-min(heap, chunkBuf))/(1<<20), "heap-MiB-beyond-chunk")
	})
}

// Command objceiling measures how fast nats.go's Object Store client can
// go on this machine, to tell the server's share of an Object Store
// workload from the client's. Against a running server (barge or
// nats-server) it puts and gets one object repeatedly, with file and then
// memory storage, and prints the throughput and the CPU this client process
// spent per GiB. With memory storage the server does no disk I/O at all:
// if the client is then busy for the whole wall time, no server, however
// fast, makes that workload faster with this client.
//
//	objceiling -url nats://127.0.0.1:4222 -size 256MiB -reps 3
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bargemq/barge/benchmarks/internal/units"
)

func main() {
	url := flag.String("url", nats.DefaultURL, "server URL")
	sizeArg := flag.String("size", "256MiB", "object size")
	reps := flag.Int("reps", 3, "repetitions per storage type")
	flag.Parse()
	size, err := units.ParseSize(*sizeArg)
	if err != nil {
		fail(err)
	}
	if err := run(*url, size, *reps); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "objceiling:", err)
	os.Exit(1)
}

// cpu is this process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(url string, size int64, reps int) error {
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Printf("%-7s %-4s %10s %16s %14s\n", "storage", "op", "MiB/s", "client CPU s/GiB", "client busy")
	for _, st := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		bucket := "OBJCEILING_" + st.String()
		obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket, Storage: st})
		if err != nil {
			return fmt.Errorf("create %s: %w", bucket, err)
		}
		for range reps {
			put := func() error {
				_, err := obs.Put(ctx, jetstream.ObjectMeta{Name: "o"}, bytes.NewReader(data))
				return err
			}
			if err := measure(st.String(), "put", size, put); err != nil {
				return err
			}
			get := func() error {
				r, err := obs.Get(ctx, "o")
				if err != nil {
					return err
				}
				defer r.Close()
				n, err := io.Copy(io.Discard, r) // nats.go checks the digest at EOF
				if err == nil && n != size {
					err = fmt.Errorf("got %d bytes, want %d", n, size)
				}
				return err
			}
			if err := measure(st.String(), "get", size, get); err != nil {
				return err
			}
		}
		if err := js.DeleteObjectStore(ctx, bucket); err != nil {
			return err
		}
	}
	return nil
}

// measure runs op once and prints its throughput and client CPU.
func measure(storage, name string, size int64, op func() error) error {
	t0, c0 := time.Now(), cpu()
	if err := op(); err != nil {
		return fmt.Errorf("%s %s: %w", storage, name, err)
	}
	wall, c := time.Since(t0), cpu()-c0
	gib := float64(size) / (1 << 30)
	fmt.Printf("%-7s %-4s %10.0f %16.2f %13.0f%%\n", storage, name, float64(size)/(1<<20)/wall.Seconds(),
		c.Seconds()/gib, 100*c.Seconds()/wall.Seconds())
	return nil
}

package raft

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchCluster starts a 3-node cluster with one stream shard and returns
// the leader's replica.
func benchCluster(b *testing.B, tune func(*Config)) *StreamShard {
	c := &cluster{root: b.TempDir(), addrs: map[uint64]string{}, hosts: map[uint64]*NodeHost{}, tune: tune}
	for id := uint64(1); id <= 3; id++ {
		c.addrs[id] = freePort(b)
	}
	shards := map[uint64]*StreamShard{}
	for id := range c.addrs {
		cfg := Config{NodeID: id, RaftAddress: c.addrs[id], DataDir: fmt.Sprintf("%s/host%d", c.root, id)}
		if tune != nil {
			tune(&cfg)
		}
		h, err := NewNodeHost(cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.hosts[id] = h
		s, err := h.StartStreamShard(1, c.addrs, false, fmt.Sprintf("%s/host%d/stream", c.root, id), StreamOptions{})
		if err != nil {
			b.Fatal(err)
		}
		shards[id] = s
	}
	b.Cleanup(func() {
		for _, h := range c.hosts {
			h.Close()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for c.leader(1) == 0 {
		if time.Now().After(deadline) {
			b.Fatal("no leader")
		}
		<-tick.C
	}
	return shards[c.leader(1)]
}

// BenchmarkPublishR3 publishes through the leader of a 3-node shard: one
// publisher (latency bound) and, for 1 KiB, 32 concurrent publishers.
func BenchmarkPublishR3(b *testing.B) {
	for _, sz := range []struct {
		name string
		n    int
	}{{"size=1KiB", 1 << 10}, {"size=1MiB", 1 << 20}, {"size=8MiB", 8 << 20}} {
		b.Run(sz.name, func(b *testing.B) {
			s := benchCluster(b, nil)
			p := payload(1, sz.n)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(sz.n))
			b.ResetTimer()
			for range b.N {
				if _, _, err := s.PublishBytes(ctx, "bench", nil, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("size=1KiB/publishers=32", func(b *testing.B) {
		s := benchCluster(b, nil)
		p := payload(1, 1<<10)
		b.ReportAllocs()
		b.SetBytes(1 << 10)
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := s.PublishBytes(context.Background(), "bench", nil, p); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

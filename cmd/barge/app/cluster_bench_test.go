package app_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

// BenchmarkClusterPubSub publishes with nats.go on one node to a nats.go
// subscriber on another (hop=route) or on the same node (hop=local), and
// waits until every message has arrived.
func BenchmarkClusterPubSub(b *testing.B) {
	apps := startCluster(b, 2, func(_ int, c *app.Config) { c.JetStream = false })
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		for _, hop := range []string{"local", "route"} {
			b.Run("size="+sizeLabel(size)+"/hop="+hop, func(b *testing.B) {
				subNode := apps[0]
				if hop == "route" {
					subNode = apps[1]
				}
				subject := "bench." + hop + "." + strconv.Itoa(size)
				var got atomic.Int64
				snc := connect(b, subNode)
				sub, err := snc.Subscribe(subject, func(*nats.Msg) { got.Add(1) })
				if err != nil {
					b.Fatal(err)
				}
				_ = sub.SetPendingLimits(-1, -1)
				_ = snc.Flush()
				if hop == "route" {
					waitInterest(b, apps[0], subject, 1)
				}
				pnc := connect(b, apps[0])
				msg := make([]byte, size)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				for range b.N {
					if err := pnc.Publish(subject, msg); err != nil {
						b.Fatal(err)
					}
				}
				_ = pnc.Flush()
				eventually(b, 2*time.Minute, "all messages", func() bool { return got.Load() >= int64(b.N) })
			})
		}
	}
}

func sizeLabel(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// describe reports the live consumer's and the stream's state as node 1
// sees them.
func (lc *liveConsumer) describe(ctx context.Context) string {
	nc, err := nats.Connect(lc.url, nats.IgnoreDiscoveredServers())
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err.Error()
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(cctx, "F")
	if err != nil {
		return err.Error()
	}
	c, err := s.Consumer(cctx, "live")
	if err != nil {
		return err.Error()
	}
	ci := c.CachedInfo()
	return fmt.Sprintf("stream last_seq=%d msgs=%d leader=%v; consumer delivered=%d ack_floor=%d pending=%d ack_pending=%d waiting=%d",
		s.CachedInfo().State.LastSeq, s.CachedInfo().State.Msgs, s.CachedInfo().Cluster.Leader,
		ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending, ci.NumWaiting)
}

// liveConsumer is a durable pull consumer on node 1 that fetches and acks
// while the faults run, through one consumer handle kept for the whole
// run; its node is restarted (and may be paused or cut off), and it must
// resume.
//
// Its client knows node 1's URL only and ignores the servers INFO
// advertises. Before replicated consumers (98be27c) consumers were per
// node, and a client given node 1's URL that failed over to a server INFO
// advertised, where CreateOrUpdateConsumer made a second durable "live"
// starting at sequence 1, received the whole stream again: that, not the
// server serving pull requests the client had given up on, was the fault
// run's "8413 of 9286 received more than once"; and a kept handle then
// pulled from a node without the durable: the empty batches. Now the
// durable runs on the stream leader whatever node the client is on; its
// redeliveries are what a leadership change leaves unacked.
type liveConsumer struct {
	url  string        // node 1's client URL (its proxy)
	stop chan struct{} // closed by finish
	done chan struct{} // closed when the consumer's goroutine returns

	mu   sync.Mutex     // guards seen and errs
	seen map[uint64]int // message number → deliveries
	errs map[string]int // distinct client errors and events, counted
}

// note counts a client error or event.
func (lc *liveConsumer) note(s string) {
	lc.mu.Lock()
	lc.errs[s]++
	lc.mu.Unlock()
}

// startLive connects to node 1 only and consumes the stream F through the
// durable "live" until finish.
func (c *cluster) startLive(ctx context.Context) *liveConsumer {
	lc := &liveConsumer{seen: make(map[uint64]int), stop: make(chan struct{}), done: make(chan struct{}),
		url: c.nodes[0].url(), errs: make(map[string]int)}
	go func() {
		defer close(lc.done)
		nc, err := connectRetry(ctx, lc.url,
			nats.ReconnectHandler(func(nc *nats.Conn) { lc.note("reconnected to " + nc.ConnectedServerName()) }))
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		var cons jetstream.Consumer
		for cons == nil {
			select {
			case <-lc.stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			cons, err = js.CreateOrUpdateConsumer(cctx, "F", jetstream.ConsumerConfig{Durable: "live",
				AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second})
			cancel()
			if err != nil {
				lc.note("create the durable: " + err.Error())
				time.Sleep(200 * time.Millisecond)
			}
		}
		for {
			select {
			case <-lc.stop:
				return
			default:
			}
			batch, err := cons.Fetch(50, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				lc.note("fetch: " + err.Error())
				time.Sleep(100 * time.Millisecond)
				continue
			}
			got := 0
			for m := range batch.Messages() {
				got++
				if len(m.Data()) >= 8 {
					lc.mu.Lock()
					lc.seen[binary.BigEndian.Uint64(m.Data())]++
					lc.mu.Unlock()
				}
				_ = m.Ack()
			}
			if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
				lc.note("fetch batch: " + err.Error())
				if got == 0 {
					time.Sleep(100 * time.Millisecond) // node 1 is down or cut off
				}
			}
		}
	}()
	return lc
}

// finish waits (up to 30 s) until the live consumer has every acked
// message, stops it and reports.
func (lc *liveConsumer) finish(ctx context.Context, acked map[uint64]uint64, rep *Report) {
	missing := func() int {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		n := 0
		for k := range acked {
			if lc.seen[k] == 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for missing() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	close(lc.stop)
	<-lc.done
	rep.NotConsumed = missing()
	if rep.NotConsumed > 0 {
		lc.mu.Lock()
		var first uint64
		for k := range acked {
			if lc.seen[k] == 0 && (first == 0 || k < first) {
				first = k
			}
		}
		lc.mu.Unlock()
		rep.Notes = append(rep.Notes, fmt.Sprintf("first message the live consumer missed: %d (seq %d); node 1 then: %s",
			first, acked[first], lc.describe(ctx)))
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if len(lc.errs) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("live consumer's client: %v", lc.errs))
	}
	rep.Consumed = len(lc.seen)
	for _, c := range lc.seen {
		if c > 1 {
			rep.Redelivered++
		}
	}
}

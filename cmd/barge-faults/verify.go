package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReplicaCheck is what one node's replica of the stream held afterwards.
type ReplicaCheck struct {
	Node       string
	AckedLost  int // acked messages missing, or at another sequence than acked (must be 0)
	Duplicates int // messages stored more than once
	Gaps       int // sequences missing between first and last
	OutOfOrder int // acked messages stored out of publish order
	Unacked    int // stored messages whose publish got no ack (allowed)
}

// verifyAll reads every node's replica and adds the checks to rep.
func (c *cluster) verifyAll(ctx context.Context, acked map[uint64]uint64, rep *Report) error {
	var want uint64
	for _, sq := range acked {
		want = max(want, sq)
	}
	for _, n := range c.nodes {
		rc, err := c.verifyReplica(ctx, n, acked, want)
		if err != nil {
			return fmt.Errorf("verify %s: %w", n.name, err)
		}
		c.logf("replica %s: %+v", n.name, rc)
		rep.Replicas = append(rep.Replicas, rc)
		rep.AckedLost += rc.AckedLost
		rep.Duplicates = max(rep.Duplicates, rc.Duplicates)
		rep.Gaps = max(rep.Gaps, rc.Gaps)
		rep.OutOfOrder = max(rep.OutOfOrder, rc.OutOfOrder)
		rep.Unacked = max(rep.Unacked, rc.Unacked)
	}
	return nil
}

// verifyReplica reads the whole stream through an ordered consumer on n
// (a client connected to n only: consumers read their node's replica) and
// checks every acked message is there, in order, once. It waits up to
// CatchUpWait for the replica to reach sequence want; what is missing then
// counts as lost.
func (c *cluster) verifyReplica(ctx context.Context, n *node, acked map[uint64]uint64, want uint64) (ReplicaCheck, error) {
	rc := ReplicaCheck{Node: n.name}
	ctx, cancel := context.WithTimeout(ctx, c.o.CatchUpWait+30*time.Second)
	defer cancel()
	nc, err := connectRetry(ctx, n.url())
	if err != nil {
		return rc, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return rc, err
	}
	var cons jetstream.Consumer
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err = js.OrderedConsumer(cctx, "F", jetstream.OrderedConsumerConfig{})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return rc, fmt.Errorf("ordered consumer: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	seen := make(map[uint64]int)
	var lastSeq, lastN uint64
	deadline := time.Now().Add(c.o.CatchUpWait)
	for lastSeq < want && ctx.Err() == nil {
		// No more than the replica should have left: a full batch
		// returns at once instead of waiting out the fetch's expiry.
		batch, err := cons.Fetch(int(min(100, want-lastSeq)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			continue
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return rc, err
			}
			seq := md.Sequence.Stream
			if lastSeq != 0 && seq != lastSeq+1 {
				rc.Gaps += int(seq - lastSeq - 1)
			}
			lastSeq = seq
			if len(m.Data()) < 8 {
				return rc, fmt.Errorf("seq %d: %d bytes", seq, len(m.Data()))
			}
			num := binary.BigEndian.Uint64(m.Data())
			seen[num]++
			if seen[num] > 1 {
				rc.Duplicates++
			}
			if as, ok := acked[num]; ok {
				if as != seq {
					rc.AckedLost++ // acked at another sequence
				}
				if num < lastN {
					rc.OutOfOrder++
				}
				lastN = num
			} else {
				rc.Unacked++
			}
		}
		if got == 0 && time.Now().After(deadline) {
			break // the replica stopped short of want: the rest counts as lost
		}
		if err := batch.Error(); got == 0 && err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() != nil {
			return rc, err
		}
	}
	for num := range acked {
		if seen[num] == 0 {
			rc.AckedLost++
		}
	}
	return rc, nil
}

// catchUp waits until n's replica holds sequence want (its stream info,
// read from n itself, says so) and returns the time since from; -1 when it
// does not within CatchUpWait.
func (c *cluster) catchUp(ctx context.Context, n *node, want uint64, from time.Time) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, c.o.CatchUpWait)
	defer cancel()
	nc, err := connectRetry(ctx, n.url())
	if err != nil {
		return -1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return -1
	}
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		s, err := js.Stream(cctx, "F")
		cancel()
		if err == nil && s.CachedInfo().State.LastSeq >= want {
			return time.Since(from)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return -1
}

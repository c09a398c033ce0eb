package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReplicaCheck is what one node's replica of the stream held afterwards,
// read with DIRECT.GET from that node (every member answers it from its
// own log; it is never forwarded to the leader).
type ReplicaCheck struct {
	Node       string
	AckedLost  int // acked messages missing, or at another sequence than acked (must be 0)
	Duplicates int // messages stored more than once
	Gaps       int // sequences missing up to the last acked one
	OutOfOrder int // acked messages stored out of publish order
	Unacked    int // stored messages whose publish got no ack (allowed)
	// Err says why the replica could not be read to the end ("" when it
	// was); the figures cover what was read.
	Err string
}

// tally checks a stream's contents as they are read in sequence order.
type tally struct {
	acked map[uint64]uint64 // message number → acked sequence
	seen  map[uint64]int    // message number → copies read
	found map[uint64]bool   // acked message numbers read at their acked sequence
	lastN uint64            // the last acked message number read
	rc    ReplicaCheck
}

func newTally(acked map[uint64]uint64) *tally {
	return &tally{acked: acked, seen: make(map[uint64]int), found: make(map[uint64]bool)}
}

// add records message number num stored at seq.
func (t *tally) add(seq, num uint64) {
	t.seen[num]++
	if t.seen[num] > 1 {
		t.rc.Duplicates++
	}
	as, ok := t.acked[num]
	if !ok {
		t.rc.Unacked++
		return
	}
	if as == seq {
		t.found[num] = true
	}
	if num < t.lastN {
		t.rc.OutOfOrder++
	}
	t.lastN = num
}

// done counts the acked messages never read at their acked sequence as
// lost.
func (t *tally) done() ReplicaCheck {
	t.rc.AckedLost = 0
	for num := range t.acked {
		if !t.found[num] {
			t.rc.AckedLost++
		}
	}
	return t.rc
}

// lastAcked is the highest acked sequence.
func lastAcked(acked map[uint64]uint64) uint64 {
	var want uint64
	for _, sq := range acked {
		want = max(want, sq)
	}
	return want
}

// verifyAll reads the stream as a client sees it (an ordered consumer
// through all three nodes) into rep's main figures, then every node's
// replica into rep.Replicas.
func (c *cluster) verifyAll(ctx context.Context, acked map[uint64]uint64, rep *Report) error {
	want := lastAcked(acked)
	rc, err := c.verifyStream(ctx, acked, want)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	c.logf("stream read by a client: %+v", rc)
	rep.AckedLost, rep.Duplicates, rep.Gaps, rep.OutOfOrder, rep.Unacked = rc.AckedLost, rc.Duplicates, rc.Gaps, rc.OutOfOrder, rc.Unacked
	for _, n := range c.nodes {
		rc, err := c.verifyReplica(ctx, n, acked, want)
		if err != nil {
			rc.Err = err.Error()
		}
		c.logf("replica %s: %+v", n.name, rc)
		rep.Replicas = append(rep.Replicas, rc)
		rep.ReplicaLost += rc.AckedLost
		rep.ReplicaGaps += rc.Gaps
	}
	return nil
}

// verifyStream reads the whole stream through an ordered consumer on a
// client of all three nodes and checks every acked message is there, in
// order, once. What is not there within CatchUpWait counts as lost.
func (c *cluster) verifyStream(ctx context.Context, acked map[uint64]uint64, want uint64) (ReplicaCheck, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.CatchUpWait+30*time.Second)
	defer cancel()
	nc, err := connectRetry(ctx, urls(c.nodes...))
	if err != nil {
		return ReplicaCheck{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return ReplicaCheck{}, err
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
			return ReplicaCheck{}, fmt.Errorf("ordered consumer: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t := newTally(acked)
	var lastSeq uint64
	deadline := time.Now().Add(c.o.CatchUpWait)
	for lastSeq < want && ctx.Err() == nil {
		// No more than the stream should have left: a full batch
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
				return t.rc, err
			}
			seq := md.Sequence.Stream
			if seq != lastSeq+1 {
				t.rc.Gaps += int(seq - lastSeq - 1)
			}
			lastSeq = seq
			if len(m.Data()) < 8 {
				return t.rc, fmt.Errorf("seq %d: %d bytes", seq, len(m.Data()))
			}
			t.add(seq, binary.BigEndian.Uint64(m.Data()))
		}
		if got == 0 && time.Now().After(deadline) {
			break // the stream stopped short of want: the rest counts as lost
		}
		if err := batch.Error(); got == 0 && err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() != nil {
			return t.rc, err
		}
	}
	return t.done(), nil
}

// directGetWindow is how many DIRECT.GET requests verifyReplica keeps in
// flight (each answer may be 1 MiB).
const directGetWindow = 16

// directGetStall is how long verifyReplica waits for the next answer.
const directGetStall = 10 * time.Second

// verifyReplica reads sequences 1..want, and on until the first missing
// one, from n's own replica with DIRECT.GET, and checks them. It waits (up
// to CatchUpWait) for n to hold want first.
func (c *cluster) verifyReplica(ctx context.Context, n *node, acked map[uint64]uint64, want uint64) (ReplicaCheck, error) {
	rc := ReplicaCheck{Node: n.name}
	if c.catchUp(ctx, n, want, time.Now()) < 0 {
		c.logf("replica %s does not hold seq %d", n.name, want)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	nc, err := connectRetry(ctx, n.url())
	if err != nil {
		return rc, err
	}
	defer nc.Close()
	inbox := nc.NewInbox()
	answers := make(chan *nats.Msg, directGetWindow)
	sub, err := nc.ChanSubscribe(inbox+".*", answers)
	if err != nil {
		return rc, err
	}
	defer sub.Unsubscribe()
	ask := func(seq uint64) error {
		return nc.PublishRequest("$JS.API.DIRECT.GET.F", inbox+"."+strconv.FormatUint(seq, 10),
			[]byte(`{"seq":`+strconv.FormatUint(seq, 10)+`}`))
	}
	// Fewer than directGetWindow requests are in flight (asked-next+1), so
	// answers never finds its channel full.
	got := make(map[uint64]*nats.Msg) // answers that came ahead of their turn
	t := newTally(acked)
	t.rc.Node = n.name
	next, asked := uint64(1), uint64(0)
	for {
		for asked < next+directGetWindow-1 && (asked < want || asked < next) {
			asked++
			if err := ask(asked); err != nil {
				return t.done(), err
			}
		}
		m, ok := got[next]
		stall := time.NewTimer(directGetStall)
		for !ok {
			select {
			case <-stall.C:
				return t.done(), fmt.Errorf("no DIRECT.GET answer from %s for %v (seq %d)", n.name, directGetStall, next)
			case a := <-answers:
				seq, err := strconv.ParseUint(a.Subject[len(inbox)+1:], 10, 64)
				if err != nil {
					return t.done(), err
				}
				got[seq] = a
				m, ok = got[next]
			case <-ctx.Done():
				return t.done(), fmt.Errorf("direct get seq %d: %w", next, ctx.Err())
			}
		}
		stall.Stop()
		delete(got, next)
		if st := m.Header.Get("Status"); st != "" {
			if st != "404" {
				return t.done(), fmt.Errorf("direct get seq %d: status %s %s", next, st, m.Header.Get("Description"))
			}
			if next > want {
				break // past the last acked message: the end of the stream
			}
			t.rc.Gaps++
		} else {
			if len(m.Data) < 8 {
				return t.done(), fmt.Errorf("seq %d: %d bytes", next, len(m.Data))
			}
			t.add(next, binary.BigEndian.Uint64(m.Data))
		}
		next++
	}
	return t.done(), nil
}

// catchUp waits until n's own replica holds sequence want (a DIRECT.GET
// of it on n answers the message) and returns the time since from; -1 when
// it does not within CatchUpWait.
func (c *cluster) catchUp(ctx context.Context, n *node, want uint64, from time.Time) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, c.o.CatchUpWait)
	defer cancel()
	nc, err := connectRetry(ctx, n.url())
	if err != nil {
		return -1
	}
	defer nc.Close()
	req := []byte(`{"seq":` + strconv.FormatUint(want, 10) + `}`)
	for ctx.Err() == nil {
		// Each try has its own timeout: a request sent as n went down
		// (a later fault may kill it) gets no answer at all.
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		m, err := nc.RequestWithContext(rctx, "$JS.API.DIRECT.GET.F", req)
		cancel()
		if err == nil && m.Header.Get("Status") == "" {
			return time.Since(from)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return -1
}

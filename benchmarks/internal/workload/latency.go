package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tsHeader carries the scheduled send time of a latency message, in
// nanoseconds since the repetition's base instant (same process, so the
// monotonic clock is shared by sender and receiver).
const tsHeader = "Bench-Ts"

// latency publishes to a stream at a fixed offered rate (open loop: message i
// is due at start+i/rate, and its latency counts from that due time, so a
// stalled server cannot hide its backlog) while a pull consumer reads and
// acks concurrently; it records the end-to-end latency of every message.
type latency struct{ c jsClient }

func (w *latency) Name() string { return "latency" }

func (w *latency) Prepare(ctx context.Context, e *Env) error {
	return w.c.open(ctx, e, "latency", "bench.lat.>")
}

func (w *latency) Rep(ctx context.Context, e *Env, rep int) (Sample, error) {
	if err := alive(&w.c.errs, w.c.nc); err != nil {
		return Sample{}, err
	}
	if err := w.c.purge(ctx); err != nil {
		return Sample{}, err
	}
	subj := fmt.Sprintf("bench.lat.%d", rep)
	name := fmt.Sprintf("lat%d", rep)
	cons, err := w.c.js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: subj,
		AckWait:       time.Hour,
	})
	if err != nil {
		return Sample{}, err
	}
	defer func() { _ = w.c.js.DeleteConsumer(context.WithoutCancel(ctx), streamName, name) }()
	it, err := cons.Messages(jetstream.PullMaxMessages(windowMsgs(e, 2, 500)))
	if err != nil {
		return Sample{}, err
	}
	n := int64(e.Count)
	before := w.c.errs.n.Load()
	base := time.Now()
	done := make(chan struct{})
	var got, bad, lastNs atomic.Int64
	lat := make([]time.Duration, 0, n)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for got.Load() < n {
			m, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				w.c.errs.add(err)
				continue
			}
			now := time.Since(base)
			ts, perr := strconv.ParseInt(m.Headers().Get(tsHeader), 10, 64)
			if perr != nil || int64(len(m.Data())) != e.Size {
				bad.Add(1)
			} else {
				lat = append(lat, now-time.Duration(ts))
			}
			if err := m.Ack(); err != nil {
				w.c.errs.add(err)
			}
			lastNs.Store(int64(now))
			e.Done.Store(got.Add(1))
		}
		close(done)
	}()

	fail := newFailure()
	stopPub := make(chan struct{})
	go func() {
		interval := time.Duration(float64(time.Second) / e.LatencyRate)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for i := int64(0); i < n; i++ {
			due := time.Duration(i) * interval
			if d := due - time.Since(base); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-stopPub:
					return
				case <-ctx.Done():
					fail.set(ctx.Err())
					return
				}
			}
			m := &nats.Msg{Subject: subj, Data: e.Payload, Header: nats.Header{}}
			m.Header.Set(tsHeader, strconv.FormatInt(int64(due), 10))
			if _, err := w.c.js.PublishMsgAsync(m, jetstream.WithStallWait(e.Idle)); err != nil {
				fail.set(err)
				return
			}
		}
	}()
	werr := waitFor(ctx, e.Done, n, e.Idle, done, fail.C)
	close(stopPub)
	it.Stop()
	<-recvDone
	k := got.Load()
	if k == 0 {
		if err := fail.get(); err != nil {
			return Sample{}, err
		}
		if f := w.c.errs.first(); f != "" {
			return Sample{}, errors.New(f)
		}
		if werr != nil {
			return Sample{}, werr
		}
	}
	if werr != nil {
		w.c.errs.add(werr)
	}
	if err := fail.get(); err != nil {
		w.c.errs.add(err)
	}
	return Sample{Msgs: k, Bytes: k * e.Size, Elapsed: max(time.Duration(lastNs.Load()), time.Nanosecond), Latency: lat,
		Errors: n - k + bad.Load() + w.c.errs.n.Load() - before, FirstErr: w.c.errs.first()}, nil
}

func (w *latency) Close() { w.c.close() }

package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jsFetch fills the stream once (untimed), then each repetition reads all of
// it back through a new durable pull consumer with Fetch batches, acking
// every message explicitly, as an application would.
type jsFetch struct {
	c      jsClient
	stored int64
}

func (w *jsFetch) Name() string {
	if w.c.replicas > 1 {
		return "r3-fetch"
	}
	return "js-fetch"
}

func (w *jsFetch) Prepare(ctx context.Context, e *Env) error {
	if err := w.c.open(ctx, e, w.Name(), "bench.js.>"); err != nil {
		return err
	}
	n, _, err := w.c.publishAll(ctx, e, "bench.js.fetch", e.Count)
	if err != nil {
		return fmt.Errorf("filling the stream: %w", err)
	}
	w.stored = n
	return nil
}

func (w *jsFetch) Rep(ctx context.Context, e *Env, rep int) (Sample, error) {
	if err := alive(&w.c.errs, w.c.nc); err != nil {
		return Sample{}, err
	}
	name := fmt.Sprintf("fetch%d", rep)
	cons, err := w.c.js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       time.Hour,
		MaxAckPending: 10000,
	})
	if err != nil {
		return Sample{}, err
	}
	defer func() { _ = w.c.js.DeleteConsumer(context.WithoutCancel(ctx), streamName, name) }()
	batch := windowMsgs(e, 1, 500)
	// Long enough for a whole batch to arrive at a slow 20 MiB/s.
	maxWait := 5*time.Second + time.Duration(float64(int64(batch)*e.Size)/(20<<20)*float64(time.Second))
	before := w.c.errs.n.Load()
	var got, bad, fetchErrs int64
	start := time.Now()
	last, lastMove := start, start
	for got < w.stored {
		if ctx.Err() != nil {
			break
		}
		if time.Since(lastMove) > e.Idle {
			w.c.errs.add(fmt.Errorf("fetch stalled at %d/%d messages", got, w.stored))
			break
		}
		b, err := cons.Fetch(min(batch, int(w.stored-got)), jetstream.FetchMaxWait(maxWait))
		if err != nil {
			// Count a failing request once, not once per retry.
			if fetchErrs++; fetchErrs == 1 {
				w.c.errs.add(fmt.Errorf("fetch request: %w", err))
			}
			if w.c.nc.IsClosed() {
				break
			}
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		for m := range b.Messages() {
			if int64(len(m.Data())) != e.Size {
				bad++
			}
			if err := m.Ack(); err != nil {
				w.c.errs.add(err)
			}
			got++
			e.Done.Store(got)
			last = time.Now()
			lastMove = last
		}
		if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			if got == 0 && IsRefusal(err) {
				return Sample{}, err
			}
			w.c.errs.add(err)
		}
	}
	if got == 0 {
		if f := w.c.errs.first(); f != "" {
			return Sample{}, errors.New(f)
		}
		return Sample{}, errors.New("nothing fetched")
	}
	return Sample{Msgs: got, Bytes: got * e.Size, Elapsed: max(last.Sub(start), time.Nanosecond),
		Errors: w.stored - got + bad + w.c.errs.n.Load() - before, FirstErr: w.c.errs.first()}, nil
}

func (w *jsFetch) Close() { w.c.close() }

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout() || err.Error() == "nats: timeout"
}

// pubFetch is one round of the publish+fetch pair per repetition: purge,
// async-publish Count messages, then fetch and ack them all. The profile
// target loops it to keep the server busy for the whole capture window.
type pubFetch struct{ f jsFetch }

func (w *pubFetch) Name() string { return "js-pubfetch" }

func (w *pubFetch) Prepare(ctx context.Context, e *Env) error {
	return w.f.c.open(ctx, e, "js-pubfetch", "bench.js.>")
}

func (w *pubFetch) Rep(ctx context.Context, e *Env, rep int) (Sample, error) {
	if err := w.f.c.purge(ctx); err != nil {
		return Sample{}, err
	}
	start := time.Now()
	n, _, err := w.f.c.publishAll(ctx, e, "bench.js.fetch", e.Count)
	if err != nil {
		return Sample{}, err
	}
	w.f.stored = n
	e.Done.Store(0)
	s, err := w.f.Rep(ctx, e, rep)
	s.Elapsed = time.Since(start)
	return s, err
}

func (w *pubFetch) Close() { w.f.Close() }

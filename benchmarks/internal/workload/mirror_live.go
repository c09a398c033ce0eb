package workload

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jsMirrorLive measures a mirror while its origin is being published to.
// Each repetition purges the origin, creates a mirror of it, waits for the
// mirror to exist, then publishes e.Count messages to the origin at full
// speed (async, the window of outstanding acks) while a goroutine polls the
// mirror's last sequence every 5 ms through stream info. When the last
// publish is acknowledged it notes how far the mirror is behind (messages
// and payload bytes), then times how long the mirror takes to catch up.
// MiB/s is the copy throughput: mirrored payload over the time from the
// first publish to the mirror holding the last message.
type jsMirrorLive struct {
	c jsClient
}

func (w *jsMirrorLive) Name() string { return "mirror-live" }

func (w *jsMirrorLive) Prepare(ctx context.Context, e *Env) error {
	return w.c.open(ctx, e, w.Name(), "bench.js.>")
}

func (w *jsMirrorLive) Rep(ctx context.Context, e *Env, rep int) (Sample, error) {
	if err := alive(&w.c.errs, w.c.nc); err != nil {
		return Sample{}, err
	}
	if err := w.c.purge(ctx); err != nil {
		return Sample{}, err
	}
	info, err := w.c.stream.Info(ctx)
	if err != nil {
		return Sample{}, err
	}
	base := info.State.LastSeq
	name := fmt.Sprintf("LIVE%d", rep+100)
	m, err := w.c.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Storage: jetstream.FileStorage,
		Mirror: &jetstream.StreamSource{Name: streamName}})
	if err != nil {
		return Sample{}, err
	}
	defer func() { _ = w.c.js.DeleteStream(context.WithoutCancel(ctx), name) }()

	// The poller keeps the mirror's last sequence (past base) in mirrored.
	var mirrored atomic.Int64
	pollErr := newFailure()
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			mi, err := m.Info(ctx)
			if err != nil {
				pollErr.set(err)
				return
			}
			if mi.State.LastSeq > base {
				mirrored.Store(int64(mi.State.LastSeq - base))
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-polled }()

	before := w.c.errs.n.Load()
	start := time.Now()
	n, _, err := w.c.publishAll(ctx, e, "bench.js.live", e.Count)
	if err != nil {
		return Sample{}, err
	}
	published := time.Now()
	oi, err := w.c.stream.Info(ctx)
	if err != nil {
		return Sample{}, err
	}
	target := int64(oi.State.LastSeq - base)
	behind := max(target-mirrored.Load(), 0)

	last, lastMove := mirrored.Load(), time.Now()
	for mirrored.Load() < target {
		if err := pollErr.get(); err != nil {
			return Sample{}, err
		}
		if cur := mirrored.Load(); cur != last {
			last, lastMove = cur, time.Now()
			e.Done.Store(cur)
		}
		if time.Since(lastMove) > e.Idle {
			return Sample{}, fmt.Errorf("mirror stalled at %d/%d", last, target)
		}
		select {
		case <-ctx.Done():
			return Sample{}, fmt.Errorf("mirror at %d/%d: %w", mirrored.Load(), target, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	done := time.Now()
	return Sample{Msgs: target, Bytes: target * e.Size, Elapsed: done.Sub(start),
		Errors: int64(e.Count) - n + (w.c.errs.n.Load() - before - w.c.failed.Load()), FirstErr: w.c.errs.first(),
		Lag: &Lag{Msgs: behind, Bytes: behind * e.Size, CatchUp: done.Sub(published)}}, nil
}

func (w *jsMirrorLive) Close() { w.c.close() }

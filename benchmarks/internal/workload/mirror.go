package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jsMirror fills the stream once (untimed), then each repetition creates a
// mirror of it and times the copy: from the mirror's create to its last
// sequence reaching the origin's, polled every 5 ms through stream info
// (the server copies in-process or through its internal consumer, however
// it does it). MiB/s counts the mirrored payload; the mirror is deleted
// after each repetition.
type jsMirror struct {
	c      jsClient
	stored int64
	last   uint64
}

func (w *jsMirror) Name() string { return "mirror" }

func (w *jsMirror) Prepare(ctx context.Context, e *Env) error {
	if err := w.c.open(ctx, e, w.Name(), "bench.js.>"); err != nil {
		return err
	}
	n, _, err := w.c.publishAll(ctx, e, "bench.js.mirror", e.Count)
	if err != nil {
		return fmt.Errorf("filling the stream: %w", err)
	}
	info, err := w.c.stream.Info(ctx)
	if err != nil {
		return err
	}
	w.stored, w.last = n, info.State.LastSeq
	return nil
}

func (w *jsMirror) Rep(ctx context.Context, e *Env, rep int) (Sample, error) {
	if err := alive(&w.c.errs, w.c.nc); err != nil {
		return Sample{}, err
	}
	name := fmt.Sprintf("MIRROR%d", rep)
	start := time.Now()
	m, err := w.c.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Storage: jetstream.FileStorage,
		Mirror: &jetstream.StreamSource{Name: streamName}})
	if err != nil {
		return Sample{}, err
	}
	defer func() { _ = w.c.js.DeleteStream(context.WithoutCancel(ctx), name) }()
	var msgs uint64
	lastMove, lastSeq := start, uint64(0)
	for {
		info, err := m.Info(ctx)
		if err != nil {
			return Sample{}, err
		}
		if info.State.LastSeq != lastSeq {
			lastSeq, lastMove = info.State.LastSeq, time.Now()
			e.Done.Store(int64(info.State.Msgs))
		}
		if lastSeq >= w.last {
			msgs = info.State.Msgs
			break
		}
		if time.Since(lastMove) > e.Idle {
			return Sample{}, fmt.Errorf("mirror stalled at %d/%d", lastSeq, w.last)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return Sample{}, errors.Join(ctx.Err(), fmt.Errorf("mirror at %d/%d", lastSeq, w.last))
		}
	}
	el := time.Since(start)
	return Sample{Msgs: int64(msgs), Bytes: int64(msgs) * e.Size, Elapsed: el,
		Errors: w.stored - int64(msgs), FirstErr: w.c.errs.first()}, nil
}

func (w *jsMirror) Close() { w.c.close() }

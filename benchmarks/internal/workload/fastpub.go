package workload

import (
	"context"
	"time"

	"github.com/synadia-io/orbit.go/jetstreamext"
)

// jsFastPublish is fast-batch publish (ADR-50): one batch per repetition
// into a stream with allow_batched, through orbit.go's FastPublisher (what
// `nats bench js pub fast` runs), from the first Add to the commit's
// PubAck. The flow (messages per flow ack) is the window in messages,
// 1 to 500; two flow windows may be outstanding.
type jsFastPublish struct{ c jsClient }

func (w *jsFastPublish) Name() string {
	if w.c.replicas > 1 {
		return "r3-fastpub"
	}
	return "js-fastpub"
}

func (w *jsFastPublish) Prepare(ctx context.Context, e *Env) error {
	w.c.batched = true
	return w.c.open(ctx, e, w.Name(), "bench.js.>")
}

func (w *jsFastPublish) Rep(ctx context.Context, e *Env, _ int) (Sample, error) {
	if err := alive(&w.c.errs, w.c.nc); err != nil {
		return Sample{}, err
	}
	if err := w.c.purge(ctx); err != nil {
		return Sample{}, err
	}
	before := w.c.errs.n.Load()
	flow := uint16(windowMsgs(e, 1, 500))
	fp, err := jetstreamext.NewFastPublisher(w.c.js, jetstreamext.FastPublishFlowControl{Flow: flow, MaxOutstandingAcks: 2, AckTimeout: e.Idle},
		jetstreamext.WithFastPublisherErrorHandler(func(err error) { w.c.errs.add(err) }))
	if err != nil {
		return Sample{}, err
	}
	const subj = "bench.js.fast"
	start := time.Now()
	for i := 1; i < e.Count; i++ {
		if _, err := fp.Add(subj, e.Payload); err != nil {
			return Sample{}, err
		}
		e.Done.Add(1)
		if ctx.Err() != nil {
			return Sample{}, ctx.Err()
		}
	}
	cctx, cancel := context.WithTimeout(ctx, e.Idle)
	defer cancel()
	ack, err := fp.Commit(cctx, subj, e.Payload)
	if err != nil {
		return Sample{}, err
	}
	e.Done.Add(1)
	el := time.Since(start)
	n := int64(ack.BatchSize)
	return Sample{Msgs: n, Bytes: n * e.Size, Elapsed: max(el, time.Nanosecond),
		Errors: int64(e.Count) - n + (w.c.errs.n.Load() - before), FirstErr: w.c.errs.first()}, nil
}

func (w *jsFastPublish) Close() { w.c.close() }

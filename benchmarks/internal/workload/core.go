package workload

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// corePubSub is core NATS pub→sub: one publisher connection, one subscriber
// connection, publisher paced by a window of undelivered bytes (at least two
// messages) so that a server that cuts slow consumers is measured at its
// sustainable rate rather than at the rate it drops at.
type corePubSub struct {
	errs     errLog
	pub, sub *nats.Conn
}

func (w *corePubSub) Name() string { return "core" }

func (w *corePubSub) Prepare(_ context.Context, e *Env) error {
	var err error
	if w.pub, err = connect(e, "core-pub", &w.errs); err != nil {
		return err
	}
	w.sub, err = connect(e, "core-sub", &w.errs)
	return err
}

func (w *corePubSub) Rep(ctx context.Context, e *Env, rep int) (Sample, error) {
	if err := alive(&w.errs, w.pub, w.sub); err != nil {
		return Sample{}, err
	}
	subj := fmt.Sprintf("bench.core.%d", rep)
	tokens := make(chan struct{}, windowMsgs(e, 2, 100000))
	done := make(chan struct{})
	var got, bad atomic.Int64
	var last atomic.Int64 // unix nanos of the last delivery
	target := int64(e.Count)
	errsBefore := w.errs.n.Load()
	s, err := w.sub.Subscribe(subj, func(m *nats.Msg) {
		if int64(len(m.Data)) != e.Size {
			bad.Add(1)
		}
		select {
		case <-tokens:
		default:
		}
		last.Store(time.Now().UnixNano())
		e.Done.Store(got.Add(1))
		if got.Load() == target {
			close(done)
		}
	})
	if err != nil {
		return Sample{}, err
	}
	defer s.Unsubscribe()
	if err := s.SetPendingLimits(-1, -1); err != nil {
		return Sample{}, err
	}
	if err := w.sub.Flush(); err != nil {
		return Sample{}, err
	}
	start := time.Now()
	fail := newFailure()
	stopPub := make(chan struct{})
	defer close(stopPub)
	go func() {
		for i := 0; i < e.Count; i++ {
			select {
			case tokens <- struct{}{}:
			case <-done:
				return
			case <-stopPub:
				return
			case <-ctx.Done():
				fail.set(ctx.Err())
				return
			}
			if err := w.pub.Publish(subj, e.Payload); err != nil {
				fail.set(err)
				return
			}
		}
		if err := w.pub.Flush(); err != nil {
			fail.set(err)
		}
	}()
	waitErr := waitFor(ctx, e.Done, target, e.Idle, done, fail.C)
	perr := fail.get()
	if perr != nil && got.Load() == 0 {
		return Sample{}, perr
	}
	n := got.Load()
	el := time.Duration(last.Load() - start.UnixNano())
	smp := Sample{Msgs: n, Bytes: n * e.Size, Elapsed: max(el, time.Nanosecond),
		Errors: target - n + bad.Load() + w.errs.n.Load() - errsBefore}
	smp.FirstErr = w.errs.first()
	if waitErr != nil && smp.FirstErr == "" {
		smp.FirstErr = waitErr.Error()
	}
	if perr != nil && smp.FirstErr == "" {
		smp.FirstErr = perr.Error()
	}
	return smp, nil
}

func (w *corePubSub) Close() {
	for _, c := range []*nats.Conn{w.pub, w.sub} {
		if c != nil {
			c.Close()
		}
	}
}

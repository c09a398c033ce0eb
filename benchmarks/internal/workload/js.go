package workload

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamName is the one stream every JetStream workload uses (fresh server
// per point, so there is never a leftover).
const streamName = "BENCH"

// jsClient is a connection with a JetStream context whose async publish
// acknowledgements are counted, shared by the JetStream workloads.
type jsClient struct {
	replicas int    // stream replicas; 0 or 1: R1
	batched  bool   // the stream allows fast batches (allow_batched)
	leader   string // a replicated stream's leader, whose node the client is on
	errs     errLog
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	done     *atomic.Int64 // the point's progress counter (Env.Done)
	acked    atomic.Int64  // async publishes acknowledged in this batch
	failed   atomic.Int64  // async publishes that got an error in this batch
	lastDone atomic.Int64  // unix nanos of the latest ack or error
}

// open connects, creates the stream on subjects with j.replicas copies (R1
// when 0), and sizes the async publish window from e.Window (between 2 and
// 1000 messages). A replicated stream's client then moves to the stream
// leader's node (see toLeader).
func (j *jsClient) open(ctx context.Context, e *Env, name, subjects string) error {
	if err := j.dial(e, e.URL, name); err != nil {
		return err
	}
	cfg := jetstream.StreamConfig{
		Name:      streamName,
		Subjects:  []string{subjects},
		Storage:   jetstream.FileStorage,
		Replicas:  max(j.replicas, 1),
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,

		AllowBatchPublish: j.batched,
	}
	var err error
	j.stream, err = j.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && j.batched {
		j.stream, err = j.js.UpdateStream(ctx, cfg) // a test's shared cluster has BENCH already
	}
	if err != nil || j.replicas <= 1 {
		return err
	}
	return j.toLeader(ctx, e, name)
}

// dial connects to url and makes the JetStream context whose async publish
// acknowledgements are counted.
func (j *jsClient) dial(e *Env, url, name string) error {
	var err error
	ue := *e
	ue.URL = url
	if j.nc, err = connect(&ue, name, &j.errs); err != nil {
		return err
	}
	j.done = e.Done
	j.js, err = jetstream.New(j.nc,
		jetstream.WithPublishAsyncMaxPending(windowMsgs(e, 2, 1000)),
		jetstream.WithPublishAsyncTimeout(e.Idle),
		jetstream.WithDefaultTimeout(e.Idle),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
			j.acked.Add(1)
			j.done.Add(1)
			j.lastDone.Store(time.Now().UnixNano())
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			j.failed.Add(1)
			j.errs.add(err)
			j.done.Add(1)
			j.lastDone.Store(time.Now().UnixNano())
		}),
	)
	return err
}

// publishAll sends n copies of e.Payload to subj with async publish and waits
// for every ack or error. It returns the time from the first send to the last
// ack, or an error when nothing at all was stored (refused, broken, stalled).
func (j *jsClient) publishAll(ctx context.Context, e *Env, subj string, n int) (acked int64, el time.Duration, err error) {
	j.acked.Store(0)
	j.failed.Store(0)
	start := time.Now()
	j.lastDone.Store(start.UnixNano())
	sent := 0
	for ; sent < n; sent++ {
		if _, err := j.js.PublishAsync(subj, e.Payload, jetstream.WithStallWait(e.Idle)); err != nil {
			if sent == 0 || IsRefusal(err) {
				return 0, 0, err
			}
			j.errs.add(err)
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	settled := func() int64 { return j.acked.Load() + j.failed.Load() }
	var progress atomic.Int64
	complete := make(chan struct{})
	go func() {
		defer close(complete)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for settled() < int64(sent) {
			progress.Store(settled())
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			case <-j.js.PublishAsyncComplete():
				progress.Store(settled())
				if settled() >= int64(sent) {
					return
				}
				// Callbacks may trail the completion signal by a moment.
			}
		}
	}()
	werr := waitFor(ctx, &progress, int64(sent), e.Idle, complete)
	acked = j.acked.Load()
	el = time.Duration(j.lastDone.Load() - start.UnixNano())
	if acked == 0 {
		if first := j.errs.first(); first != "" {
			return 0, el, errors.New(first)
		}
		if werr != nil {
			return 0, el, werr
		}
		return 0, el, errors.New("no publish acknowledged")
	}
	if werr != nil {
		j.errs.add(werr)
	}
	return acked, max(el, time.Nanosecond), nil
}

// purge empties the stream between repetitions so the disk does not fill.
func (j *jsClient) purge(ctx context.Context) error {
	if j.stream == nil {
		return nil
	}
	return j.stream.Purge(ctx)
}

func (j *jsClient) close() {
	if j.nc != nil {
		j.nc.Close()
	}
}

// jsPublish is JetStream async publish with a window of outstanding acks.
type jsPublish struct{ c jsClient }

func (w *jsPublish) Name() string {
	if w.c.replicas > 1 {
		return "r3-pub"
	}
	return "js-pub"
}

func (w *jsPublish) Prepare(ctx context.Context, e *Env) error {
	return w.c.open(ctx, e, w.Name(), "bench.js.>")
}

func (w *jsPublish) Rep(ctx context.Context, e *Env, _ int) (Sample, error) {
	if err := alive(&w.c.errs, w.c.nc); err != nil {
		return Sample{}, err
	}
	if err := w.c.purge(ctx); err != nil {
		return Sample{}, err
	}
	before := w.c.errs.n.Load()
	n, el, err := w.c.publishAll(ctx, e, "bench.js.pub", e.Count)
	if err != nil {
		return Sample{}, err
	}
	return Sample{Msgs: n, Bytes: n * e.Size, Elapsed: el,
		Errors: int64(e.Count) - n + (w.c.errs.n.Load() - before - w.c.failed.Load()), FirstErr: w.c.errs.first()}, nil
}

func (w *jsPublish) Close() { w.c.close() }

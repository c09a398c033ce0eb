package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// objStore measures Object Store puts (get=false) or gets (get=true) of
// Size-byte objects with nats.go's own chunking (128 KiB chunks) and digest
// check. For gets the objects are stored once, untimed, in Prepare.
type objStore struct {
	get  bool
	errs errLog
	nc   *nats.Conn
	obs  jetstream.ObjectStore
}

func (w *objStore) Name() string {
	if w.get {
		return "obj-get"
	}
	return "obj-put"
}

func (w *objStore) Prepare(ctx context.Context, e *Env) error {
	var err error
	if w.nc, err = connect(e, w.Name(), &w.errs); err != nil {
		return err
	}
	js, err := jetstream.New(w.nc, jetstream.WithDefaultTimeout(e.Idle))
	if err != nil {
		return err
	}
	w.obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "BENCH", Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	if w.get {
		for i := 0; i < e.Count; i++ {
			if err := w.putRetry(ctx, e, i); err != nil {
				return fmt.Errorf("storing object %d: %w", i, err)
			}
		}
	}
	return nil
}

// putRetry stores object i for the get workload, retrying a few times when
// the server pushes back (nats-server answers 429 "too many requests" once
// its stream ingest queue passes 128 MiB); the timed put never retries.
func (w *objStore) putRetry(ctx context.Context, e *Env, i int) error {
	var err error
	for try := 0; try < 5; try++ {
		if _, err = w.put(ctx, e, i); err == nil || IsRefusal(err) {
			return err
		}
		select {
		case <-time.After(time.Duration(try+1) * 500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (w *objStore) put(ctx context.Context, e *Env, i int) (*jetstream.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, e.Idle)
	defer cancel()
	return w.obs.Put(ctx, jetstream.ObjectMeta{Name: fmt.Sprintf("o%d", i)}, bytes.NewReader(e.Payload))
}

func (w *objStore) Rep(ctx context.Context, e *Env, _ int) (Sample, error) {
	if err := alive(&w.errs, w.nc); err != nil {
		return Sample{}, err
	}
	before := w.errs.n.Load()
	var ok int64
	start := time.Now()
	for i := 0; i < e.Count && ctx.Err() == nil; i++ {
		var err error
		if w.get {
			err = w.getOne(ctx, e, i)
		} else {
			_, err = w.put(ctx, e, i)
		}
		if err != nil {
			if ok == 0 && i == 0 {
				return Sample{}, err
			}
			w.errs.add(err)
			continue
		}
		ok++
		e.Done.Store(ok)
	}
	el := time.Since(start)
	if !w.get {
		// Delete untimed, so repetitions do not fill the disk.
		for i := 0; i < e.Count; i++ {
			_ = w.obs.Delete(context.WithoutCancel(ctx), fmt.Sprintf("o%d", i))
		}
	}
	return Sample{Msgs: ok, Bytes: ok * e.Size, Elapsed: el,
		Errors: int64(e.Count) - ok + w.errs.n.Load() - before, FirstErr: w.errs.first()}, nil
}

func (w *objStore) getOne(ctx context.Context, e *Env, i int) error {
	ctx, cancel := context.WithTimeout(ctx, e.Idle)
	defer cancel()
	r, err := w.obs.Get(ctx, fmt.Sprintf("o%d", i))
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r) // nats.go checks the digest at EOF
	if err != nil {
		return err
	}
	if n != e.Size {
		return errors.New("object size mismatch")
	}
	return nil
}

func (w *objStore) Close() {
	if w.nc != nil {
		w.nc.Close()
	}
}

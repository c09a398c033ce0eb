package jetstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/codec/natsarc"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
	"github.com/klauspost/compress/s2"
)

// Stream snapshots ($JS.API.STREAM.SNAPSHOT.<stream>), as nats-server 2.15
// sends them (see codec/jsapi/snapshot.go for the exchange): the archive is
// NATSARC1 (codec/natsarc) compressed as an s2 stream, sent in chunks of
// chunk_size bytes with at most window_size bytes unacknowledged. The
// archive is written as it is sent: state.json, the durable consumers,
// then every message from the stream's reader (a large payload read one
// stored chunk at a time, its checksum verified, never whole), then the
// end entry. Memory: one chunk, the s2 block and one stored chunk.
// The request's jsck (health check) is accepted and, as in nats-server
// 2.15, adds no pre-scan: every record's checksum is verified as it is
// read, and a failing one ends the snapshot with a 500 status. One
// snapshot of a stream at a time (10064 "snapshot in progress").

// snapshotAckTimeout ends a snapshot whose receiver stopped acknowledging
// (nats-server's 5 s); snapshotInterestWait is how long the first chunk
// waits for the deliver subject to have a subscriber (the CLI subscribes
// after the response; nats-server's 2 s).
const (
	snapshotAckTimeout   = 5 * time.Second
	snapshotInterestWait = 2 * time.Second
	// snapshotReadPiece is how much of a payload is read at a time.
	snapshotReadPiece = 64 << 10
)

// Status headers of the snapshot's last (empty) message.
const (
	snapshotDoneHdr     = "NATS/1.0 204\r\n\r\n"
	snapshotNoFlowHdr   = "NATS/1.0 408 No Flow Response\r\n\r\n"
	snapshotNoInterest  = "NATS/1.0 408 No Interest\r\n\r\n"
	snapshotFailHdrForm = "NATS/1.0 500 %s\r\n\r\n"
)

// errSnapshotNoFlow and errSnapshotNoInterest end a snapshot with a 408.
var (
	errSnapshotNoFlow     = errors.New("no flow response")
	errSnapshotNoInterest = errors.New("no interest")
)

// streamSnapshot answers STREAM.SNAPSHOT.<stream> and starts sending.
func (e *Engine) streamSnapshot(r *apiReq, name string) {
	typ := jsapi.TypeStreamSnapshotResponse
	if len(r.data) == 0 {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeBadRequest))
		return
	}
	var req jsapi.StreamSnapshotRequest
	st := e.streamRequest(r, typ, name, &req, false)
	if st == nil {
		return
	}
	if !subject.ValidPublish([]byte(req.DeliverSubject)) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeSnapshotDeliverSubjInvalid))
		return
	}
	if !st.snapshotting.CompareAndSwap(false, true) {
		e.respondErr(r.reply, typ, jsapi.NewAPIError(jsapi.ErrCodeStreamSnapshot, "snapshot in progress"))
		return
	}
	cfg := st.Config()
	state := st.state()
	state.Lost = nil
	var cons []jsapi.SnapshotConsumer
	if !req.NoConsumers {
		cons = st.cons.Snapshot()
	}
	state.Consumers = len(cons)
	e.respond(r.reply, &jsapi.StreamSnapshotResponse{APIResponse: jsapi.APIResponse{Type: typ}, Config: &cfg, State: &state})
	go func() {
		defer st.snapshotting.Store(false)
		e.sendSnapshot(st, &req, &state, cons)
	}()
}

// sendSnapshot streams the archive to req.DeliverSubject and ends with the
// status message.
func (e *Engine) sendSnapshot(st *stream, req *jsapi.StreamSnapshotRequest, state *jsapi.StreamState, cons []jsapi.SnapshotConsumer) {
	chunk := req.ChunkSize
	if chunk == 0 {
		chunk = jsapi.SnapshotChunkDefault
	}
	window := req.WindowSize
	if window == 0 {
		window = jsapi.SnapshotWindowDefault
	}
	chunk = min(max(chunk, jsapi.SnapshotChunkMin), jsapi.SnapshotChunkMax)
	window = min(max(window, jsapi.SnapshotWindowMin), jsapi.SnapshotWindowMax)
	window = max(window, chunk)
	cw := &chunkSender{e: e, to: []byte(req.DeliverSubject), buf: make([]byte, 0, chunk),
		slots: make(chan struct{}, window/chunk)}
	for range window / chunk {
		cw.slots <- struct{}{}
	}
	cw.ackPrefix = jsapi.SnapshotAckPrefix + st.name + "." + randToken()
	sub, err := e.srv.SubscribeInternalRouted(cw.ackPrefix+".>", func(*broker.InternalMsg) {
		select { // never blocks: one slot comes back per chunk sent
		case cw.slots <- struct{}{}:
		default:
		}
	})
	if err == nil {
		defer e.srv.UnsubscribeInternal(sub)
		err = cw.waitInterest()
	}
	if err == nil {
		err = e.writeArchive(cw, st, state, cons)
	}
	hdr := snapshotDoneHdr
	switch {
	case errors.Is(err, errSnapshotNoFlow):
		hdr = snapshotNoFlowHdr
	case errors.Is(err, errSnapshotNoInterest):
		hdr = snapshotNoInterest
	case err != nil:
		e.log.Error("jetstream: snapshot failed", "stream", st.name, "err", err)
		hdr = fmt.Sprintf(snapshotFailHdrForm, headerSafe(e.publicText(err.Error())))
	}
	e.srv.Deliver(cw.to, nil, []byte(hdr), nil)
}

// writeArchive writes the whole archive through cw.
func (e *Engine) writeArchive(cw *chunkSender, st *stream, state *jsapi.StreamState, cons []jsapi.SnapshotConsumer) error {
	zw := s2.NewWriter(cw, s2.WriterConcurrency(1))
	aw := natsarc.NewWriter(zw)
	now := e.o.Clock.Now().UnixNano()
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	if err := aw.WriteEntry(&natsarc.Header{Name: jsapi.SnapshotStateEntry, Timestamp: now}, b); err != nil {
		return err
	}
	for i := range cons {
		b, err := json.Marshal(&cons[i])
		if err != nil {
			return err
		}
		if err := aw.WriteEntry(&natsarc.Header{Name: jsapi.SnapshotConsumerEntry + cons[i].Config.Name, Timestamp: now}, b); err != nil {
			return err
		}
	}
	rd := st.store.Reader()
	var sm log.StoredMsg
	var small []byte
	piece := make([]byte, snapshotReadPiece)
	for seq := max(state.FirstSeq, 1); seq <= state.LastSeq; seq++ {
		got, err := rd.LoadNext(seq, "", &sm)
		if errors.Is(err, log.ErrNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("message after seq %d: %w", seq, err)
		}
		if got > state.LastSeq {
			break
		}
		seq = got
		h := natsarc.Header{Name: sm.Subject, Timestamp: sm.Time, Sequence: got,
			HeaderSize: int64(len(sm.Hdr)), PayloadSize: sm.Size}
		if err := aw.WriteHeader(&h); err != nil {
			return err
		}
		if _, err := aw.Write(sm.Hdr); err != nil {
			return err
		}
		if sm.Size <= snapshotReadPiece {
			if small, err = sm.ReadPayload(small[:0]); err != nil {
				return err
			}
			if _, err := aw.Write(small); err != nil {
				return err
			}
			continue
		}
		p, err := newStoredPayload(&sm)
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(onlyWriter{aw}, io.NewSectionReader(p, 0, p.Size()), piece)
		if err == nil && n != sm.Size {
			err = fmt.Errorf("seq %d: payload is %d bytes, stored size %d", got, n, sm.Size)
		}
		if err != nil {
			return err
		}
	}
	if err := aw.WriteEnd(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return cw.flush()
}

// onlyWriter hides a writer's ReadFrom so io.CopyBuffer uses the buffer.
type onlyWriter struct{ io.Writer }

// chunkSender is the io.Writer the compressed archive goes to: it sends
// every chunk-size piece to the deliver subject, with an ack subject for
// the receiver, once a slot of the window is free. Used by one goroutine;
// slots is filled by the ack subscription.
type chunkSender struct {
	e         *Engine
	to        []byte
	ackPrefix string
	buf       []byte
	n         int // chunks sent
	slots     chan struct{}
	reply     []byte
}

func (c *chunkSender) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(cap(c.buf)-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// flush sends what is buffered as one chunk, waiting for a window slot.
func (c *chunkSender) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	fired := make(chan struct{})
	t := c.e.o.Clock.AfterFunc(snapshotAckTimeout, func() { close(fired) })
	select {
	case <-c.slots:
		t.Stop()
	case <-fired:
		return errSnapshotNoFlow
	case <-c.e.quit:
		t.Stop()
		return errors.New("server shutting down")
	}
	c.n++
	c.reply = strconv.AppendInt(append(append(c.reply[:0], c.ackPrefix...), '.'), int64(len(c.buf)), 10)
	c.reply = strconv.AppendInt(append(c.reply, '.'), int64(c.n), 10)
	if c.e.srv.Deliver(c.to, c.reply, nil, c.buf) == 0 {
		return errSnapshotNoInterest
	}
	c.buf = c.buf[:0]
	return nil
}

// waitInterest waits up to snapshotInterestWait for a subscriber of the
// deliver subject, here or on a peer.
func (c *chunkSender) waitInterest() error {
	deadline := c.e.o.Clock.Now().Add(snapshotInterestWait)
	for {
		// A subscription on the subject itself (a peer's included), as
		// nats-server asks: a client's wildcard request inbox would take
		// the chunks and drop them before the CLI has subscribed.
		for _, sub := range c.e.srv.Sublist().Match(c.to).Psubs {
			if sub.Subject == string(c.to) {
				return nil
			}
		}
		if !c.e.o.Clock.Now().Before(deadline) {
			return errSnapshotNoInterest
		}
		fired := make(chan struct{})
		t := c.e.o.Clock.AfterFunc(5*time.Millisecond, func() { close(fired) })
		select {
		case <-fired:
		case <-c.e.quit:
			t.Stop()
			return errors.New("server shutting down")
		}
	}
}

// headerSafe keeps s on one header line.
func headerSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// randToken is a unique token for the subjects of one snapshot or restore.
func randToken() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

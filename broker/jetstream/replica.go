package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream/consumer"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// replSpillAt is the size past which a replicated publish's body is spooled
// to a file in the stream's directory instead of memory, so a large message
// costs bounded memory on its way to raft (which reads it back a chunk at a
// time).
const replSpillAt = 1 << 20

// replPublishTimeout bounds one replicated publish, retries included.
const replPublishTimeout = 2 * time.Minute

// openReplicaStream builds a stream over a raft replica's log: the same
// stream type, consumers and reads as R1, with repl owning the log.
func (e *Engine) openReplicaStream(dir string, cfg jsapi.StreamConfig, created time.Time, repl Replica) (*stream, error) {
	l := repl.Log()
	if l == nil {
		return nil, errors.New("jetstream: replica log not open")
	}
	st := &stream{e: e, name: cfg.Name, dir: dir, created: created, repl: repl, log: l}
	st.mu.cfg = cfg
	st.mu.pendingSubj = make(map[string]uint64)
	st.rebuildPublishState()
	set, err := consumer.NewSet(consumer.Env{Server: e.srv, Clock: e.o.Clock, Logger: e.log.With("stream", cfg.Name)},
		st, filepath.Join(dir, consumersDir))
	if err != nil {
		return nil, fmt.Errorf("consumers: %w", err)
	}
	st.cons = set
	return st, nil
}

// clusterInfo is stream info's "cluster": the leader and the other
// replicas by name. Replica progress (lag, last activity) is not tracked:
// every member is reported current.
func (s *stream) clusterInfo() *jsapi.ClusterInfo {
	cs := s.e.cl.Load()
	if cs == nil {
		return nil
	}
	ci := &jsapi.ClusterInfo{RaftGroup: s.name}
	leader, ok := s.repl.Leader()
	if ok {
		ci.Leader = cs.c.NodeName(leader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	vals, err := cs.c.MetaList(ctx, streamKeyPrefix+s.name)
	if err != nil {
		return ci
	}
	for _, v := range vals {
		var d replDef
		if json.Unmarshal(v, &d) != nil || d.Config.Name != s.name {
			continue
		}
		ids := make([]uint64, 0, len(d.Members))
		for id := range d.Members {
			if !ok || id != leader {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			ci.Replicas = append(ci.Replicas, &jsapi.PeerInfo{Name: cs.c.NodeName(id), Current: true, Peer: fmt.Sprint(id)})
		}
	}
	return ci
}

// captureReplicated takes a publish into a replicated stream: the body is
// collected (in memory up to replSpillAt, then in a spool file) on the
// publisher's event loop, and at End a goroutine proposes it through the
// replica, which reads it back a chunk at a time; the PubAck follows the
// quorum's apply. Nats-Msg-Id dedup and Nats-Expected-* checks are not
// applied to replicated streams yet.
func (e *Engine) captureReplicated(st *stream, subject, reply []byte, hdrLen, size int) broker.Capture {
	return &rpub{e: e, st: st, subject: string(subject), reply: append([]byte(nil), reply...), size: size}
}

// rpub is one publish into a replicated stream; its methods run on the
// publisher's event loop in wire order, then End hands it to a goroutine.
type rpub struct {
	e       *Engine
	st      *stream
	subject string
	reply   []byte
	hdr     []byte
	size    int
	mem     []byte
	spool   *os.File
	err     error // a spool write failed: reply an error at End
}

// Headers keeps a copy of the header block.
func (p *rpub) Headers(hdr []byte) { p.hdr = append(p.hdr[:0], hdr...) }

// Write collects one body piece.
func (p *rpub) Write(piece []byte) {
	if p.err != nil {
		return
	}
	if p.spool == nil && len(p.mem)+len(piece) <= replSpillAt {
		p.mem = append(p.mem, piece...)
		return
	}
	if p.spool == nil {
		f, err := os.CreateTemp(p.st.dir, "pub-*.spool")
		if err != nil {
			p.err = err
			return
		}
		p.spool = f
		if _, err := f.Write(p.mem); err != nil {
			p.err = err
			return
		}
		p.mem = nil
	}
	if _, err := p.spool.Write(piece); err != nil {
		p.err = err
	}
}

// End proposes the message on another goroutine and replies there.
func (p *rpub) End() { go p.publish() }

// Abort drops what was collected: nothing is proposed.
func (p *rpub) Abort() { p.cleanup() }

func (p *rpub) cleanup() {
	if p.spool != nil {
		name := p.spool.Name()
		p.spool.Close()
		os.Remove(name)
		p.spool = nil
	}
}

// check runs the header checks a replicated stream supports: the
// expected stream, max_msg_size and the expected last sequence (decided
// at apply time, in raft order). Checks that need the leader's in-flight
// state (Nats-Expected-Last-Subject-Sequence, -Last-Msg-Id, rollups,
// batches) are refused rather than ignored; Nats-Msg-Id is stored but not
// deduplicated.
func (p *rpub) check(m *ReplicaMsg) *jsapi.APIError {
	var h pubHeaders
	if len(p.hdr) > 0 {
		if apiErr := h.parse(p.hdr); apiErr != nil {
			return apiErr
		}
	}
	cfg := p.st.Config()
	switch {
	case h.expStream != "" && h.expStream != p.st.name:
		return jsapi.NewAPIError(jsapi.ErrCodeStreamNotMatch)
	case cfg.MaxMsgSize >= 0 && int64(p.size) > int64(cfg.MaxMsgSize):
		return jsapi.NewAPIError(jsapi.ErrCodeStreamMessageExceedsMaximum)
	case h.hasExpSubjSeq || h.expLastMsgID != "" || h.rollup != "" || h.batch:
		return jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, "header not supported on replicated streams yet")
	}
	m.CheckLastSeq, m.LastSeq = h.hasExpLastSeq, h.expLastSeq
	return nil
}

// publish replicates the message and sends the PubAck or the error.
func (p *rpub) publish() {
	defer p.cleanup()
	if p.err != nil {
		p.e.sendPubAckError(p.reply, p.st, jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, p.err.Error()))
		return
	}
	m := &ReplicaMsg{Subject: p.subject, Hdr: p.hdr}
	if apiErr := p.check(m); apiErr != nil {
		p.e.sendPubAckError(p.reply, p.st, apiErr)
		return
	}
	var body io.Reader = bytes.NewReader(p.mem)
	size := int64(len(p.mem))
	if p.spool != nil {
		off, err := p.spool.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = p.spool.Seek(0, io.SeekStart)
		}
		if err != nil {
			p.e.sendPubAckError(p.reply, p.st, jsapi.NewAPIError(jsapi.ErrCodeStreamStoreFailed, err.Error()))
			return
		}
		body, size = p.spool, off
	}
	ctx, cancel := context.WithTimeout(context.Background(), replPublishTimeout)
	defer cancel()
	m.Body, m.Size = body, size
	seq, err := p.st.repl.Publish(ctx, m)
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			p.e.sendPubAckError(p.reply, p.st, jsapi.NewAPIError(jsapi.ErrCodeClusterNotAvail))
			return
		case errors.Is(err, ErrWrongLastSeq):
			p.e.sendPubAckError(p.reply, p.st, jsapi.NewAPIError(jsapi.ErrCodeStreamWrongLastSequence,
				fmt.Sprint(p.st.log.State().LastSeq)))
			return
		}
		p.e.sendPubAckError(p.reply, p.st, storeError(err))
		return
	}
	p.st.cons.StreamChanged()
	p.e.sendPubAck(p.reply, p.st, seq, false)
}

// logDelete removes seq: through raft on every replica for a replicated
// stream, from the local log for R1.
func (s *stream) logDelete(seq uint64) error {
	if s.repl == nil {
		return s.log.Delete(seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.repl.Delete(ctx, seq)
}

// logPurge purges through raft for a replicated stream, locally for R1.
func (s *stream) logPurge(req log.PurgeRequest) (uint64, error) {
	if s.repl == nil {
		return s.log.Purge(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.repl.Purge(ctx, req)
}

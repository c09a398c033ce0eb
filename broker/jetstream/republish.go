package jetstream

import (
	"reflect"
	"strconv"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// Subject transforms and republish.
//
// A stream's subject_transform rewrites the subject a message is stored
// under as it is captured (publish.go: pub.start); a subject its source
// does not match is stored as published. republish sends each stored
// message whose subject matches its src to dest (mapped as a transform),
// once the message is durable (from the store's done callback, on the
// node that stored it: the leader of a replicated stream), with the
// message's own headers followed by Nats-Stream, Nats-Subject,
// Nats-Sequence, Nats-Time-Stamp and Nats-Last-Sequence (the previous
// message on the same subject, 0 for none), as nats-server writes them;
// headers_only sends no body and adds Nats-Msg-Size. A large body is sent
// from the stored chunks, never read whole. Nobody listening is not an
// error (nats-server's republish is a plain publish).

// republisher is a stream's parsed republish config.
type republisher struct {
	tr          *subject.Transform
	headersOnly bool
}

// setConfigLocked makes cfg the stream's config and builds its transforms
// (cfg passed checkConfig, so they parse). s.mu held.
func (s *stream) setConfigLocked(cfg jsapi.StreamConfig) {
	restart := s.mu.feedsOn && !reflect.DeepEqual(s.mu.cfg.Sources, cfg.Sources)
	s.mu.cfg = cfg
	if restart {
		s.restartFeedsLocked()
	}
	s.mu.xform, s.mu.repub = nil, nil
	if t := cfg.SubjectTransform; t != nil {
		s.mu.xform, _ = subject.NewTransform(t.Source, t.Destination)
	}
	if r := cfg.RePublish; r != nil {
		src := r.Source
		if src == "" {
			src = ">"
		}
		if tr, err := subject.NewTransform(src, r.Destination); err == nil && tr != nil {
			s.mu.repub = &republisher{tr: tr, headersOnly: r.HeadersOnly}
		}
	}
}

// republish sends message seq of st as rp says, if its subject matches.
func (e *Engine) republish(st *stream, rp *republisher, seq uint64) {
	r := st.store.Reader()
	var sm log.StoredMsg
	if err := r.LoadMsg(seq, &sm); err != nil {
		return // removed already (interest retention, a limit)
	}
	to, ok := rp.tr.Match(sm.Subject)
	if !ok || !subject.ValidPublish([]byte(to)) {
		return
	}
	hdr := jsapi.AppendDirectGetHeader(nil, sm.Hdr, st.name, sm.Subject, sm.Seq, time.Unix(0, sm.Time))
	hdr = hdr[:len(hdr)-2]
	hdr = appendHdrUint(hdr, jsapi.HdrLastSequence, r.SeqBefore(sm.Subject, seq))
	if rp.headersOnly {
		hdr = appendHdrUint(hdr, jsapi.HdrMsgSize, uint64(sm.Size))
		e.srv.Deliver([]byte(to), nil, append(hdr, '\r', '\n'), nil)
		return
	}
	e.sendStored([]byte(to), append(hdr, '\r', '\n'), &sm)
}

func appendHdrUint(dst []byte, key string, v uint64) []byte {
	dst = append(dst, key...)
	dst = append(dst, ':', ' ')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '\r', '\n')
}

// sendStored sends stored message sm to subject to with header block hdr:
// a small payload read into memory, a large one from its stored extents
// (an s2-compressed one decoded a chunk at a time as it is sent).
func (e *Engine) sendStored(to, hdr []byte, sm *log.StoredMsg) error {
	if sm.Size <= 64<<10 {
		data, err := sm.ReadPayload(nil)
		if err != nil {
			return err
		}
		e.srv.Deliver(to, nil, hdr, data)
		return nil
	}
	if sm.Compressed {
		p, err := newStoredPayload(sm)
		if err != nil {
			return err
		}
		e.srv.DeliverExtents(to, nil, hdr, nil, []broker.Extent{{R: p, Len: p.Size()}}, int64(len(hdr))+p.Size())
		return nil
	}
	ext := make([]broker.Extent, len(sm.Extents))
	for i, x := range sm.Extents {
		ext[i] = broker.Extent{R: x.R, Off: x.Off, Len: x.Len}
	}
	e.srv.DeliverExtents(to, nil, hdr, nil, ext, int64(len(hdr))+sm.Size)
	return nil
}

package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bargemq/barge/codec"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// Mirrors and sources: streams fed by other streams of this server or
// cluster.
//
// A feed copies one origin stream into its stream: the mirror, or one of
// its sources. It runs as a goroutine of the stream from its open to its
// close, and copies only where the stream is led (always for R1; on the
// raft leader of a replicated stream, checked before every message). It
// reads the origin in-process through its Store's log.Reader (LoadNext on
// the feed's filter) and copies each message through the stream's Store
// as it is stored: the payload read from the origin's extents into one
// reused buffer and written piece by piece, so a large message is never
// held whole (a replicated stream's store spools it as a publish's). At
// most feedInflight copies wait for their durability at once.
//
// A mirror's copy keeps the origin's sequence and timestamp
// (Store.BeginMirror): the mirror's last sequence is its position, durable
// with the messages themselves, on every replica of a replicated mirror.
// A restart, or a new leader, resumes after it; a message copied twice
// (an old leader's proposal applied after the new leader read its log) is
// refused by the log (log.ErrSeqExists) and stored once. Sequences the
// origin removed, or the filter skips, are deleted gaps in the mirror.
//
// A source's copy gets the stream's next sequence and the header
// Nats-Stream-Source: "<origin> <seq> <filters> <destinations> <subject>
// <identity>" as nats-server writes it (feedIndexName, streamIdentity); at
// open the position of each source is read back from the newest message
// carrying its header. An origin deleted and created again has a new
// identity: a source then copies it from its start, as nats-server's does;
// a mirror keeps its sequences and copies the new origin's messages past
// its last one, as nats-server's mirror asks its consumer for. Both
// strip Nats-Expected-* and Nats-Batch-* headers (they were checked on
// the origin) and a source replaces an older Nats-Stream-Source.

// feedInflight bounds the copies of one feed waiting for durability.
const feedInflight = 64

// feedRetry is how long a feed waits before looking again for an origin
// it could not read, or for leadership.
const feedRetry = 500 * time.Millisecond

// feedBuf is the size of a feed's copy buffer.
const feedBuf = 256 << 10

// feed copies one origin into st.
type feed struct {
	e      *Engine
	st     *stream
	src    jsapi.StreamSource
	mirror bool
	iname  string // sources: nats-server's index name (Nats-Stream-Source)
	filter string // LoadNext's filter
	// trs are the transforms (a nil transform keeps the subject) with the
	// filter each applies to; empty: every subject as it is.
	trs    []feedTransform
	cancel context.CancelFunc
	done   chan struct{}
	after  []*feed       // feeds this one replaced: run waits for their end
	slots  chan struct{} // in-flight copies
	buf    []byte
	oid    string // the origin's identity (streamIdentity), set by copyFrom; run's goroutine only
	// posKnown: position ran, so pos is this source's (a replica that never
	// led it has none); savedPos and savedAt: the position last written
	// to the sources file, and when (feed_pos.go). run's goroutine only.
	posKnown bool
	savedPos uint64
	savedAt  time.Time
	// Durable sourcing (feed_durable.go): the consumer's filters (nil:
	// the feed's own), the position last reported to it, and the copies
	// since. run's goroutine only.
	cfilters    []string
	reported    uint64
	sinceReport int

	mu struct {
		sync.Mutex
		pos  uint64    // last origin sequence copied or skipped
		last time.Time // last contact with the origin (zero: none)
		err  *jsapi.APIError
		// failed: a copy failed after its End; the run re-reads its
		// position from the stream once the others drained.
		failed bool
	}
}

type feedTransform struct {
	filter string
	tr     *subject.Transform
}

// startFeeds starts st's mirror or sources (none for another config);
// they copy nothing before every feed of after ended (a config update
// replaces a stream's feeds without waiting for the old ones).
func (e *Engine) startFeeds(st *stream, cfg *jsapi.StreamConfig, after []*feed) []*feed {
	var feeds []*feed
	if cfg.Mirror != nil {
		feeds = append(feeds, newFeed(e, st, cfg.Mirror, true))
	}
	for _, src := range cfg.Sources {
		feeds = append(feeds, newFeed(e, st, src, false))
	}
	for _, f := range feeds {
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel, f.after = cancel, after
		go f.run(ctx)
	}
	return feeds
}

func newFeed(e *Engine, st *stream, src *jsapi.StreamSource, mirror bool) *feed {
	f := &feed{e: e, st: st, src: *src, mirror: mirror, iname: feedIndexName(src), filter: orAll(src.FilterSubject),
		done: make(chan struct{}), slots: make(chan struct{}, feedInflight)}
	for _, t := range src.SubjectTransforms {
		tr, _ := subject.NewTransform(orAll(t.Source), t.Destination) // checked by checkFeeds
		f.trs = append(f.trs, feedTransform{filter: orAll(t.Source), tr: tr})
	}
	if len(f.trs) == 1 {
		f.filter = f.trs[0].filter
	} else if len(f.trs) > 1 {
		f.filter = ">"
	}
	return f
}

// tryLookup is lookup for a feed, which must never wait for Engine.mu:
// a stream is closed, and its feeds stopped, with Engine.mu held. ok is
// false when the lock is busy.
func (e *Engine) tryLookup(name string) (st *stream, ok bool) {
	if !e.mu.TryRLock() {
		return nil, false
	}
	defer e.mu.RUnlock()
	return e.mu.streams[name], true
}

// stop ends the feed and waits for its copies to be decided.
func (f *feed) stop() {
	f.cancel()
	<-f.done
}

// leads reports whether this node acts for the stream on its own: copies
// into it (feeds), expires its messages and fires its schedules. Always
// for R1, on the raft leader for a replicated stream.
func (s *stream) leads() bool {
	if s.repl == nil {
		return true
	}
	cs := s.e.cl.Load()
	if cs == nil {
		return false
	}
	id, ok := s.repl.Leader()
	return ok && id == cs.c.NodeID()
}

func (f *feed) run(ctx context.Context) {
	defer close(f.done)
	for _, p := range f.after {
		<-p.done
	}
	f.after = nil
	for ctx.Err() == nil {
		if !f.st.leads() {
			f.wait(ctx, nil)
			continue
		}
		origin, ok := f.e.tryLookup(f.src.Name)
		if !ok {
			f.wait(ctx, nil) // the registry is busy: maybe stopping this feed
			continue
		}
		if origin == nil {
			f.setErr(jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound))
			f.wait(ctx, nil)
			continue
		}
		err := f.copyFrom(ctx, origin)
		f.drain()
		if err != nil && ctx.Err() == nil {
			if !errors.Is(err, errFeedNotReady) {
				if !errors.Is(err, log.ErrClosed) {
					f.e.log.Warn("jetstream: feed stopped, retrying", "stream", f.st.name, "origin", f.src.Name, "err", err)
				}
				f.setErr(jsapi.NewAPIError(jsapi.ErrCodeStreamGeneral, "origin read failed"))
			}
			f.wait(ctx, nil)
		}
	}
	f.savePos() // drains
	f.reportDurable()
}

// wait returns when ctx ends, ch closes, or feedRetry passes.
func (f *feed) wait(ctx context.Context, ch <-chan struct{}) {
	tick := make(chan struct{})
	t := f.e.o.Clock.AfterFunc(feedRetry, func() { close(tick) })
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-ch:
	case <-tick:
	}
}

// drain waits until every copy in flight was decided.
func (f *feed) drain() {
	for range cap(f.slots) {
		f.slots <- struct{}{}
	}
	for range cap(f.slots) {
		<-f.slots
	}
}

func (f *feed) setErr(err *jsapi.APIError) {
	f.mu.Lock()
	f.mu.err = err
	f.mu.Unlock()
}

// copyFrom copies origin's messages from the feed's position on, until
// ctx ends, leadership moves, the origin closes (a restart or delete of
// it: run looks it up again) or a copy fails.
func (f *feed) copyFrom(ctx context.Context, origin *stream) error {
	r := origin.store.Reader()
	f.oid = origin.identity()
	var floor uint64
	if f.src.Consumer != nil {
		var err error
		if floor, err = f.durableStart(ctx, origin); err != nil {
			return err
		}
	}
	next, err := f.position(r, floor)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.mu.err, f.mu.failed = nil, false
	f.mu.Unlock()
	var sm log.StoredMsg
	for ctx.Err() == nil {
		if !f.st.leads() {
			return nil
		}
		f.mu.Lock()
		failed := f.mu.failed
		f.mu.Unlock()
		if failed {
			return nil // run drains, and the next copyFrom re-reads the position
		}
		changed := r.Changed()
		seq, err := f.loadNext(r, next, &sm)
		if errors.Is(err, log.ErrNotFound) {
			f.caughtUp(r, next)
			f.reportDurable()
			f.maybeSavePos()
			f.wait(ctx, changed)
			continue
		}
		if err != nil {
			return err
		}
		if err := f.copyMsg(ctx, seq, &sm); err != nil {
			return err
		}
		next = seq + 1
		if f.sinceReport++; f.sinceReport >= feedReportEvery {
			f.reportDurable()
		}
	}
	return nil
}

// caughtUp notes that the origin has nothing at or after next for the feed.
func (f *feed) caughtUp(r log.Reader, next uint64) {
	f.mu.Lock()
	f.mu.last = f.e.o.Clock.Now()
	if last := r.State().LastSeq; next > 0 && last >= next-1 {
		f.mu.pos = max(f.mu.pos, last)
	}
	f.mu.Unlock()
}

// position is the first origin sequence the feed reads: after the last
// one the stream holds from it or, when later, after floor (a durable
// feed's consumer's ack floor), else the configured start.
func (f *feed) position(r log.Reader, floor uint64) (uint64, error) {
	own := f.st.store.Reader()
	var after uint64
	if f.mirror {
		after = own.State().LastSeq
	} else {
		var oid string
		var err error
		if after, oid, err = f.sourcedPos(own); err != nil {
			return 0, err
		}
		if after > 0 && oid != "" && oid != f.oid {
			// The origin was deleted and made again since the newest
			// copy: its sequences started again, and so does the source.
			f.e.log.Warn("jetstream: source stream was recreated, sourcing it from its start", "stream", f.st.name, "origin", f.src.Name)
			after = 0
		}
	}
	after = max(after, floor)
	f.mu.Lock()
	f.mu.pos = after
	f.mu.Unlock()
	if !f.posKnown {
		f.posKnown, f.savedPos = true, after
	}
	if after > 0 {
		return after + 1, nil
	}
	switch {
	case f.src.OptStartSeq > 0:
		return f.src.OptStartSeq, nil
	case f.src.OptStartTime != nil:
		return max(r.SeqAtTime(*f.src.OptStartTime), 1), nil
	}
	return 1, nil
}

// sourcedUpTo finds the origin sequence of the newest message in own that
// this source copied (0: none), and the origin identity it carries (""
// for none), from the Nats-Stream-Source headers.
func (f *feed) sourcedUpTo(own log.Reader) (uint64, string, error) {
	st := own.State()
	var sm log.StoredMsg
	for seq := st.LastSeq; seq >= st.FirstSeq && seq > 0; seq-- {
		if err := own.LoadMsg(seq, &sm); err != nil {
			if errors.Is(err, log.ErrDeleted) || errors.Is(err, log.ErrNotFound) || errors.Is(err, log.ErrCorrupt) {
				continue
			}
			return 0, "", err
		}
		if oseq, oid, ok := f.sourceSeqOf(sm.Hdr); ok {
			return oseq, oid, nil
		}
	}
	return 0, "", nil
}

// sourceSeqOf reads the origin sequence and identity of hdr's
// Nats-Stream-Source when this source wrote it.
func (f *feed) sourceSeqOf(hdr []byte) (uint64, string, bool) {
	v, ok := headerValue(hdr, jsapi.HdrStreamSource)
	if !ok {
		return 0, "", false
	}
	fields := strings.Split(v, " ")
	if len(fields) < 5 {
		return 0, "", false
	}
	want := strings.SplitN(f.iname, " ", 3)
	if fields[0] != want[0] || fields[2] != want[1] || fields[3] != want[2] {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(fields[1], 10, 64)
	var oid string
	if len(fields) > 5 {
		oid = fields[5]
	}
	return seq, oid, err == nil
}

// copyMsg copies origin message seq (sm) into the stream.
func (f *feed) copyMsg(ctx context.Context, seq uint64, sm *log.StoredMsg) error {
	subj, ok := f.subjectFor(sm.Subject)
	if !ok {
		f.mu.Lock()
		f.mu.pos = max(f.mu.pos, seq)
		f.mu.Unlock()
		return nil
	}
	hdr := stripHeaders(sm.Hdr, !f.mirror)
	if !f.mirror {
		hdr = jsapi.AppendHeaderField(nil, hdr, jsapi.HdrStreamSource, f.sourceHeader(seq, sm.Subject))
	}
	size := sm.Size
	if !f.mirror && size <= maxCounterBody && f.st.Config().AllowMsgCounter {
		if _, incr := codec.HeaderValue(hdr, jsapi.HdrIncr); incr {
			// A counter stream adds up the origin's totals (counter_source.go).
			body, err := sm.ReadPayload(nil)
			if err != nil {
				return err
			}
			var ok bool
			if hdr, ok = counterCopy(hdr, body); ok {
				size = 0
			}
		}
	}
	var app Appending
	var err error
	if f.mirror {
		app, err = f.st.store.BeginMirror(subj, hdr, sm.Size, seq, sm.Time)
	} else {
		app, err = f.st.store.Begin(subj, hdr, size)
	}
	if err != nil {
		return err
	}
	if err := f.copyBody(app, sm, size); err != nil {
		app.Abort()
		return err
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		app.Abort()
		return ctx.Err()
	}
	_, err = app.End(func(sseq uint64, _ int64, err error) { f.copied(seq, sseq, err) })
	if err != nil {
		<-f.slots
		if storedAlready(err) {
			return nil // an earlier leader's copy
		}
		var ce *log.CheckError
		if errors.As(err, &ce) {
			f.refused(seq, ce)
			return nil
		}
		return err
	}
	return nil
}

// copied is a copy's durability callback (from the store's goroutine):
// origin sequence seq, stored as sseq. A stored copy is republished as a
// published message is (republish.go).
func (f *feed) copied(seq, sseq uint64, err error) {
	defer func() { <-f.slots }()
	if err == nil && sseq != 0 {
		f.st.mu.Lock()
		rp := f.st.mu.repub
		f.st.mu.Unlock()
		if rp != nil {
			f.e.republish(f.st, rp, sseq)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ce *log.CheckError
	switch {
	case err == nil, storedAlready(err):
		f.mu.pos = max(f.mu.pos, seq)
		f.mu.last = f.e.o.Clock.Now()
	case errors.As(err, &ce):
		f.mu.pos = max(f.mu.pos, seq)
		_, _, f.mu.err = refusalAnswer(ce)
	default:
		f.mu.failed = true
		f.mu.err = f.e.storeError(f.st.name, err)
	}
}

// storedAlready reports a copy refused because the stream holds it: a
// mirror's sequence (log.ErrSeqExists), a source's origin sequence
// (rules_source.go).
func storedAlready(err error) bool {
	var ce *log.CheckError
	return errors.Is(err, log.ErrSeqExists) || (errors.As(err, &ce) && ce.Code == checkSourcedAgain)
}

// refused notes a copy the stream's rules refused (a limit of its own):
// it is skipped, as nats-server's mirror skips a message it cannot store.
func (f *feed) refused(seq uint64, ce *log.CheckError) {
	f.mu.Lock()
	f.mu.pos = max(f.mu.pos, seq)
	_, _, f.mu.err = refusalAnswer(ce)
	f.mu.Unlock()
}

// subjectFor maps an origin subject through the feed's transforms; false
// when no filter of the feed matches it.
func (f *feed) subjectFor(subj string) (string, bool) {
	if len(f.trs) == 0 {
		return subj, true
	}
	for _, t := range f.trs {
		if !subject.Matches(t.filter, subj) {
			continue
		}
		if t.tr == nil {
			return subj, true
		}
		if to, ok := t.tr.Match(subj); ok {
			return to, true
		}
		return subj, true
	}
	return "", false
}

// sourceHeader is the Nats-Stream-Source value of origin message seq:
// "<origin> <seq> <filters> <destinations> <subject> <identity>", the
// identity telling a recreated origin's copies from the old one's, as
// nats-server 2.12+ writes it.
func (f *feed) sourceHeader(seq uint64, subj string) string {
	name, rest, _ := strings.Cut(f.iname, " ")
	return name + " " + strconv.FormatUint(seq, 10) + " " + rest + " " + subj + " " + f.oid
}

// copyBody writes sm's payload into app a buffer at a time (nothing when
// size is 0: a counter's copy).
func (f *feed) copyBody(app Appending, sm *log.StoredMsg, size int64) error {
	if size == 0 {
		return nil
	}
	if f.buf == nil {
		f.buf = make([]byte, feedBuf)
	}
	if sm.Compressed {
		p, err := newStoredPayload(sm)
		if err != nil {
			return err
		}
		return copyAt(app, p, 0, p.Size(), f.buf)
	}
	for _, x := range sm.Extents {
		if err := copyAt(app, x.R, x.Off, x.Len, f.buf); err != nil {
			return err
		}
	}
	return nil
}

func copyAt(app Appending, r io.ReaderAt, off, n int64, buf []byte) error {
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		if got, err := r.ReadAt(b, off); got < len(b) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if err := app.Write(b); err != nil {
			return err
		}
		off += int64(len(b))
		n -= int64(len(b))
	}
	return nil
}

// info is the feed's StreamSourceInfo: lag is how many origin messages
// past its position the origin holds (as far as it knows), active the
// time since its last contact with the origin (-1: none yet).
func (f *feed) info() *jsapi.StreamSourceInfo {
	si := &jsapi.StreamSourceInfo{Name: f.src.Name, FilterSubject: f.src.FilterSubject, SubjectTransforms: f.src.SubjectTransforms}
	f.mu.Lock()
	pos, last, err := f.mu.pos, f.mu.last, f.mu.err
	f.mu.Unlock()
	si.Error = err
	if last.IsZero() {
		si.Active = -1
	} else {
		si.Active = max(f.e.o.Clock.Now().Sub(last), 0)
	}
	if f.mirror {
		// The mirror's last sequence is its position on every replica,
		// also one that does not lead it (now or ever).
		pos = max(pos, f.st.store.Reader().State().LastSeq)
	}
	if origin, _ := f.e.tryLookup(f.src.Name); origin != nil {
		if ol := origin.store.Reader().State().LastSeq; ol > pos {
			si.Lag = ol - pos
		}
	}
	return si
}

// identity is nats-server's identity of a stream: a hash of its creation
// time, different for a stream deleted and created again under its name.
func (s *stream) identity() string {
	return streamIdentity(s.created)
}

// streamIdentity hashes a creation time as nats-server does (sha-256 of
// its RFC 3339 text, 8 base-62 digits).
func streamIdentity(created time.Time) string {
	return shortHash(created.UTC().Format(time.RFC3339Nano))
}

// shortHash is nats-server's 8-digit hash of a name (getHash): sha-256,
// each of the first 8 bytes as a base-62 digit.
func shortHash(text string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(text))
	var b [8]byte
	for i := range b {
		b[i] = digits[int(sum[i])%len(digits)]
	}
	return string(b[:])
}

// headerValue is the value of key in the header block hdr.
func headerValue(hdr []byte, key string) (string, bool) {
	v, ok := codec.HeaderValue(hdr, key)
	return string(v), ok
}

// stripHeaders returns hdr less its Nats-Expected-* and Nats-Batch-*
// fields and, with source, its Nats-Stream-Source (hdr itself when it has
// none of them).
func stripHeaders(hdr []byte, source bool) []byte {
	drop := func(line []byte) bool {
		k, _, _ := bytes.Cut(line, []byte(":"))
		key := strings.ToLower(strings.TrimSpace(string(k)))
		return strings.HasPrefix(key, "nats-expected-") || strings.HasPrefix(key, "nats-batch-") ||
			(source && key == "nats-stream-source")
	}
	lines := bytes.Split(hdr, []byte("\r\n"))
	if len(lines) < 2 {
		return hdr
	}
	any := false
	for _, l := range lines[1:] {
		if len(l) > 0 && drop(l) {
			any = true
		}
	}
	if !any {
		return hdr
	}
	out := append([]byte(nil), lines[0]...)
	out = append(out, "\r\n"...)
	for _, l := range lines[1:] {
		if len(l) > 0 && !drop(l) {
			out = append(out, l...)
			out = append(out, "\r\n"...)
		}
	}
	return append(out, "\r\n"...)
}

// fillMirrorDirect sets a new mirror's mirror_direct from its origin's
// allow_direct, as nats-server does, when the origin is known here.
func (e *Engine) fillMirrorDirect(cfg *jsapi.StreamConfig) {
	if cfg.Mirror == nil {
		return
	}
	if origin := e.lookup(cfg.Mirror.Name); origin != nil {
		cfg.MirrorDirect = origin.Config().AllowDirect
	}
}

// directMirrorOf is a stream that answers direct gets for stream name
// when name itself does not (absent here, or without allow_direct): a
// mirror of it with mirror_direct and allow_direct, as nats-server's
// mirrors also listen on their origin's direct get subjects (an unfiltered
// mirror only: it holds every message of the origin). nil: none.
func (e *Engine) directMirrorOf(name string) *stream {
	for _, st := range e.sortedStreams() {
		cfg := st.Config()
		if m := cfg.Mirror; m != nil && m.Name == name && cfg.MirrorDirect && cfg.AllowDirect && m.FilterSubject == "" && len(m.SubjectTransforms) == 0 {
			return st
		}
	}
	return nil
}

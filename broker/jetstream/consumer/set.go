package consumer

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/subject"
)

// Set is the consumers of one stream. See contract.go for the API the
// jetstream package relies on; every method is safe for concurrent use.
//
// Lock order: actMu, then Set.mu, then a consumer's mu; ret is never held
// with either of the last two.
type Set struct {
	env Env
	st  Stream
	dir string // "" when no consumer state is kept on disk
	fs  log.FS // where dir is (Env.FS)
	// store keeps a replicated stream's durables (Env.Store); nil for R1.
	store Store
	// actMu serializes SetActive calls (loading from store takes time and
	// must not hold mu).
	actMu sync.Mutex
	log   *slog.Logger
	name  string // the stream's name

	ackSub, fcSub *broker.Subscription

	retKick chan struct{}
	retStop chan struct{}
	retDone chan struct{}

	// mu guards the consumer map and the cached stream config.
	mu struct {
		sync.Mutex
		consumers map[string]*consumer
		scfg      jsapi.StreamConfig
		closed    bool
		rnd       *rand.Rand // names of ephemerals, flow-control reply ids
		// active: consumers run here. Always true without a store; a
		// replicated stream's set is active only on the stream's leader.
		active bool
	}
	// retPolicy is mu.scfg.Retention, readable without mu: consumers ask
	// for it while holding their own lock, and mu is taken before a
	// consumer's lock (checkWorkQueueLocked), never after.
	retPolicy atomic.Int32
	// ret guards the retention worker's queue.
	ret struct {
		sync.Mutex
		queue []uint64
		all   bool
	}
}

// NewSet returns the consumer set of st. dir is <stream dir>/consumers
// ("" keeps nothing on disk); durable consumers found there are loaded with
// their state and resume delivering. It subscribes to the stream's ack and
// flow-control subjects.
func NewSet(env Env, st Stream, dir string) (*Set, error) {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Clock == nil {
		env.Clock = broker.SystemClock{}
	}
	if env.FS == nil {
		env.FS = log.OSFS{}
	}
	s := &Set{env: env, st: st, dir: dir, fs: env.FS, log: env.Logger, name: st.Name(), store: env.Store,
		retKick: make(chan struct{}, 1), retStop: make(chan struct{}), retDone: make(chan struct{})}
	if s.store != nil {
		s.dir = "" // the store has the durables, the leader runs them
	}
	s.mu.active = s.store == nil
	s.mu.consumers = make(map[string]*consumer)
	s.mu.scfg = st.Config()
	s.retPolicy.Store(int32(s.mu.scfg.Retention))
	now := env.Clock.Now()
	s.mu.rnd = rand.New(rand.NewPCG(uint64(now.UnixNano()), uint64(len(s.name))<<32|0x9e3779b9))
	if err := s.load(); err != nil {
		return nil, err
	}
	var err error
	if s.ackSub, err = env.Server.SubscribeInternal(jsapi.AckPrefix+s.name+".>", "", s.onAck); err != nil {
		return nil, err
	}
	if s.fcSub, err = env.Server.SubscribeInternal(jsapi.FlowControlPrefix+s.name+".>", "", s.onFlowControl); err != nil {
		_ = env.Server.UnsubscribeInternal(s.ackSub)
		return nil, err
	}
	go s.retentionLoop()
	for _, c := range s.mu.consumers {
		c.start()
	}
	return s, nil
}

// load reopens the durable consumers kept in dir.
func (s *Set) load() error {
	if !s.persistent() {
		return nil
	}
	names, err := s.fs.List(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	l := s.st.Reader()
	for _, name := range names {
		dir := filepath.Join(s.dir, name)
		if strings.HasSuffix(name, log.DeletingSuffix) {
			s.fs.RemoveAll(dir) // a delete interrupted by a crash
			continue
		}
		meta, saved, err := readConsumerDir(s.fs, dir)
		if errors.Is(err, syscall.ENOTDIR) {
			continue // a file, not a consumer
		}
		if err != nil {
			s.log.Error("consumer: cannot load", "stream", s.name, "consumer", name, "err", err)
			continue
		}
		c := newConsumer(s, name, meta.Config, meta.Created, true)
		c.mu.Lock()
		c.mu.filters = effectiveFilters(&c.mu.cfg, &s.mu.scfg)
		c.resumeLocked(l, saved)
		c.mu.Unlock()
		s.mu.consumers[c.name] = c
	}
	return nil
}

// persistent reports whether durable consumers are kept on disk.
func (s *Set) persistent() bool {
	return (s.dir != "" || s.store != nil) && s.mu.scfg.Storage == jsapi.FileStorage
}

// Create adds consumer or updates an existing one: CONSUMER.CREATE.<stream>
// [.<name>[.<filter>]] and CONSUMER.DURABLE.CREATE.<stream>.<durable>, with
// subjectName and subjectFilter the tokens from the API subject ("" when
// absent). req is not retained. It returns the consumer's info, or an API
// error with nats-server's code.
func (s *Set) Create(req *jsapi.CreateConsumerRequest, subjectName, subjectFilter string) (*jsapi.ConsumerInfo, *jsapi.APIError) {
	if req == nil {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeConsumerConfigRequired)
	}
	r := *req
	name, aerr := resolveName(&r, s.name, subjectName, subjectFilter)
	if aerr != nil {
		return nil, aerr
	}
	cfg := r.Config
	s.mu.Lock()
	scfg := s.mu.scfg
	s.mu.Unlock()
	applyDefaults(&cfg, &scfg)
	if aerr := checkConfig(&cfg, &scfg); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil, jsapi.NewAPIError(jsapi.ErrCodeStreamNotFound)
	}
	if !s.mu.active {
		s.mu.Unlock()
		return nil, jsapi.NewAPIError(jsapi.ErrCodeClusterNotLeader)
	}
	if c := s.mu.consumers[name]; name != "" && c != nil {
		s.mu.Unlock()
		// As in nats-server, a create or update keeps an existing
		// consumer's pause_until: only CONSUMER.PAUSE changes it.
		c.mu.Lock()
		cfg.PauseUntil = c.mu.cfg.PauseUntil
		c.mu.Unlock()
		ci, aerr := s.update(c, &cfg, r.Action)
		if aerr == nil {
			c.announcePause()
		}
		return ci, aerr
	}
	if r.Action == jsapi.ActionUpdate {
		s.mu.Unlock()
		return nil, jsapi.NewAPIError(jsapi.ErrCodeConsumerDoesNotExist)
	}
	if mc := scfg.MaxConsumers; mc > 0 && len(s.mu.consumers) >= mc {
		s.mu.Unlock()
		return nil, jsapi.NewAPIError(jsapi.ErrCodeMaximumConsumersLimit)
	}
	if aerr := s.checkWorkQueueLocked(&cfg, &scfg, ""); aerr != nil {
		s.mu.Unlock()
		return nil, aerr
	}
	if name == "" {
		name = s.newNameLocked()
		cfg.Name = name
	}
	persist := s.persistent() && cfg.Durable != "" && !cfg.MemoryStorage
	now := s.env.Clock.Now()
	c := newConsumer(s, name, cfg, now, persist)
	c.mu.Lock()
	c.mu.filters = effectiveFilters(&cfg, &scfg)
	c.initPositionLocked(s.st.Reader())
	c.mu.Unlock()
	if persist {
		var err error
		if s.store != nil {
			// A network write: acks (on event loops) must not wait on
			// mu meanwhile. A stream's API requests are served one at
			// a time, so only a leadership change can get in between.
			s.mu.Unlock()
			err = s.saveConfig(c, cfg)
			s.mu.Lock()
			if err == nil && (s.mu.closed || !s.mu.active || s.mu.consumers[name] != nil) {
				err = errors.New("consumer set changed meanwhile")
			}
		} else {
			err = s.saveConfig(c, cfg)
		}
		if err != nil {
			s.mu.Unlock()
			return nil, s.storeFailed(name, err)
		}
		c.mu.Lock()
		c.markDirtyLocked()
		c.mu.Unlock()
	}
	s.mu.consumers[name] = c
	c.start()
	s.mu.Unlock()
	c.announcePause()
	return c.info(), nil
}

// update applies cfg to an existing consumer.
func (s *Set) update(c *consumer, cfg *jsapi.ConsumerConfig, action jsapi.ConsumerAction) (*jsapi.ConsumerInfo, *jsapi.APIError) {
	c.mu.Lock()
	old := c.mu.cfg
	bound := old.DeliverSubject != "" && c.hasInterestLocked()
	c.mu.Unlock()
	same := reflect.DeepEqual(&old, cfg)
	if action == jsapi.ActionCreate && !same {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeConsumerAlreadyExists)
	}
	if same {
		return c.info(), nil
	}
	if aerr := checkUpdate(&old, cfg, bound); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	scfg := s.mu.scfg
	aerr := s.checkWorkQueueLocked(cfg, &scfg, c.name)
	s.mu.Unlock()
	if aerr != nil {
		return nil, aerr
	}
	if c.durable {
		if err := s.saveConfig(c, *cfg); err != nil {
			return nil, s.storeFailed(c.name, err)
		}
	}
	now := s.env.Clock.Now()
	c.mu.Lock()
	c.mu.cfg = *cfg
	c.pauseChangedLocked(now, old.PauseUntil)
	c.priorityChangedLocked(now)
	filters := effectiveFilters(cfg, &scfg)
	if !slices.Equal(filters, c.mu.filters) {
		c.mu.filters = filters
		c.recountLocked(s.st.Reader())
	}
	c.mu.scan = true
	c.mu.Unlock()
	c.wake()
	return c.info(), nil
}

// checkWorkQueueLocked applies workqueue retention's rules to a new or
// updated consumer (self is its name when updating).
func (s *Set) checkWorkQueueLocked(cfg *jsapi.ConsumerConfig, scfg *jsapi.StreamConfig, self string) *jsapi.APIError {
	if scfg.Retention != jsapi.WorkQueuePolicy || cfg.Direct {
		return nil
	}
	if cfg.AckPolicy != jsapi.AckExplicit && cfg.AckPolicy != jsapi.AckFlowControl {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerWQRequiresExplicitAck)
	}
	if cfg.DeliverPolicy != jsapi.DeliverAll {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerWQConsumerNotDeliverAll)
	}
	mine := configFilters(cfg)
	for name, o := range s.mu.consumers {
		if name == self {
			continue
		}
		o.mu.Lock()
		theirs := configFilters(&o.mu.cfg)
		o.mu.Unlock()
		if len(mine) == 0 || len(theirs) == 0 {
			if len(mine) == 0 && len(theirs) == 0 {
				return jsapi.NewAPIError(jsapi.ErrCodeConsumerWQMultipleUnfiltered)
			}
			return jsapi.NewAPIError(jsapi.ErrCodeConsumerWQConsumerNotUnique)
		}
		for _, a := range mine {
			for _, b := range theirs {
				if subject.Overlap(a, b) {
					return jsapi.NewAPIError(jsapi.ErrCodeConsumerWQConsumerNotUnique)
				}
			}
		}
	}
	return nil
}

// newNameLocked draws an unused 8-character name for an ephemeral.
func (s *Set) newNameLocked() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for {
		var b [8]byte
		for i := range b {
			b[i] = alphabet[s.mu.rnd.IntN(len(alphabet))]
		}
		if _, taken := s.mu.consumers[string(b[:])]; !taken {
			return string(b[:])
		}
	}
}

// randUint64 draws from the set's generator.
func (s *Set) randUint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.rnd.Uint64()
}

// retention is the stream's retention policy.
func (s *Set) retention() jsapi.RetentionPolicy {
	return jsapi.RetentionPolicy(s.retPolicy.Load())
}

// lookup returns consumer name, or nil.
func (s *Set) lookup(name []byte) *consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.consumers[string(name)]
}

// snapshotConsumers appends the live consumers to dst.
func (s *Set) snapshotConsumers(dst []*consumer) []*consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.mu.consumers {
		dst = append(dst, c)
	}
	return dst
}

// Info describes consumer name, or ErrCodeConsumerNotFound.
func (s *Set) Info(name string) (*jsapi.ConsumerInfo, *jsapi.APIError) {
	c := s.lookup([]byte(name))
	if c == nil {
		return nil, jsapi.NewAPIError(jsapi.ErrCodeConsumerNotFound)
	}
	return c.info(), nil
}

// Delete removes consumer name and its state on disk; waiting pull
// requests get 409 Consumer Deleted. ErrCodeConsumerNotFound if absent.
func (s *Set) Delete(name string) *jsapi.APIError {
	s.mu.Lock()
	c := s.mu.consumers[name]
	if c != nil {
		delete(s.mu.consumers, name)
	}
	s.mu.Unlock()
	if c == nil {
		return jsapi.NewAPIError(jsapi.ErrCodeConsumerNotFound)
	}
	s.remove(c, true)
	return nil
}

// deleteInactive removes c after its inactive_threshold passed, unless it
// was replaced or removed meanwhile.
func (s *Set) deleteInactive(c *consumer) {
	s.mu.Lock()
	if s.mu.consumers[c.name] != c {
		s.mu.Unlock()
		return
	}
	delete(s.mu.consumers, c.name)
	s.mu.Unlock()
	s.remove(c, true)
}

// remove stops c and drops its files; tell sends 409 Consumer Deleted to
// its waiting pull requests.
func (s *Set) remove(c *consumer, tell bool) {
	c.mu.Lock()
	c.mu.discard = true
	c.mu.Unlock()
	waiting := c.halt(true)
	if tell {
		st := jsapi.AppendConsumerDeleted(nil)
		for _, wr := range waiting {
			s.env.Server.Deliver(wr.reply, nil, st, nil)
		}
	}
	if c.dir != "" {
		if err := log.RemoveDir(s.fs, c.dir); err != nil {
			s.log.Error("consumer: removing state", "stream", s.name, "consumer", c.name, "err", err)
		}
	}
	if s.store != nil && c.durable {
		if err := s.store.Delete(c.name); err != nil {
			s.log.Error("consumer: removing replicated state", "stream", s.name, "consumer", c.name, "err", err)
		}
	}
	s.sweepAll()
}

// Names lists the consumers' names, sorted.
func (s *Set) Names() []string {
	s.mu.Lock()
	names := make([]string, 0, len(s.mu.consumers))
	for n := range s.mu.consumers {
		names = append(names, n)
	}
	s.mu.Unlock()
	slices.Sort(names)
	return names
}

// List describes every consumer, sorted by name.
func (s *Set) List() []*jsapi.ConsumerInfo {
	out := make([]*jsapi.ConsumerInfo, 0)
	for _, n := range s.Names() {
		if in, err := s.Info(n); err == nil {
			out = append(out, in)
		}
	}
	return out
}

// Count is the number of consumers.
func (s *Set) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.consumers)
}

// Next serves a pull request (CONSUMER.MSG.NEXT.<stream>.<name>): messages
// and status replies go to reply. An unknown consumer is answered with 503
// (no responders), as nats-server's missing subscription would be. reply
// and body are only read during the call.
func (s *Set) Next(name string, reply []byte, body []byte) {
	if len(reply) == 0 {
		return
	}
	c := s.lookup([]byte(name))
	if c == nil {
		s.env.Server.Deliver(reply, nil, jsapi.AppendNoResponders(nil), nil)
		return
	}
	c.request(reply, body)
}

// StreamChanged re-reads the stream's config and state: after a purge,
// message delete or config update, consumers drop pending entries below
// the first message, recount num_pending and wake up.
func (s *Set) StreamChanged() {
	scfg := s.st.Config()
	s.mu.Lock()
	s.mu.scfg = scfg
	s.retPolicy.Store(int32(scfg.Retention))
	cs := make([]*consumer, 0, len(s.mu.consumers))
	for _, c := range s.mu.consumers {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	l := s.st.Reader()
	for _, c := range cs {
		first := l.State().FirstSeq
		now := s.env.Clock.Now()
		c.mu.Lock()
		c.mu.filters = effectiveFilters(&c.mu.cfg, &scfg)
		for seq := range c.mu.pending {
			if seq < first {
				delete(c.mu.pending, seq)
			}
		}
		c.pruneMaxedLocked(first)
		if c.mu.sseq < first && len(c.mu.lss) == 0 {
			c.mu.sseq = first
		}
		c.advanceFloorLocked(now.UnixNano())
		c.recountLocked(l)
		c.mu.scan = true
		c.markDirtyLocked()
		c.mu.Unlock()
		c.wake()
	}
	s.sweepAll()
}

// Close stops every consumer and keeps their state on disk (server
// shutdown): the last state of each durable is written before it returns.
func (s *Set) Close() { s.shutdown(false) }

// DeleteAll stops every consumer and removes their state (stream deleted).
func (s *Set) DeleteAll() { s.shutdown(true) }

func (s *Set) shutdown(drop bool) {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return
	}
	s.mu.closed = true
	cs := s.mu.consumers
	s.mu.consumers = make(map[string]*consumer)
	s.mu.Unlock()
	_ = s.env.Server.UnsubscribeInternal(s.ackSub)
	_ = s.env.Server.UnsubscribeInternal(s.fcSub)
	close(s.retStop)
	<-s.retDone
	var wg sync.WaitGroup
	for _, c := range cs {
		if drop {
			c.mu.Lock()
			c.mu.discard = true
			c.mu.Unlock()
		}
		wg.Go(func() {
			w := c.halt(true)
			if drop {
				st := jsapi.AppendConsumerDeleted(nil)
				for _, wr := range w {
					s.env.Server.Deliver(wr.reply, nil, st, nil)
				}
			}
		})
	}
	wg.Wait()
	if drop && s.dir != "" {
		if err := s.fs.RemoveAll(s.dir); err != nil {
			s.log.Error("consumer: removing state", "stream", s.name, "err", err)
		}
	}
}

// onAck routes an ack ($JS.ACK.<stream>.<consumer>...) to its consumer. It
// runs on the acking client's event loop and does not block.
func (s *Set) onAck(m *broker.InternalMsg) {
	r, err := jsapi.ParseAckReply(m.Subject)
	if err != nil || string(r.Stream) != s.name {
		return
	}
	if c := s.lookup(r.Consumer); c != nil {
		c.processAck(&r, m.Data, m.Reply)
	}
}

// onFlowControl routes a flow-control reply ($JS.FC.<stream>.<consumer>.<id>).
func (s *Set) onFlowControl(m *broker.InternalMsg) {
	rest := m.Subject[len(jsapi.FlowControlPrefix):]
	i := bytes.IndexByte(rest, '.')
	if i < 0 || string(rest[:i]) != s.name {
		return
	}
	rest = rest[i+1:]
	j := bytes.IndexByte(rest, '.')
	if j < 0 {
		return
	}
	c := s.lookup(rest[:j])
	switch {
	case c == nil:
	case string(rest[j+1:]) == SourcedID:
		c.sourced(m.Data)
	default:
		c.flowControlReply(string(m.Subject), m.Hdr)
	}
}

// storeFailed logs a consumer's failed config write and returns 10047
// (full disk) or 10104 with the error's reason only: store errors name
// server paths, which clients never see.
func (s *Set) storeFailed(name string, err error) *jsapi.APIError {
	s.log.Error("consumer: storing config failed", "stream", s.st.Name(), "consumer", name, "err", err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return jsapi.NewAPIError(jsapi.ErrCodeStorageResourcesExceeded)
	}
	reason := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Op + ": " + pe.Err.Error()
	}
	return jsapi.NewAPIError(jsapi.ErrCodeConsumerStoreFailed, reason)
}

package broker

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// Subject syntax used by the sublist: tokens separated by '.', none empty;
// a token "*" matches exactly one token and a final token ">" matches one or
// more tokens. Publish subjects are matched literally (a "*" token in a
// published subject is just the text "*").
const (
	tokenSep = '.'
	pwcToken = "*"
	fwcToken = ">"
)

// DefaultSublistCacheSize is the number of literal subjects whose match
// results a Sublist keeps when NewSublist is given 0.
const DefaultSublistCacheSize = 1024

// ErrInvalidSubject is returned by Sublist.Insert and Sublist.Remove for a
// subject with an empty token or a ">" that is not the last token.
var ErrInvalidSubject = errors.New("broker: invalid subject")

// ErrNotFound is returned by Sublist.Remove for a subscription that is not in
// the sublist.
var ErrNotFound = errors.New("broker: subscription not found")

// Subscription is one interest in a subject: a client's SUB, or (later) an
// internal consumer. Subject and Queue are fixed once the subscription has been
// inserted into a Sublist; the sublist keeps the pointer, it does not copy.
type Subscription struct {
	// Subject may contain wildcards.
	Subject string
	// Queue is the queue group name, "" for a plain subscription.
	Queue string

	// client owns the subscription (nil in sublist tests); sid is the
	// client's subscription id as it appears on MSG lines. Both are set
	// before insertion and never change.
	client *client
	sid    []byte
	// acc is the account whose Sublist holds the subscription; set before
	// insertion and never changed.
	acc *Account
	// handler is set instead of client for an internal subscription
	// (SubscribeInternal).
	handler InternalHandler
	// routed marks an internal subscription made by
	// SubscribeInternalRouted: advertised to the cluster's peers and given
	// the messages they route to it.
	routed bool
	// oversize marks one made by SubscribeInternalOversize: told of
	// messages over MaxInternalMsg.
	oversize bool
	// peer is set instead of client for a cluster peer's interest, learned
	// from its RS+; messages for it are forwarded over the route.
	peer *peer
	// permFilter is set when a deny entry of the owner's subscribe
	// permissions overlaps Subject: each delivery is then checked
	// (client.deliverable). Set at SUB and on a permission change.
	permFilter atomic.Bool

	// max is the UNSUB auto-unsubscribe limit (0: none); delivered counts
	// messages handed to the subscription. Publishers on any event loop
	// update delivered, hence the atomics.
	max       atomic.Int64
	delivered atomic.Int64

	// idx is the subscription's position in its node's slice; it is
	// guarded by the owning Sublist's mu.
	idx int
	// imp, on a stream import's internal subscription, is where the
	// import sends messages: one too large for the handler is streamed to
	// the importer's receivers instead (imports_large.go). Set before
	// insertion and never changed.
	imp *streamImport
}

// SublistResult is the set of subscriptions a literal subject matches. A
// result is shared between callers and cached: it is never modified after
// Match returns it, so callers must not modify it either.
type SublistResult struct {
	// Psubs are the plain subscriptions, each to receive the message.
	Psubs []*Subscription
	// Qsubs has one entry per queue group name; exactly one member of each
	// should receive the message. Every group is non-empty.
	Qsubs [][]*Subscription
}

// Empty reports whether the result has no subscription at all.
func (r *SublistResult) Empty() bool { return len(r.Psubs) == 0 && len(r.Qsubs) == 0 }

// emptyResult is returned for subjects that match nothing and cannot be
// cached (invalid literal subjects). It is never modified.
var emptyResult = &SublistResult{}

// Sublist is a trie of subscriptions keyed by subject tokens, with a bounded
// cache of match results per literal subject. It is safe for concurrent use:
// Match takes a read lock (and the write lock briefly to fill the cache),
// Insert and Remove take the write lock.
type Sublist struct {
	mu struct {
		sync.RWMutex
		// root is the first level of the trie.
		root level
		// cache maps a literal subject to its current match result.
		cache map[string]*SublistResult
		// prefixes counts the cached subjects by their first two tokens
		// (cachePrefix), so a wildcard Insert or Remove whose first two
		// tokens are literal, such as a client's new `_INBOX.<id>.*`,
		// skips the cache scan when no cached subject can match it.
		prefixes map[string]int32
		// gen is incremented by every Insert and Remove; a Match that
		// computed a result under the read lock caches it only if gen
		// has not moved since.
		gen uint64
		// count is the number of subscriptions in the trie; inserts and
		// removes count the Inserts and Removes since creation.
		count            int
		inserts, removes uint64
	}
	cacheMax int

	matches   atomic.Uint64
	cacheHits atomic.Uint64
}

// level is one token position in the trie.
type level struct {
	nodes    map[string]*node
	pwc, fwc *node
}

// node holds the subscriptions whose subject ends at this token, and the
// level for the next token.
type node struct {
	next   *level
	psubs  []*Subscription
	queues []queueGroup
}

type queueGroup struct {
	name    string
	members []*Subscription
}

func (n *node) empty() bool {
	return len(n.psubs) == 0 && len(n.queues) == 0 && (n.next == nil || n.next.empty())
}

func (l *level) empty() bool { return len(l.nodes) == 0 && l.pwc == nil && l.fwc == nil }

// NewSublist returns an empty sublist whose cache holds at most cacheSize
// literal subjects (DefaultSublistCacheSize when cacheSize is 0; no cache when
// negative).
func NewSublist(cacheSize int) *Sublist {
	if cacheSize == 0 {
		cacheSize = DefaultSublistCacheSize
	}
	s := &Sublist{cacheMax: cacheSize}
	if cacheSize > 0 {
		s.mu.cache = make(map[string]*SublistResult, cacheSize)
		s.mu.prefixes = make(map[string]int32)
	}
	return s
}

// Insert adds sub under sub.Subject (and sub.Queue). It returns
// ErrInvalidSubject for a malformed subject. The sublist keeps sub until
// Remove; inserting the same pointer twice is a caller error.
func (s *Sublist) Insert(sub *Subscription) error {
	var buf [16]string
	toks, ok := splitPattern(sub.Subject, buf[:0])
	if !ok {
		return ErrInvalidSubject
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &s.mu.root
	var n *node
	for i, t := range toks {
		if i > 0 {
			if n.next == nil {
				n.next = &level{}
			}
			l = n.next
		}
		n = l.child(t)
	}
	if sub.Queue == "" {
		sub.idx = len(n.psubs)
		n.psubs = append(n.psubs, sub)
	} else {
		g := n.group(sub.Queue)
		if g == nil {
			n.queues = append(n.queues, queueGroup{name: sub.Queue})
			g = &n.queues[len(n.queues)-1]
		}
		sub.idx = len(g.members)
		g.members = append(g.members, sub)
	}
	s.mu.count++
	s.mu.inserts++
	s.invalidateLocked(sub.Subject, toks)
	return nil
}

// Remove deletes sub, which must have been inserted with the same Subject and
// Queue. It returns ErrInvalidSubject or ErrNotFound; removing twice returns
// ErrNotFound.
func (s *Sublist) Remove(sub *Subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(sub)
}

// RemoveBatch removes every subscription in subs under one lock acquisition,
// ignoring those not present. It is meant for a closing client.
func (s *Sublist) RemoveBatch(subs []*Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range subs {
		_ = s.removeLocked(sub)
	}
}

func (s *Sublist) removeLocked(sub *Subscription) error {
	var buf [16]string
	toks, ok := splitPattern(sub.Subject, buf[:0])
	if !ok {
		return ErrInvalidSubject
	}
	// Walk down remembering the path so empty nodes can be pruned.
	var pathBuf [16]pathStep
	path := pathBuf[:0]
	l := &s.mu.root
	var n *node
	for i, t := range toks {
		if i > 0 {
			if n.next == nil {
				return ErrNotFound
			}
			l = n.next
		}
		n = l.lookup(t)
		if n == nil {
			return ErrNotFound
		}
		path = append(path, pathStep{l: l, tok: t})
	}
	if !n.removeSub(sub) {
		return ErrNotFound
	}
	s.mu.count--
	s.mu.removes++
	// Prune from the leaf upwards while nodes are empty.
	for i := len(path) - 1; i >= 0; i-- {
		st := path[i]
		child := st.l.lookup(st.tok)
		if child == nil || !child.empty() {
			break
		}
		st.l.drop(st.tok)
		if i > 0 {
			parent := path[i-1].l.lookup(path[i-1].tok)
			if parent != nil && parent.next != nil && parent.next.empty() {
				parent.next = nil
			}
		}
	}
	s.invalidateLocked(sub.Subject, toks)
	return nil
}

type pathStep struct {
	l   *level
	tok string
}

// removeSub takes sub out of n using its recorded index (swap with the last
// element). It reports whether sub was there.
func (n *node) removeSub(sub *Subscription) bool {
	if sub.Queue == "" {
		return swapRemove(&n.psubs, sub)
	}
	for i := range n.queues {
		g := &n.queues[i]
		if g.name != sub.Queue {
			continue
		}
		if !swapRemove(&g.members, sub) {
			return false
		}
		if len(g.members) == 0 {
			last := len(n.queues) - 1
			n.queues[i] = n.queues[last]
			n.queues[last] = queueGroup{}
			n.queues = n.queues[:last]
		}
		return true
	}
	return false
}

func swapRemove(list *[]*Subscription, sub *Subscription) bool {
	l := *list
	i := sub.idx
	if i < 0 || i >= len(l) || l[i] != sub {
		return false
	}
	last := len(l) - 1
	l[i] = l[last]
	l[i].idx = i
	l[last] = nil
	*list = l[:last]
	sub.idx = -1
	return true
}

func (n *node) group(name string) *queueGroup {
	for i := range n.queues {
		if n.queues[i].name == name {
			return &n.queues[i]
		}
	}
	return nil
}

// child returns the node for token t, creating it.
func (l *level) child(t string) *node {
	switch t {
	case pwcToken:
		if l.pwc == nil {
			l.pwc = &node{}
		}
		return l.pwc
	case fwcToken:
		if l.fwc == nil {
			l.fwc = &node{}
		}
		return l.fwc
	}
	if l.nodes == nil {
		l.nodes = make(map[string]*node)
	}
	n := l.nodes[t]
	if n == nil {
		n = &node{}
		l.nodes[t] = n
	}
	return n
}

func (l *level) lookup(t string) *node {
	switch t {
	case pwcToken:
		return l.pwc
	case fwcToken:
		return l.fwc
	}
	return l.nodes[t]
}

func (l *level) drop(t string) {
	switch t {
	case pwcToken:
		l.pwc = nil
	case fwcToken:
		l.fwc = nil
	default:
		delete(l.nodes, t)
	}
}

// Match returns the subscriptions interested in the literal subject. The
// subject is not retained. The result is shared and must not be modified. A
// subject already in the cache costs a map lookup under the read lock and
// allocates nothing. An invalid literal subject (empty token) matches nothing.
func (s *Sublist) Match(subject []byte) *SublistResult { return s.match(subject, true) }

// MatchOnce is Match for a subject that is used once, such as the unique
// reply inbox of a PubAck: a cached result is used, but a miss is not added
// to the cache, where it would only evict subjects that recur (every nats.go
// async publish has its own inbox, and inserting them made the cache evict
// on every few hundred PubAcks). The result is shared and must not be
// modified.
func (s *Sublist) MatchOnce(subject []byte) *SublistResult { return s.match(subject, false) }

// MatchSubject is Match, or MatchOnce for a subject that OneOffSubject
// says will not recur.
func (s *Sublist) MatchSubject(subject []byte) *SublistResult {
	return s.match(subject, !OneOffSubject(subject))
}

// OneOffSubject reports whether a published subject is one that is, by its
// protocol, used once: a JetStream ack subject (each names its delivery)
// or a reply inbox (each request has its own). Caching their matches would
// only evict the subjects that recur: a fetch at 1 KiB acks tens of
// thousands of messages a second.
func OneOffSubject(subject []byte) bool {
	return hasPrefix(subject, "$JS.ACK.") || hasPrefix(subject, "_INBOX.")
}

// match looks subject up, adding a miss to the cache when store is set.
func (s *Sublist) match(subject []byte, store bool) *SublistResult {
	s.matches.Add(1)
	s.mu.RLock()
	if r, ok := s.mu.cache[string(subject)]; ok {
		s.mu.RUnlock()
		s.cacheHits.Add(1)
		return r
	}
	var buf [16][]byte
	toks, ok := splitLiteral(subject, buf[:0])
	if !ok {
		s.mu.RUnlock()
		return emptyResult
	}
	r := &SublistResult{}
	s.mu.root.collect(toks, r)
	gen := s.mu.gen
	s.mu.RUnlock()

	if s.cacheMax <= 0 || !store {
		return r
	}
	s.mu.Lock()
	if s.mu.gen == gen {
		if len(s.mu.cache) >= s.cacheMax {
			s.shrinkCacheLocked()
		}
		k := string(subject)
		if _, dup := s.mu.cache[k]; !dup {
			s.mu.prefixes[cachePrefix(k)]++
		}
		s.mu.cache[k] = r
	}
	s.mu.Unlock()
	return r
}

// shrinkCacheLocked evicts about a quarter of the cache, chosen by map
// iteration order (effectively random).
func (s *Sublist) shrinkCacheLocked() {
	drop := len(s.mu.cache) - s.cacheMax*3/4
	for k := range s.mu.cache {
		if drop <= 0 {
			break
		}
		s.uncacheLocked(k)
		drop--
	}
}

// invalidateLocked drops cached results that subject (possibly a wildcard
// pattern, already split into toks) matches, and bumps gen.
func (s *Sublist) invalidateLocked(subject string, toks []string) {
	s.mu.gen++
	if len(s.mu.cache) == 0 {
		return
	}
	literal := true
	for _, t := range toks {
		if t == pwcToken || t == fwcToken {
			literal = false
			break
		}
	}
	if literal {
		if _, ok := s.mu.cache[subject]; ok {
			s.uncacheLocked(subject)
		}
		return
	}
	if len(toks) > 2 && toks[0] != pwcToken && toks[0] != fwcToken && toks[1] != pwcToken && toks[1] != fwcToken {
		// Only subjects with the same first two tokens can match.
		if s.mu.prefixes[subject[:len(toks[0])+1+len(toks[1])]] == 0 {
			return
		}
	}
	for k := range s.mu.cache {
		if patternMatches(toks, k) {
			s.uncacheLocked(k)
		}
	}
}

// uncacheLocked drops the cached subject k, which is in the cache.
func (s *Sublist) uncacheLocked(k string) {
	delete(s.mu.cache, k)
	p := cachePrefix(k)
	if n := s.mu.prefixes[p] - 1; n > 0 {
		s.mu.prefixes[p] = n
	} else {
		delete(s.mu.prefixes, p)
	}
}

// cachePrefix is subject up to its second token's end: the key
// Sublist.prefixes counts it under.
func cachePrefix(subject string) string {
	i := strings.IndexByte(subject, tokenSep)
	if i < 0 {
		return subject
	}
	if j := strings.IndexByte(subject[i+1:], tokenSep); j >= 0 {
		return subject[:i+1+j]
	}
	return subject
}

// collect adds to r every subscription in l and below that matches toks.
func (l *level) collect(toks [][]byte, r *SublistResult) {
	if l == nil || len(toks) == 0 {
		return
	}
	if l.fwc != nil {
		r.add(l.fwc)
	}
	rest := toks[1:]
	if n := l.nodes[string(toks[0])]; n != nil {
		n.visit(rest, r)
	}
	if l.pwc != nil {
		l.pwc.visit(rest, r)
	}
}

// visit adds n's subscriptions when the subject ends here, or descends.
func (n *node) visit(rest [][]byte, r *SublistResult) {
	if len(rest) == 0 {
		r.add(n)
		return
	}
	n.next.collect(rest, r)
}

// add appends n's subscriptions to r, merging queue groups by name.
func (r *SublistResult) add(n *node) {
	r.Psubs = append(r.Psubs, n.psubs...)
	for _, g := range n.queues {
		merged := false
		for i, have := range r.Qsubs {
			if have[0].Queue == g.name {
				r.Qsubs[i] = append(have, g.members...)
				merged = true
				break
			}
		}
		if !merged {
			r.Qsubs = append(r.Qsubs, append([]*Subscription(nil), g.members...))
		}
	}
}

// Count returns the number of subscriptions in the sublist.
func (s *Sublist) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.count
}

// CacheLen returns the number of literal subjects currently cached.
func (s *Sublist) CacheLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.mu.cache)
}

// SublistStats are counters of a Sublist since creation, and the fanout
// of the match results cached now (subscriptions plus queue groups each
// reaches), as nats-server computes them for /subsz.
type SublistStats struct {
	Subscriptions int    `json:"num_subscriptions"`
	Cache         int    `json:"num_cache"`
	Inserts       uint64 `json:"num_inserts"`
	Removes       uint64 `json:"num_removes"`
	Matches       uint64 `json:"num_matches"`
	CacheHits     uint64 `json:"num_hits"`
	MaxFanout     int    `json:"max_fanout"`
	TotalFanout   int    `json:"total_fanout"`
}

// Stats returns the sublist's counters.
func (s *Sublist) Stats() SublistStats {
	s.mu.RLock()
	st := SublistStats{Subscriptions: s.mu.count, Cache: len(s.mu.cache),
		Inserts: s.mu.inserts, Removes: s.mu.removes}
	for _, r := range s.mu.cache {
		n := len(r.Psubs) + len(r.Qsubs)
		st.TotalFanout += n
		st.MaxFanout = max(st.MaxFanout, n)
	}
	s.mu.RUnlock()
	st.Matches = s.matches.Load()
	st.CacheHits = s.cacheHits.Load()
	return st
}

// splitPattern splits a subscription subject into tokens, appending to dst.
// It reports false for an empty subject, an empty token, or a ">" token that
// is not last. Wildcard characters inside a longer token are literal.
func splitPattern(subject string, dst []string) ([]string, bool) {
	if subject == "" {
		return dst, false
	}
	start := 0
	for i := 0; i <= len(subject); i++ {
		if i < len(subject) && subject[i] != tokenSep {
			continue
		}
		if i == start {
			return dst, false
		}
		dst = append(dst, subject[start:i])
		start = i + 1
	}
	for i, t := range dst {
		if t == fwcToken && i != len(dst)-1 {
			return dst, false
		}
	}
	return dst, true
}

// splitLiteral splits a published subject into tokens, appending to dst; it
// reports false for an empty subject or an empty token.
func splitLiteral(subject []byte, dst [][]byte) ([][]byte, bool) {
	if len(subject) == 0 {
		return dst, false
	}
	start := 0
	for i := 0; i <= len(subject); i++ {
		if i < len(subject) && subject[i] != tokenSep {
			continue
		}
		if i == start {
			return dst, false
		}
		dst = append(dst, subject[start:i])
		start = i + 1
	}
	return dst, true
}

// patternMatches reports whether the literal subject matches the pattern
// already split into tokens.
func patternMatches(pattern []string, subject string) bool {
	pos := 0
	for i, p := range pattern {
		if pos > len(subject) {
			return false
		}
		end := pos
		for end < len(subject) && subject[end] != tokenSep {
			end++
		}
		tok := subject[pos:end]
		switch p {
		case fwcToken:
			return len(tok) > 0
		case pwcToken:
			if len(tok) == 0 {
				return false
			}
		default:
			if tok != p {
				return false
			}
		}
		pos = end + 1
		if i == len(pattern)-1 {
			return end == len(subject)
		}
	}
	return false
}

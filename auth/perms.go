package auth

import (
	"fmt"
	"strings"
	"time"

	"github.com/bargemq/barge/subject"
)

// Defaults of allow_responses, nats-server's: one response per request,
// within two minutes.
const (
	DefaultResponseMax     = 1
	DefaultResponseExpires = 2 * time.Minute
)

// Permissions is a user's publish and subscribe permissions as a
// configuration states them (nats-server's `permissions` block and a user
// JWT's pub/sub/resp). A nil *Permissions restricts nothing.
type Permissions struct {
	Publish   *SubjectPermission `json:"publish,omitempty"`
	Subscribe *SubjectPermission `json:"subscribe,omitempty"`
	// Response, when set, lets the user publish to the reply subject of a
	// message it received even where Publish does not allow it
	// (allow_responses), and makes Publish deny everything it does not
	// allow.
	Response *ResponsePermission `json:"responses,omitempty"`
}

// SubjectPermission lists allowed and denied subjects (wildcards allowed).
// A subscribe entry may be "subject queue": it then concerns queue
// subscriptions in that group (the queue name may have wildcards).
type SubjectPermission struct {
	// Allow nil allows everything not denied. For publish, a non-nil
	// empty Allow allows nothing (what allow_responses sets); for
	// subscribe, an empty one allows everything, as in nats-server.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// ResponsePermission is allow_responses: how many responses a user may
// publish to one received reply subject (MaxMsgs; negative: any number)
// and for how long after it received the request (Expires; negative: no
// limit).
type ResponsePermission struct {
	MaxMsgs int           `json:"max"`
	Expires time.Duration `json:"ttl"`
}

// entry is one compiled permission: a subject filter and, for a queue
// entry, the queue group filter.
type entry struct {
	subject string
	queue   string // "" for a plain entry
}

// Perms is a compiled Permissions. It is immutable and safe for
// concurrent use; it keeps no cache (a connection caches what it asks,
// see broker). The zero value is not useful: use Compile.
type Perms struct {
	// src is what was compiled (Source), never modified.
	src         *Permissions
	pubAllow    []entry
	pubAllowSet bool // pubAllow applies even when empty
	pubDeny     []entry
	subAllow    []entry
	subDeny     []entry
	resp        *ResponsePermission
}

// Compile checks p's subjects and compiles it; nil p gives nil (nothing
// restricted). The response permission's zero fields take their defaults.
func Compile(p *Permissions) (*Perms, error) {
	if p == nil {
		return nil, nil
	}
	c := &Perms{src: p}
	var err error
	if p.Publish != nil {
		if c.pubAllow, err = compileList(p.Publish.Allow, false); err != nil {
			return nil, fmt.Errorf("publish allow: %w", err)
		}
		if c.pubDeny, err = compileList(p.Publish.Deny, false); err != nil {
			return nil, fmt.Errorf("publish deny: %w", err)
		}
		c.pubAllowSet = p.Publish.Allow != nil
	}
	if p.Subscribe != nil {
		if c.subAllow, err = compileList(p.Subscribe.Allow, true); err != nil {
			return nil, fmt.Errorf("subscribe allow: %w", err)
		}
		if c.subDeny, err = compileList(p.Subscribe.Deny, true); err != nil {
			return nil, fmt.Errorf("subscribe deny: %w", err)
		}
	}
	if p.Response != nil {
		r := *p.Response
		if r.MaxMsgs == 0 {
			r.MaxMsgs = DefaultResponseMax
		}
		if r.Expires == 0 {
			r.Expires = DefaultResponseExpires
		}
		c.resp = &r
		c.pubAllowSet = true
	}
	return c, nil
}

// CheckSubjects reports the first invalid subject of p, as Compile does.
func CheckSubjects(p *Permissions) error {
	_, err := Compile(p)
	return err
}

func compileList(list []string, queues bool) ([]entry, error) {
	out := make([]entry, 0, len(list))
	for _, s := range list {
		e, err := parseEntry(s, queues)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// parseEntry reads "subject" or, where queues are allowed, "subject queue",
// with nats-server's error texts.
func parseEntry(s string, queues bool) (entry, error) {
	if validFilter(s) {
		return entry{subject: s}, nil
	}
	f := strings.Fields(s)
	if !queues || len(f) != 2 {
		return entry{}, fmt.Errorf("subject %q is not a valid subject", s)
	}
	if !validFilter(f[0]) {
		return entry{}, fmt.Errorf("subject %q is not a valid subject", f[0])
	}
	if !validFilter(f[1]) {
		return entry{}, fmt.Errorf("queue %q is not a valid queue", f[1])
	}
	return entry{subject: f[0], queue: f[1]}, nil
}

func validFilter(s string) bool { return subject.ValidSubscribe([]byte(s)) }

// Source returns the Permissions p was compiled from (not to be
// modified), for passing them on: Compile(p.Source()) is p again.
func (p *Perms) Source() *Permissions { return p.src }

// Response is the allow_responses setting, nil when off.
func (p *Perms) Response() *ResponsePermission { return p.resp }

// HasPublish reports whether publishing is restricted at all.
func (p *Perms) HasPublish() bool { return p.pubAllowSet || len(p.pubDeny) > 0 }

// PubAllowed reports whether publishing to the literal subject subj is
// allowed: it matches an allow entry (or no allow list is set) and no deny
// entry. Deny wins over allow. Reply subjects allowed by allow_responses
// are the caller's business.
func (p *Perms) PubAllowed(subj string) bool {
	if p.pubAllowSet || len(p.pubAllow) > 0 {
		ok := false
		for _, e := range p.pubAllow {
			if subject.Matches(e.subject, subj) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, e := range p.pubDeny {
		if subject.Matches(e.subject, subj) {
			return false
		}
	}
	return true
}

// SubAllowed reports whether SUB subj [queue] is allowed, with
// nats-server's rules for queue entries:
//
//	allow ["foo"]          foo, and foo in any queue group
//	allow ["foo v1"]       foo in queue group v1 only, no plain SUB foo
//	allow ["foo", "foo v1"] plain foo, and foo in group v1 only
//
// A wildcard subj is allowed only when an allow entry covers every
// subject it matches (nats-server compares tokens literally, so that
// allow "foo.*" lets SUB foo.> through; barge does not). A deny entry that
// covers subj refuses it; one that only overlaps it lets it through and
// DeliveryDenied filters the messages it covers (NeedsFilter).
func (p *Perms) SubAllowed(subj, queue string) bool {
	if len(p.subAllow) > 0 {
		plain, queued, queueOK := false, false, false
		for _, e := range p.subAllow {
			if !subject.IsSubset(subj, e.subject) {
				continue
			}
			if e.queue == "" {
				plain = true
				continue
			}
			queued = true
			if queue != "" && queueMatches(queue, e.queue) {
				queueOK = true
			}
		}
		switch {
		case queue != "" && queued:
			if !queueOK {
				return false
			}
		case !plain:
			return false
		}
	}
	for _, e := range p.subDeny {
		if !subject.IsSubset(subj, e.subject) {
			continue
		}
		if e.queue == "" || (queue != "" && queueMatches(queue, e.queue)) {
			return false
		}
	}
	return true
}

// NeedsFilter reports whether an allowed SUB subj [queue] may still be
// sent messages that a deny entry covers, so each delivery to it must be
// checked with DeliveryDenied.
func (p *Perms) NeedsFilter(subj, queue string) bool {
	for _, e := range p.subDeny {
		if e.queue != "" && queue == "" {
			continue
		}
		if subject.Overlap(subj, e.subject) {
			return true
		}
	}
	return false
}

// DeliveryDenied reports whether a message on the literal subject subj
// may not be delivered to a subscription in queue group queue ("" for
// none): a deny entry covers it.
func (p *Perms) DeliveryDenied(subj, queue string) bool {
	for _, e := range p.subDeny {
		if !subject.Matches(e.subject, subj) {
			continue
		}
		if e.queue == "" || (queue != "" && queueMatches(queue, e.queue)) {
			return true
		}
	}
	return false
}

// MayRead reports whether the user may read the messages of filter (a
// literal subject or a wildcard filter) through JetStream: consumers,
// fetches, direct and message gets. It is SubAllowed for a plain
// subscription, stricter on deny: no plain deny entry may even overlap
// filter, since a stored message is handed over whole, not filtered per
// subscription. Queue entries grant nothing here.
func (p *Perms) MayRead(filter string) bool {
	if len(p.subAllow) > 0 {
		ok := false
		for _, e := range p.subAllow {
			if e.queue == "" && subject.IsSubset(filter, e.subject) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, e := range p.subDeny {
		if e.queue == "" && subject.Overlap(filter, e.subject) {
			return false
		}
	}
	return true
}

// queueMatches reports whether queue group q is the entry's group, which
// may be a wildcard pattern (nats-server treats queue names as subjects
// there).
func queueMatches(q, pattern string) bool {
	return q == pattern || (subject.HasWildcard(pattern) && subject.IsSubset(q, pattern))
}

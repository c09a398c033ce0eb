package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	Name       string
	Host       string
	Port       int
	MaxPayload int64
}

// server is the listener, the subscriptions of every connection and the
// JetStream state.
type server struct {
	opts  options
	id    string
	start time.Time
	info  []byte // the INFO line every connection gets first
	js    *jetStream

	// subs is every subscription, copied on write: the delivery path reads
	// it without a lock (these workloads have a handful of subscriptions,
	// so a scan beats a cache of unique reply subjects).
	subs atomic.Pointer[[]*sub]

	mu     sync.Mutex // guards conns, nextID and the writers of subs
	conns  map[*conn]struct{}
	nextID uint64
	ln     net.Listener
	closed bool
}

// sub is one subscription of a connection.
type sub struct {
	c       *conn
	subject string
	queue   string
	sid     string
	lit     bool         // subject has no wildcard
	max     atomic.Int64 // auto-unsubscribe after this many messages; 0: never
	n       atomic.Int64 // messages delivered, counted only when max > 0
}

func newServer(o options) *server {
	var b [11]byte
	_, _ = rand.Read(b[:])
	s := &server{opts: o, id: "NCEIL" + hex.EncodeToString(b[:]), start: time.Now(), conns: map[*conn]struct{}{}}
	info, _ := json.Marshal(map[string]any{
		"server_id": s.id, "server_name": o.Name, "version": wireVersion, "proto": 1, "go": runtime.Version(),
		"host": o.Host, "port": o.Port, "headers": true, "max_payload": o.MaxPayload, "jetstream": true,
	})
	s.info = append(append([]byte("INFO "), info...), "\r\n"...)
	s.subs.Store(&[]*sub{})
	s.js = newJetStream(s)
	return s
}

func (s *server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go s.js.tick()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.nextID++
		c := newConn(s, nc, s.nextID)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.run()
	}
}

// shutdown closes the listener and every connection.
func (s *server) shutdown() {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.js.stop()
}

func (s *server) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *server) addSub(x *sub) {
	s.mu.Lock()
	old := *s.subs.Load()
	n := make([]*sub, len(old), len(old)+1)
	copy(n, old)
	n = append(n, x)
	s.subs.Store(&n)
	s.mu.Unlock()
}

// removeSubs drops the subscriptions for which drop says so.
func (s *server) removeSubs(drop func(*sub) bool) {
	s.mu.Lock()
	old := *s.subs.Load()
	n := make([]*sub, 0, len(old))
	for _, x := range old {
		if !drop(x) {
			n = append(n, x)
		}
	}
	s.subs.Store(&n)
	s.mu.Unlock()
}

func (s *server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.removeSubs(func(x *sub) bool { return x.c == c })
}

// match appends to dst the subscriptions that receive a message on subj:
// every plain one, and one member per queue group.
func (s *server) match(dst []*sub, subj []byte) []*sub {
	for _, x := range *s.subs.Load() {
		if x.lit {
			if x.subject != string(subj) {
				continue
			}
		} else if !subjectMatches(x.subject, subj) {
			continue
		}
		if x.queue != "" && queueTaken(dst, x.queue) {
			continue
		}
		dst = append(dst, x)
	}
	return dst
}

func queueTaken(dst []*sub, q string) bool {
	for _, d := range dst {
		if d.queue == q {
			return true
		}
	}
	return false
}

// subjectMatches reports whether subject subj matches pattern pat, which
// may hold '*' (one token) and a final '>' (one or more tokens).
func subjectMatches(pat string, subj []byte) bool {
	hasP, hasS := true, true
	for hasP {
		if !hasS {
			return false
		}
		var pt string
		if i := strings.IndexByte(pat, '.'); i >= 0 {
			pt, pat = pat[:i], pat[i+1:]
		} else {
			pt, pat, hasP = pat, "", false
		}
		var st []byte
		if i := bytes.IndexByte(subj, '.'); i >= 0 {
			st, subj = subj[:i], subj[i+1:]
		} else {
			st, subj, hasS = subj, nil, false
		}
		switch pt {
		case ">":
			return true
		case "*":
			if len(st) == 0 {
				return false
			}
		default:
			if pt != string(st) {
				return false
			}
		}
	}
	return !hasS
}

// isLiteral reports whether a subject has no wildcard token.
func isLiteral(subj string) bool {
	for i := 0; i < len(subj); i++ {
		if (subj[i] == '*' || subj[i] == '>') && (i == 0 || subj[i-1] == '.') && (i+1 == len(subj) || subj[i+1] == '.') {
			return false
		}
	}
	return true
}

// connz lists the connections for /connz: cid, CONNECT name and number of
// subscriptions, as nats-server's fields name them.
func (s *server) connz() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.conns))
	for c := range s.conns {
		name := ""
		if p := c.name.Load(); p != nil {
			name = *p
		}
		out = append(out, map[string]any{"cid": c.id, "name": name, "subscriptions": c.nsubs.Load()})
	}
	return out
}

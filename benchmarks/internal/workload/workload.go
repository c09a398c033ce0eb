// Package workload holds the measured scenarios: core pub→sub, JetStream async
// publish, JetStream pull fetch, publish+consume latency under a fixed offered
// load, Object Store put/get, publish and fetch on an R3 stream of a
// three-node cluster, and a mirror's copy (of a filled stream, and while its
// origin is published to). Each one talks to the server with the
// official nats.go client only, so the same code measures barge and
// nats-server; the nb-* workloads (natsbench.go) run the real `nats bench`
// (natscli) instead, as a second yardstick.
package workload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Env is what one measured point (server × workload × size) runs with. The
// runner owns it; workloads read the fields and bump Done as they progress.
type Env struct {
	URL     string        // nats://127.0.0.1:port
	Size    int64         // payload bytes per message
	Count   int           // messages (objects) per repetition
	Window  int64         // bytes a publisher may have unacknowledged / undelivered
	Payload []byte        // Size bytes of seeded random data, shared, never modified
	Idle    time.Duration // a repetition fails once no message moved for this long
	Done    *atomic.Int64 // messages finished in the current repetition (progress)

	LatencyRate float64 // latency workload: offered messages per second

	// Nodes are the members of the cluster under test, for the replicated
	// workloads (Replicas(name) > 1); URL is then Nodes[0]'s. Empty for a
	// single server.
	Nodes []Node

	// CAFile is the PEM CA the client verifies the server's certificate
	// with, for the tls-* workloads (the server's client port is TLS
	// only); empty: plain TCP.
	CAFile string

	// User and Pass are the credentials of the auth-* workloads (both
	// servers started with the same authorization config); empty: none.
	User, Pass string

	Bench NatsBench // the nb-* workloads: natscli and where its output goes
}

// Sample is what one repetition measured.
type Sample struct {
	Msgs     int64           // messages that completed (delivered or acked)
	Bytes    int64           // payload bytes of those messages
	Elapsed  time.Duration   // from the first send to the last completion
	Latency  []time.Duration // end-to-end latencies (latency workload only)
	Errors   int64           // messages lost or refused, async errors
	FirstErr string          // the first error seen, for the report
	Lag      *Lag            // mirror-live only: the mirror's lag when publishing ended
}

// Lag is how far a mirror was behind its origin when the last publish to
// the origin was acknowledged, and how long it then took to catch up.
type Lag struct {
	Msgs    int64         // origin messages the mirror did not hold yet
	Bytes   int64         // their payload bytes
	CatchUp time.Duration // from the last ack to the mirror holding every message
}

// Workload is one scenario. Prepare runs once per point on a fresh server,
// Rep once per repetition (warm-up included), Close at the end. Rep returns a
// non-nil error only when the repetition could not run at all (refused,
// disconnected, stalled); partial losses are counted in Sample.Errors.
type Workload interface {
	Name() string
	Prepare(ctx context.Context, e *Env) error
	Rep(ctx context.Context, e *Env, rep int) (Sample, error)
	Close()
}

// Names lists every workload the suite knows, in report order.
func Names() []string {
	return append([]string{"core", "js-pub", "js-fastpub", "js-fetch", "latency", "obj-put", "obj-get", "r3-pub", "r3-fastpub", "r3-fetch", "mirror", "mirror-live"},
		NatsBenchNames()...)
}

// TLSPrefix names a workload's TLS variant: "tls-js-pub" is js-pub with
// both servers serving their client port over TLS only (server-only TLS,
// the same generated certificate) and the client verifying it.
const TLSPrefix = "tls-"

// TLSNames lists the TLS variants the suite reports on (any single-server
// workload's variant works, e.g. tls-core).
func TLSNames() []string {
	return []string{"tls-js-pub", "tls-js-fetch", "tls-obj-put", "tls-obj-get"}
}

// AuthPrefix names a workload's authenticated variant: "auth-core" is
// core with both servers started from the same config file (users with
// permissions; see runner's auth config) and the client logging in.
const AuthPrefix = "auth-"

// AuthNames lists the variants `make bench-auth` reports on.
func AuthNames() []string { return []string{"auth-core", "auth-js-pub"} }

// IsTLS reports whether workload name runs over TLS.
func IsTLS(name string) bool { return strings.HasPrefix(name, TLSPrefix) }

// IsAuth reports whether workload name runs with authentication.
func IsAuth(name string) bool { return strings.HasPrefix(name, AuthPrefix) }

// Base is the workload a TLS or auth variant runs (name itself for the
// others).
func Base(name string) string {
	return strings.TrimPrefix(strings.TrimPrefix(name, TLSPrefix), AuthPrefix)
}

// New returns a fresh workload by name: one of Names, or "js-pubfetch"
// (publish then fetch in each repetition, used by the profile target), or
// TLSPrefix or AuthPrefix before a single-server one of those.
func New(name string) (Workload, error) {
	if IsTLS(name) || IsAuth(name) {
		prefix, rest, _ := strings.Cut(name, "-")
		if IsTLS(rest) || IsAuth(rest) {
			return nil, fmt.Errorf("workload: %q: one variant prefix at most", name)
		}
		if Replicas(rest) > 1 {
			return nil, fmt.Errorf("workload: no %s variant of %q (replicated workloads run without it)", prefix, rest)
		}
		return New(rest)
	}
	if slices.Contains(NatsBenchNames(), name) {
		return &natsBench{kind: strings.TrimPrefix(name, NatsBenchPrefix)}, nil
	}
	switch name {
	case "core":
		return &corePubSub{}, nil
	case "js-pub":
		return &jsPublish{}, nil
	case "js-fetch":
		return &jsFetch{}, nil
	case "mirror":
		return &jsMirror{}, nil
	case "mirror-live":
		return &jsMirrorLive{}, nil
	case "r3-pub":
		return &jsPublish{c: jsClient{replicas: 3}}, nil
	case "js-fastpub":
		return &jsFastPublish{}, nil
	case "r3-fastpub":
		return &jsFastPublish{c: jsClient{replicas: 3}}, nil
	case "r3-fetch":
		return &jsFetch{c: jsClient{replicas: 3}}, nil
	case "latency":
		return &latency{}, nil
	case "js-pubfetch":
		return &pubFetch{}, nil
	case "obj-put":
		return &objStore{get: false}, nil
	case "obj-get":
		return &objStore{get: true}, nil
	}
	return nil, fmt.Errorf("workload: unknown %q (have %s)", name, strings.Join(Names(), ", "))
}

// Payload returns n bytes of incompressible data from a fixed seed, so every
// run sends the same bytes.
func Payload(n int64, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		b[i], b[i+1], b[i+2], b[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		b[i+4], b[i+5], b[i+6], b[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
	}
	for ; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// IsRefusal reports whether err says the server (or the client, from the
// server's advertised max_payload) will not take a message this large.
func IsRefusal(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	s := strings.ToLower(err.Error())
	for _, k := range []string{"too large", "maximum payload", "exceeds maximum", "max payload", "message size"} {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// errLog keeps a count of errors and the first one's text; safe for
// concurrent use from nats.go callbacks.
type errLog struct {
	n  atomic.Int64
	mu struct {
		sync.Mutex
		first string // text of the first error recorded
		cause string // why the connection closed, if it did; reported first
	}
}

// setCause records why a connection closed; first() prefers it, since the
// errors that follow a disconnect only say "connection closed".
func (l *errLog) setCause(err error) {
	l.n.Add(1)
	l.mu.Lock()
	if l.mu.cause == "" {
		l.mu.cause = err.Error()
	}
	l.mu.Unlock()
}

func (l *errLog) add(err error) {
	if err == nil {
		return
	}
	l.n.Add(1)
	l.mu.Lock()
	if l.mu.first == "" {
		l.mu.first = err.Error()
	}
	l.mu.Unlock()
}

func (l *errLog) first() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.cause != "" {
		return l.mu.cause
	}
	return l.mu.first
}

// connect opens a client connection that never reconnects (a dead server
// must show up as an error) and routes async errors (slow consumer) to errs.
func connect(e *Env, name string, errs *errLog) (*nats.Conn, error) {
	var sec []nats.Option
	if e.CAFile != "" {
		sec = append(sec, nats.RootCAs(e.CAFile))
	}
	if e.User != "" {
		sec = append(sec, nats.UserInfo(e.User, e.Pass))
	}
	return nats.Connect(e.URL, append(sec,
		nats.Name("bargebench-"+name),
		nats.NoReconnect(),
		nats.Timeout(10*time.Second),
		nats.FlusherTimeout(10*time.Minute),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs.add(err) }),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			// A server that cuts a slow consumer just closes the socket; say so.
			if err == nil || errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection (nats-server does this to a client past max_pending, 64 MiB)")
			}
			errs.setCause(fmt.Errorf("disconnected: %w", err))
		}),
	)...)
}

// alive returns nil while every connection is open, or an error carrying the
// first asynchronous error (the disconnect's reason) once one has closed.
func alive(errs *errLog, conns ...*nats.Conn) error {
	for _, c := range conns {
		if c == nil || c.IsClosed() {
			return fmt.Errorf("connection closed earlier: %s", errs.first())
		}
	}
	return nil
}

// windowMsgs turns the byte window into a message count in [lo, hi].
func windowMsgs(e *Env, lo, hi int) int {
	n := int(e.Window / max(e.Size, 1))
	return max(lo, min(n, hi))
}

// waitFor blocks until any of stop is closed (returning nil), ctx ends, or
// counter has not moved for idle (returning an error naming how far it got).
func waitFor(ctx context.Context, counter *atomic.Int64, target int64, idle time.Duration, stop ...<-chan struct{}) error {
	fired := make(chan struct{})
	quit := make(chan struct{})
	defer close(quit)
	var once sync.Once
	for _, c := range stop {
		go func() {
			select {
			case <-c:
				once.Do(func() { close(fired) })
			case <-quit:
			}
		}()
	}
	last, lastMove := counter.Load(), time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-fired:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if n := counter.Load(); n != last {
				last, lastMove = n, time.Now()
			} else if time.Since(lastMove) > idle {
				return fmt.Errorf("stalled at %d/%d messages for %v", n, target, idle)
			}
		}
	}
}

// failure records the first error of a goroutine and closes C, once.
type failure struct {
	once sync.Once
	C    chan struct{}
	err  error // written once before C is closed
}

func newFailure() *failure { return &failure{C: make(chan struct{})} }

func (f *failure) set(err error) {
	f.once.Do(func() { f.err = err; close(f.C) })
}

// get returns the recorded error, or nil if none was (yet) recorded.
func (f *failure) get() error {
	select {
	case <-f.C:
		return f.err
	default:
		return nil
	}
}

// TLSState connects to a TLS server as the tls-* workloads do and says what
// was negotiated, e.g. "TLS 1.3, TLS_AES_128_GCM_SHA256".
func TLSState(url, caFile string) (string, error) {
	nc, err := nats.Connect(url, nats.Name("bargebench-tls-probe"), nats.RootCAs(caFile), nats.NoReconnect(), nats.Timeout(10*time.Second))
	if err != nil {
		return "", err
	}
	defer nc.Close()
	st, err := nc.TLSConnectionState()
	if err != nil {
		return "", err
	}
	return tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite), nil
}

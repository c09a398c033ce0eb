package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bargemq/barge/internal/faultproxy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The faults a run can inject, in the order it injects them.
const (
	FaultKill        = "kill"         // kill -9 the stream leader; restart it
	FaultStop        = "stop"         // SIGSTOP the stream leader; SIGCONT it
	FaultCutLeader   = "cut-leader"   // cut the stream leader off (peer links black-holed); heal
	FaultCutFollower = "cut-follower" // cut a follower off (peer links reset and refused); heal
	FaultRestart     = "restart"      // SIGTERM and restart node 1, the live consumer's node
)

// AllFaults is every fault, the long form's schedule.
const AllFaults = FaultKill + "," + FaultStop + "," + FaultCutLeader + "," + FaultCutFollower + "," + FaultRestart

// Options configure one fault run.
type Options struct {
	Bin      string        // the barge binary
	Dir      string        // data folders and logs of the three nodes
	Duration time.Duration // publishing time; faults are spread over it
	// Faults lists the faults to inject, in order (see the Fault
	// constants); empty means none. Publishing time is cut into steps: a
	// quiet half step, then per fault one step with the fault on and half
	// a step after it is undone (a restart is undone at once).
	Faults []string
	// BigEvery: every BigEvery-th message is 1 MiB, the rest 1 KiB.
	BigEvery int
	// PublishTimeout bounds one publish's wait for its PubAck (default
	// 2 s): a publish stuck on a lost connection is given up and the next
	// one tried.
	PublishTimeout time.Duration
	// CatchUpWait bounds the wait for a recovered node's replica to hold
	// every message acked before it recovered (default 30 s).
	CatchUpWait time.Duration
	Log         io.Writer // progress lines
}

// Window is what one fault cost.
type Window struct {
	Fault string // what was done
	Node  string // the node it was done to
	// Unavailable is the longest time between two PubAcks where the later
	// came between this fault and the next (or the end).
	Unavailable time.Duration
	// CatchUp is the time from undoing the fault (heal, restart, SIGCONT)
	// until the node's replica held every message acked by then; -1 when
	// not within Options.CatchUpWait.
	CatchUp time.Duration

	start, end time.Time
}

func (w Window) String() string {
	cu := "not caught up"
	if w.CatchUp >= 0 {
		cu = "caught up in " + w.CatchUp.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%s: unavailable %v, %s", w.Fault, w.Unavailable.Round(time.Millisecond), cu)
}

// Report is what a run measured.
type Report struct {
	Published int // publish attempts
	Acked     int // publishes answered with a PubAck
	// The stream read back by a client through an ordered consumer: acked
	// messages missing or at another sequence than acked (must be 0),
	// messages stored more than once, sequences missing, acked messages
	// stored out of publish order, stored messages whose publish got no
	// ack (allowed).
	AckedLost, Duplicates, Gaps, OutOfOrder, Unacked int
	// Every node's own replica read back with DIRECT.GET (Replicas), and
	// acked messages lost and sequence gaps summed over them (must be 0).
	Replicas                 []ReplicaCheck
	ReplicaLost, ReplicaGaps int
	LongestOutage            time.Duration // longest time between two acks while publishing
	Windows                  []Window      // per fault
	Consumed                 int           // distinct messages the live durable consumer received
	Redelivered              int           // messages it received more than once (at-least-once)
	NotConsumed              int           // acked messages it never received (must be 0)
	Faults                   []string      // what was done, in order
	Notes                    []string      // diagnostics
}

func (r *Report) String() string {
	ws := make([]string, len(r.Windows))
	for i, w := range r.Windows {
		ws[i] = w.String()
	}
	return fmt.Sprintf("published=%d acked=%d acked_lost=%d duplicates=%d gaps=%d out_of_order=%d unacked_stored=%d replica_lost=%d replica_gaps=%d longest_unavailability=%v consumed=%d redelivered=%d not_consumed=%d windows=%q faults=%q",
		r.Published, r.Acked, r.AckedLost, r.Duplicates, r.Gaps, r.OutOfOrder, r.Unacked, r.ReplicaLost, r.ReplicaGaps, r.LongestOutage.Round(time.Millisecond),
		r.Consumed, r.Redelivered, r.NotConsumed, ws, r.Faults) + notes(r.Notes)
}

// Failed lists the checks the run failed: acked messages lost, gaps or
// acked messages out of order in the stream or on any replica, a node that
// did not catch up after a fault, acked messages the live consumer never
// got.
func (r *Report) Failed() []string {
	var f []string
	if r.Acked == 0 {
		f = append(f, "nothing acked")
	}
	if r.AckedLost != 0 {
		f = append(f, fmt.Sprintf("%d acked messages lost", r.AckedLost))
	}
	if r.Gaps != 0 {
		f = append(f, fmt.Sprintf("%d sequence gaps", r.Gaps))
	}
	if r.OutOfOrder != 0 {
		f = append(f, fmt.Sprintf("%d acked messages out of order", r.OutOfOrder))
	}
	for _, rc := range r.Replicas {
		if rc.Err != "" {
			f = append(f, fmt.Sprintf("replica %s not read to the end: %s", rc.Node, rc.Err))
		}
		if rc.AckedLost != 0 || rc.Gaps != 0 || rc.OutOfOrder != 0 {
			f = append(f, fmt.Sprintf("replica %s: %d acked messages lost, %d gaps, %d out of order", rc.Node, rc.AckedLost, rc.Gaps, rc.OutOfOrder))
		}
	}
	for _, w := range r.Windows {
		if w.CatchUp < 0 {
			f = append(f, fmt.Sprintf("%s: %s did not catch up", w.Fault, w.Node))
		}
	}
	if r.NotConsumed != 0 {
		f = append(f, fmt.Sprintf("the live consumer never got %d acked messages", r.NotConsumed))
	}
	return f
}

func notes(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return " notes=" + fmt.Sprintf("%q", ns)
}

// Run starts three nodes behind proxies, publishes with acks while
// injecting o.Faults, and checks every replica afterwards. An error means
// the run could not be carried out; a failed check shows in the Report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.BigEvery <= 0 {
		o.BigEvery = 25
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 2 * time.Second
	}
	if o.CatchUpWait <= 0 {
		o.CatchUpWait = 30 * time.Second
	}
	for _, f := range o.Faults {
		if !strings.Contains(","+AllFaults+",", ","+f+",") {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", f, AllFaults)
		}
	}
	c, err := newCluster(o)
	if err != nil {
		return nil, err
	}
	defer c.close()
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			return nil, err
		}
	}
	pub := &publisher{acked: make(map[uint64]uint64), done: make(chan struct{})}
	nc, err := connectRetry(ctx, urls(c.nodes...),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { pub.interrupt() }))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	var stream jetstream.Stream
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		stream, err = js.CreateStream(cctx, jetstream.StreamConfig{Name: "F", Subjects: []string{"f.>"}, Replicas: 3,
			AllowDirect: true}) // each replica is read back with DIRECT.GET
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("create stream: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.logf("stream F created (R3)")
	return c.exercise(ctx, js, stream, pub)
}

// publisher publishes numbered messages with acks until stopped. Its
// client (all three nodes' URLs) fails over when its server is cut off or
// stops; a publish in flight then is given up at once (interrupt), not
// left to wait out PublishTimeout for a PubAck that cannot come.
type publisher struct {
	done chan struct{} // closed when run returns

	mu        sync.Mutex // guards the fields below
	published int
	acked     map[uint64]uint64  // message number → acked sequence
	ackTimes  []time.Time        // when each PubAck arrived, in order
	lastSeq   uint64             // highest acked sequence
	cancel    context.CancelFunc // the publish in flight; nil between publishes
}

// interrupt gives up the publish in flight (its connection was lost).
func (p *publisher) interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
}

// run publishes until stop is closed; big every bigEvery-th message.
func (p *publisher) run(ctx context.Context, js jetstream.JetStream, o Options, stop <-chan struct{}) {
	defer close(p.done)
	small := make([]byte, 1<<10)
	big := make([]byte, 1<<20)
	for n := uint64(1); ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		body := small
		if n%uint64(o.BigEvery) == 0 {
			body = big
		}
		binary.BigEndian.PutUint64(body, n)
		pctx, cancel := context.WithTimeout(ctx, o.PublishTimeout)
		p.mu.Lock()
		p.cancel = cancel
		p.mu.Unlock()
		ack, err := js.Publish(pctx, "f.x", body)
		cancel()
		now := time.Now()
		p.mu.Lock()
		p.cancel = nil
		p.published++
		if err == nil {
			p.acked[n] = ack.Sequence
			p.ackTimes = append(p.ackTimes, now)
			p.lastSeq = max(p.lastSeq, ack.Sequence)
		}
		p.mu.Unlock()
		if err != nil {
			time.Sleep(50 * time.Millisecond) // no tight loop while the cluster is unavailable
		}
	}
}

// last is the highest acked sequence so far.
func (p *publisher) last() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSeq
}

// longestGap is the longest time between two consecutive acks that ended
// in (from, to], or from the last ack to to when no ack came after it at
// all: each gap counts for the one fault window in which publishing
// resumed. acks are in order.
func longestGap(acks []time.Time, from, to time.Time) time.Duration {
	var longest time.Duration
	var prev time.Time
	for _, t := range acks {
		if t.After(to) {
			return longest
		}
		if t.After(from) && !prev.IsZero() {
			longest = max(longest, t.Sub(prev))
		}
		prev = t
	}
	if !prev.IsZero() && to.After(prev) {
		longest = max(longest, to.Sub(prev))
	}
	return longest
}

// leaderNode returns the stream leader's node, or nil when the stream info
// does not come within a second (the client may be failing over).
func (c *cluster) leaderNode(ctx context.Context, s jetstream.Stream) *node {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := s.Info(cctx)
	if err != nil || info.Cluster == nil {
		return nil
	}
	for _, n := range c.nodes {
		if n.name == info.Cluster.Leader {
			return n
		}
	}
	return nil
}

// exercise publishes while the faults run, then verifies.
func (c *cluster) exercise(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, pub *publisher) (*Report, error) {
	rep := &Report{}
	stop := make(chan struct{})
	go pub.run(ctx, js, c.o, stop)
	live := c.startLive(ctx)
	// The schedule starts once the stream takes publishes: its first
	// leader may still be being elected, and a fault then would measure
	// the election, not the fault.
	firstBy := time.Now().Add(30 * time.Second)
	for pub.last() == 0 && ctx.Err() == nil && time.Now().Before(firstBy) {
		time.Sleep(20 * time.Millisecond)
	}
	if pub.last() == 0 {
		rep.Notes = append(rep.Notes, "no publish was acked within 30 s of creating the stream")
	}

	step := time.Duration(float64(c.o.Duration) / (0.5 + 1.5*float64(len(c.o.Faults))))
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	fault := func(f string, args ...any) {
		msg := fmt.Sprintf(f, args...)
		c.logf("fault: %s", msg)
		rep.Faults = append(rep.Faults, msg)
	}
	var catchUps sync.WaitGroup
	var last *node // the last fault's node
	windows := make([]*Window, 0, len(c.o.Faults))
	leaderOr := func(fallback *node) *node {
		if ln := c.leaderNode(ctx, s); ln != nil {
			return ln
		}
		return fallback
	}
	for _, f := range c.o.Faults {
		if !wait(step / 2) {
			break
		}
		w := &Window{Fault: f, start: time.Now()}
		var undo func() error
		var target *node
		switch f {
		case FaultKill:
			target = leaderOr(c.nodes[2])
			fault("kill -9 stream leader %s", target.name)
			c.signal(target, syscall.SIGKILL)
			undo = func() error { fault("restart %s", target.name); return c.start(target) }
		case FaultStop:
			target = leaderOr(c.nodes[1])
			fault("SIGSTOP stream leader %s", target.name)
			c.signal(target, syscall.SIGSTOP)
			undo = func() error { fault("SIGCONT %s", target.name); c.signal(target, syscall.SIGCONT); return nil }
		case FaultCutLeader:
			target = leaderOr(c.nodes[2])
			fault("cut off stream leader %s (peer links black-holed, clients dropped)", target.name)
			c.cut(target, faultproxy.Stall)
			undo = func() error { fault("heal %s", target.name); c.heal(target); return nil }
		case FaultCutFollower:
			// A follower other than the last fault's node, which may
			// still be catching up.
			ln := leaderOr(nil)
			for i := len(c.nodes) - 1; i >= 0; i-- {
				n := c.nodes[i]
				if n != ln && (target == nil || (target == last && n != last)) {
					target = n
				}
			}
			fault("cut off follower %s (peer links reset and refused, clients dropped)", target.name)
			c.cut(target, faultproxy.Drop)
			undo = func() error { fault("heal %s", target.name); c.heal(target); return nil }
		case FaultRestart:
			target = c.nodes[0]
			fault("restart %s (SIGTERM), the live consumer's node", target.name)
			c.signal(target, syscall.SIGTERM)
		}
		w.Node = target.name
		last = target
		if undo != nil && wait(step) {
			if err := undo(); err != nil {
				return nil, err
			}
		} else if f == FaultRestart {
			if err := c.start(target); err != nil {
				return nil, err
			}
		}
		windows = append(windows, w)
		catchUps.Add(1)
		go func(n *node, want uint64, from time.Time) {
			defer catchUps.Done()
			w.CatchUp = c.catchUp(ctx, n, want, from)
			c.logf("%s caught up with seq %d: %v", n.name, want, w.CatchUp)
		}(target, pub.last(), time.Now())
	}
	wait(step / 2)
	close(stop)
	<-pub.done
	end := time.Now()
	catchUps.Wait()

	pub.mu.Lock()
	rep.Published, rep.Acked = pub.published, len(pub.acked)
	acked := pub.acked
	acks := pub.ackTimes
	pub.mu.Unlock()
	c.logf("published %d, acked %d", rep.Published, rep.Acked)
	for i, w := range windows {
		w.end = end
		if i+1 < len(windows) {
			w.end = windows[i+1].start
		}
		w.Unavailable = longestGap(acks, w.start, w.end)
		rep.Windows = append(rep.Windows, *w)
	}
	for i := 1; i < len(acks); i++ {
		rep.LongestOutage = max(rep.LongestOutage, acks[i].Sub(acks[i-1]))
	}
	if a := c.anonymousPeers(); a > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d route/raft connections had no named dialer (cut at one end only)", a))
	}
	if err := c.verifyAll(ctx, acked, rep); err != nil {
		return rep, err
	}
	live.finish(ctx, acked, rep)
	return rep, nil
}

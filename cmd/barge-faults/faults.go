package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure one fault run.
type Options struct {
	Bin      string        // the barge binary
	Dir      string        // data folders and logs of the three nodes
	Duration time.Duration // publishing time; faults are spread over it
	BigEvery int           // every BigEvery-th message is 1 MiB, the rest 1 KiB
	Log      io.Writer     // progress lines
}

// Report is what a run measured.
type Report struct {
	Published     int           // publish attempts
	Acked         int           // publishes answered with a PubAck
	AckedLost     int           // acked messages missing or wrong afterwards (must be 0)
	Duplicates    int           // messages stored more than once
	Gaps          int           // sequences missing between first and last
	OutOfOrder    int           // acked messages stored out of publish order
	Unacked       int           // stored messages whose publish got no ack (allowed)
	LongestOutage time.Duration // longest time between two acks while publishing
	Consumed      int           // distinct messages the live durable consumer received
	Redelivered   int           // messages it received more than once (at-least-once)
	NotConsumed   int           // acked messages it never received (must be 0)
	Faults        []string      // what was done, in order
	Notes         []string      // diagnostics of a failed check
}

func (r *Report) String() string {
	return fmt.Sprintf("published=%d acked=%d acked_lost=%d duplicates=%d gaps=%d out_of_order=%d unacked_stored=%d longest_unavailability=%v consumed=%d redelivered=%d not_consumed=%d faults=%q",
		r.Published, r.Acked, r.AckedLost, r.Duplicates, r.Gaps, r.OutOfOrder, r.Unacked, r.LongestOutage.Round(time.Millisecond), r.Consumed, r.Redelivered, r.NotConsumed, r.Faults) + notes(r.Notes)
}

// node is one barge process.
type node struct {
	id                             int
	client, route, raft, dir, name string
	cmd                            *exec.Cmd
	exited                         chan struct{}
}

type run struct {
	o     Options
	nodes []*node
	all   []string // route URLs
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (r *run) logf(format string, args ...any) {
	if r.o.Log != nil {
		fmt.Fprintf(r.o.Log, format+"\n", args...)
	}
}

// start launches n as a process.
func (r *run) start(n *node) error {
	args := []string{"-js", "-n", n.name, "-a", "127.0.0.1", "-p", portOf(n.client), "-m", "0", "-sd", n.dir,
		"--cluster", n.route, "--cluster_name", "faults", "--routes", strings.Join(r.all, ","),
		"--raft", n.raft, "--node_id", strconv.Itoa(n.id), "--cluster_size", "3", "-l", filepath.Join(n.dir, "barge.log")}
	n.cmd = exec.Command(r.o.Bin, args...)
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.exited = make(chan struct{})
	go func(c *exec.Cmd, ch chan struct{}) { _ = c.Wait(); close(ch) }(n.cmd, n.exited)
	return nil
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// signal sends sig to n and, for a kill or term, waits for the exit.
func (r *run) signal(n *node, sig syscall.Signal) {
	_ = n.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		select {
		case <-n.exited:
		case <-time.After(15 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	}
}

func (r *run) stopAll() {
	for _, n := range r.nodes {
		if n.cmd != nil {
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			r.signal(n, syscall.SIGTERM)
		}
	}
}

// Run starts three nodes, publishes with acks while injecting faults, and
// checks the stream afterwards.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.BigEvery <= 0 {
		o.BigEvery = 25
	}
	r := &run{o: o}
	for i := 1; i <= 3; i++ {
		n := &node{id: i, name: fmt.Sprintf("f%d", i), dir: filepath.Join(o.Dir, fmt.Sprintf("n%d", i))}
		var err error
		for _, p := range []*string{&n.client, &n.route, &n.raft} {
			if *p, err = freeAddr(); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return nil, err
		}
		r.nodes = append(r.nodes, n)
		r.all = append(r.all, "nats://"+n.route)
	}
	defer r.stopAll()
	for _, n := range r.nodes {
		if err := r.start(n); err != nil {
			return nil, err
		}
	}
	urls := make([]string, 0, 3)
	for _, n := range r.nodes {
		urls = append(urls, "nats://"+n.client)
	}
	nc, err := connectRetry(ctx, strings.Join(urls, ","))
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
		stream, err = js.CreateStream(cctx, jetstream.StreamConfig{Name: "F", Subjects: []string{"f.>"}, Replicas: 3})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("create stream: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.logf("stream F created (R3)")
	return r.exercise(ctx, js, stream)
}

func connectRetry(ctx context.Context, urls string) (*nats.Conn, error) {
	for {
		nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
		if err == nil {
			return nc, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaderNode returns the stream leader's node, or nil.
func (r *run) leaderNode(ctx context.Context, s jetstream.Stream) *node {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	info, err := s.Info(cctx)
	if err != nil || info.Cluster == nil {
		return nil
	}
	for _, n := range r.nodes {
		if n.name == info.Cluster.Leader {
			return n
		}
	}
	return nil
}

// exercise publishes while the faults run, then verifies.
func (r *run) exercise(ctx context.Context, js jetstream.JetStream, s jetstream.Stream) (*Report, error) {
	rep := &Report{}
	var mu sync.Mutex
	acked := make(map[uint64]uint64) // message number → acked sequence
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		small := make([]byte, 1<<10)
		big := make([]byte, 1<<20)
		last := time.Now()
		for n := uint64(1); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			body := small
			if n%uint64(r.o.BigEvery) == 0 {
				body = big
			}
			binary.BigEndian.PutUint64(body, n)
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ack, err := js.Publish(pctx, "f.x", body)
			cancel()
			now := time.Now()
			mu.Lock()
			rep.Published++
			if err == nil {
				rep.Acked++
				acked[n] = ack.Sequence
				if d := now.Sub(last); d > rep.LongestOutage {
					rep.LongestOutage = d
				}
				last = now
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(50 * time.Millisecond) // no tight loop while the cluster is unavailable
			}
		}
	}()

	live := r.startLive(ctx)

	step := r.o.Duration / 7
	pause := func() bool {
		select {
		case <-time.After(step):
			return true
		case <-ctx.Done():
			return false
		}
	}
	fault := func(f string, args ...any) {
		msg := fmt.Sprintf(f, args...)
		r.logf("fault: %s", msg)
		rep.Faults = append(rep.Faults, msg)
	}
	if pause() {
		if ln := r.leaderNode(ctx, s); ln != nil {
			fault("kill -9 stream leader %s", ln.name)
			r.signal(ln, syscall.SIGKILL)
			if pause() {
				fault("restart %s", ln.name)
				if err := r.start(ln); err != nil {
					return nil, err
				}
			}
		}
	}
	if pause() {
		victim := r.nodes[1]
		if ln := r.leaderNode(ctx, s); ln != nil {
			victim = ln
		}
		fault("SIGSTOP %s (leader)", victim.name)
		r.signal(victim, syscall.SIGSTOP)
		if pause() {
			fault("SIGCONT %s", victim.name)
			r.signal(victim, syscall.SIGCONT)
		}
	}
	if pause() {
		n1 := r.nodes[0]
		fault("restart %s (SIGTERM), the live consumer's node", n1.name)
		r.signal(n1, syscall.SIGTERM)
		if err := r.start(n1); err != nil {
			return nil, err
		}
	}
	pause()
	close(stop)
	<-pubDone
	r.logf("published %d, acked %d", rep.Published, rep.Acked)
	if err := r.verify(ctx, js, acked, rep); err != nil {
		return rep, err
	}
	live.finish(ctx, acked, rep)
	return rep, nil
}

// verify reads the whole stream through a fresh consumer and checks every
// acked message is there, in order, once.
func (r *run) verify(ctx context.Context, js jetstream.JetStream, acked map[uint64]uint64, rep *Report) error {
	var cons jetstream.Consumer
	var err error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err = js.OrderedConsumer(cctx, "F", jetstream.OrderedConsumerConfig{})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("verify consumer: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	seen := make(map[uint64]int)
	var lastSeq, lastN uint64
	var want uint64
	for _, sq := range acked {
		want = max(want, sq)
	}
	for lastSeq < want {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			continue
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := md.Sequence.Stream
			if lastSeq != 0 && seq != lastSeq+1 {
				rep.Gaps += int(seq - lastSeq - 1)
			}
			lastSeq = seq
			if len(m.Data()) < 8 {
				return fmt.Errorf("seq %d: %d bytes", seq, len(m.Data()))
			}
			n := binary.BigEndian.Uint64(m.Data())
			seen[n]++
			if seen[n] > 1 {
				rep.Duplicates++
			}
			if as, ok := acked[n]; ok {
				if as != seq {
					rep.AckedLost++ // acked at another sequence
				}
				if n < lastN {
					rep.OutOfOrder++
				}
				lastN = n
			} else {
				rep.Unacked++
			}
		}
		if got == 0 && batch.Error() != nil && !errors.Is(batch.Error(), nats.ErrTimeout) && ctx.Err() != nil {
			return batch.Error()
		}
	}
	for n := range acked {
		if seen[n] == 0 {
			rep.AckedLost++
		}
	}
	return nil
}

func notes(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return " notes=" + fmt.Sprintf("%q", ns)
}

// describe reports the live consumer's and the stream's state as node 1
// sees them.
func (lc *liveConsumer) describe(ctx context.Context) string {
	nc, err := nats.Connect(lc.url)
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err.Error()
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(cctx, "F")
	if err != nil {
		return err.Error()
	}
	c, err := s.Consumer(cctx, "live")
	if err != nil {
		return err.Error()
	}
	ci := c.CachedInfo()
	return fmt.Sprintf("stream last_seq=%d msgs=%d leader=%v; consumer delivered=%d ack_floor=%d pending=%d ack_pending=%d waiting=%d",
		s.CachedInfo().State.LastSeq, s.CachedInfo().State.Msgs, s.CachedInfo().Cluster.Leader,
		ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending, ci.NumWaiting)
}

// liveConsumer is a durable pull consumer on node 1 that fetches and acks
// while the faults run; its node is restarted, and it must resume.
type liveConsumer struct {
	mu   sync.Mutex
	seen map[uint64]int // message number → deliveries
	url  string         // node 1's client URL
	errs map[string]int // distinct client errors, counted
	stop chan struct{}
	done chan struct{}
}

// note counts a client error.
func (lc *liveConsumer) note(s string) {
	lc.mu.Lock()
	lc.errs[s]++
	lc.mu.Unlock()
}

// startLive connects to node 1 only and consumes the stream F through the
// durable "live" until finish.
func (r *run) startLive(ctx context.Context) *liveConsumer {
	lc := &liveConsumer{seen: make(map[uint64]int), stop: make(chan struct{}), done: make(chan struct{}),
		url: "nats://" + r.nodes[0].client, errs: make(map[string]int)}
	go func() {
		defer close(lc.done)
		nc, err := connectRetry(ctx, "nats://"+r.nodes[0].client)
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		var cons jetstream.Consumer
		for {
			select {
			case <-lc.stop:
				return
			default:
			}
			if cons == nil {
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				cons, err = js.CreateOrUpdateConsumer(cctx, "F", jetstream.ConsumerConfig{Durable: "live",
					AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second})
				if err != nil {
					lc.note("create or update the durable: " + err.Error())
					cons, err = js.Consumer(cctx, "F", "live")
				}
				cancel()
				if err != nil {
					cons = nil
					time.Sleep(200 * time.Millisecond)
					continue
				}
			}
			batch, err := cons.Fetch(50, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				lc.note("fetch: " + err.Error())
				cons = nil // the node may have restarted: look the durable up again
				time.Sleep(100 * time.Millisecond)
				continue
			}
			got := 0
			for m := range batch.Messages() {
				got++
				if len(m.Data()) >= 8 {
					lc.mu.Lock()
					lc.seen[binary.BigEndian.Uint64(m.Data())]++
					lc.mu.Unlock()
				}
				_ = m.Ack()
			}
			if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
				lc.note("fetch batch: " + err.Error())
			}
			if got == 0 {
				cons = nil // an empty batch: look the durable up again
			}
		}
	}()
	return lc
}

// finish waits (up to 30 s) until the live consumer has every acked
// message, stops it and reports.
func (lc *liveConsumer) finish(ctx context.Context, acked map[uint64]uint64, rep *Report) {
	missing := func() int {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		n := 0
		for k := range acked {
			if lc.seen[k] == 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for missing() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	close(lc.stop)
	<-lc.done
	rep.NotConsumed = missing()
	if rep.NotConsumed > 0 {
		lc.mu.Lock()
		var first uint64
		for k := range acked {
			if lc.seen[k] == 0 && (first == 0 || k < first) {
				first = k
			}
		}
		lc.mu.Unlock()
		rep.Notes = append(rep.Notes, fmt.Sprintf("first message the live consumer missed: %d (seq %d); node 1 then: %s; client errors: %v",
			first, acked[first], lc.describe(ctx), lc.errs))
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	rep.Consumed = len(lc.seen)
	for _, c := range lc.seen {
		if c > 1 {
			rep.Redelivered++
		}
	}
}

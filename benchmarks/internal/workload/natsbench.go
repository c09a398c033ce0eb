package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NatsBenchPrefix names the workloads that run the real `nats bench`
// (natscli) instead of the suite's own nats.go client: nb-core, nb-js-pub,
// nb-js-pubasync, nb-js-fetch.
const NatsBenchPrefix = "nb-"

// NatsBenchNames lists the nats bench workloads, in report order.
func NatsBenchNames() []string {
	return []string{"nb-core", "nb-js-pub", "nb-js-pubasync", "nb-js-fetch"}
}

// IsNatsBench reports whether workload name (or its tls-/auth- variant)
// runs natscli.
func IsNatsBench(name string) bool { return strings.HasPrefix(Base(name), NatsBenchPrefix) }

// NatsBench is what the nb-* workloads need beyond the rest of Env.
type NatsBench struct {
	CLI     string // the natscli executable (benchmarks/bin/nats)
	Monitor string // the server's monitoring base URL, http://host:port (nb-core reads /connz)
	Dir     string // natscli's raw output of every run is kept here, one .txt (and .csv) per run
}

// natsBench stream and consumer names: natscli's defaults (its
// `--stream`, `--consumer`), so a reader can repeat a run by hand.
const (
	nbStream   = "benchstream"
	nbConsumer = "nats-bench"
	nbSubject  = "bench.nb"
	nbBatchMax = 500 // natscli's default --batch
)

// natsBench runs one natscli benchmark per repetition; kind is what follows
// "nb-".
type natsBench struct {
	kind string
	errs errLog
	nc   *nats.Conn // nb-js-fetch: deletes the durable consumer before each repetition
	js   jetstream.JetStream
}

func (w *natsBench) Name() string { return NatsBenchPrefix + w.kind }

func (w *natsBench) Close() {
	if w.nc != nil {
		w.nc.Close()
	}
}

func (w *natsBench) Prepare(ctx context.Context, e *Env) error {
	if e.Bench.CLI == "" {
		return errors.New("nats bench: no natscli executable given")
	}
	if _, err := os.Stat(e.Bench.CLI); err != nil {
		return fmt.Errorf("nats bench: %w", err)
	}
	if err := os.MkdirAll(e.Bench.Dir, 0o755); err != nil {
		return err
	}
	if w.kind != "js-fetch" {
		return nil
	}
	// Fill the stream with natscli's own async publisher, so the stream is
	// the one natscli creates.
	if _, err := w.run(ctx, e, "fill", w.pubArgs(e, "async")...); err != nil {
		return fmt.Errorf("filling the stream: %w", err)
	}
	var err error
	if w.nc, err = connect(e, "nb-reset", &w.errs); err != nil {
		return err
	}
	w.js, err = jetstream.New(w.nc, jetstream.WithDefaultTimeout(e.Idle))
	return err
}

// batch is the --batch of the async publisher and the fetcher: natscli's
// default 500, fewer when 500 messages exceed the window (nats-server cuts
// a client past 64 MiB pending).
func batch(e *Env) int { return windowMsgs(e, 1, nbBatchMax) }

// pubArgs are the arguments of a JetStream publisher run of mode (sync,
// async) into a file-storage R1 stream that natscli creates (or checks)
// and purges first.
func (w *natsBench) pubArgs(e *Env, mode string) []string {
	maxBytes := max(int64(1)<<30, int64(e.Count)*(e.Size+1024))
	a := []string{"js", "pub", mode, nbSubject, "--create", "--storage", "file", "--replicas", "1",
		"--maxbytes", strconv.FormatInt(maxBytes, 10), "--purge"}
	if mode == "async" {
		a = append(a, "--batch", strconv.Itoa(batch(e)))
	}
	return a
}

func (w *natsBench) Rep(ctx context.Context, e *Env, rep int) (Sample, error) {
	tag := repTag(rep)
	var res Result
	var err error
	switch w.kind {
	case "core":
		res, err = w.core(ctx, e, tag)
	case "js-pub":
		res, err = w.run(ctx, e, tag, w.pubArgs(e, "sync")...)
	case "js-pubasync":
		res, err = w.run(ctx, e, tag, w.pubArgs(e, "async")...)
	case "js-fetch":
		// A fresh durable consumer each time (natscli creates it when
		// missing), so every repetition reads the whole stream.
		if err := w.js.DeleteConsumer(ctx, nbStream, nbConsumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return Sample{}, fmt.Errorf("deleting the consumer: %w", err)
		}
		res, err = w.run(ctx, e, tag, "js", "fetch", "--batch", strconv.Itoa(batch(e)))
	default:
		return Sample{}, fmt.Errorf("nats bench: unknown kind %q", w.kind)
	}
	if err != nil {
		return Sample{}, err
	}
	e.Done.Store(res.Msgs)
	s := Sample{Msgs: res.Msgs, Bytes: res.Bytes, Elapsed: res.Elapsed, Errors: int64(len(res.Warnings))}
	if len(res.Warnings) > 0 {
		s.FirstErr = res.Warnings[0]
	}
	return s, nil
}

func repTag(rep int) string {
	if rep < 0 {
		return "warmup" + strconv.Itoa(-rep)
	}
	return "rep" + strconv.Itoa(rep+1)
}

// core runs `nats bench sub` and, once its subscription is registered
// (the server's /connz lists it), `nats bench pub` on the same subject; the
// subscriber's figures are the result (messages delivered end to end).
func (w *natsBench) core(ctx context.Context, e *Env, tag string) (Result, error) {
	if e.Bench.Monitor == "" {
		return Result{}, errors.New("nb-core needs the server's monitoring port (to see the subscriber registered)")
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	subName := "bargebench-nb-sub-" + tag
	sub, err := w.start(subCtx, e, tag+"-sub", subName, "sub", nbSubject)
	if err != nil {
		return Result{}, err
	}
	subDone := make(chan error, 1)
	go func() { subDone <- sub.cmd.Wait() }()
	abort := func() {
		cancel()
		<-subDone
		sub.file.Close()
	}
	if err := waitSubscribed(ctx, e.Bench.Monitor, subName, e.Idle, subDone); err != nil {
		abort()
		return Result{}, fmt.Errorf("nats bench sub: %w (raw output: %s)", err, sub.path)
	}
	if _, err := w.run(ctx, e, tag+"-pub", "pub", nbSubject); err != nil {
		abort()
		return Result{}, err
	}
	idle := time.NewTimer(e.Idle)
	defer idle.Stop()
	select {
	case err := <-subDone:
		return sub.finish(e, err)
	case <-idle.C:
		abort()
		return Result{}, fmt.Errorf("nats bench sub: not all %d messages arrived within %v of the publisher's end (a slow consumer cut, or messages dropped); raw output: %s", e.Count, e.Idle, sub.path)
	case <-ctx.Done():
		abort()
		return Result{}, ctx.Err()
	}
}

// waitSubscribed polls monitor's /connz until the connection named name has
// a subscription, the subscriber exits (done), or idle passes.
func waitSubscribed(ctx context.Context, monitor, name string, idle time.Duration, done <-chan error) error {
	deadline := time.Now().Add(idle)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok, err := subscribed(ctx, monitor, name); err == nil && ok {
			return nil
		} else if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("not in /connz")
			}
			return fmt.Errorf("no subscription after %v: %w", idle, err)
		}
		select {
		case err := <-done:
			return fmt.Errorf("exited before subscribing: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// cliRun is one natscli process and where its output goes.
type cliRun struct {
	cmd            *exec.Cmd
	path, csv      string
	file           *os.File
	stdout, stderr bytes.Buffer
}

// start starts natscli's `bench <args>` with the run's connection options,
// --msgs, --size and --csv, its output in Dir/<tag>.txt.
func (w *natsBench) start(ctx context.Context, e *Env, tag, connName string, args ...string) (*cliRun, error) {
	r := &cliRun{path: filepath.Join(e.Bench.Dir, tag+".txt"), csv: filepath.Join(e.Bench.Dir, tag+".csv")}
	_ = os.Remove(r.csv)
	full := []string{"--server", e.URL, "--no-context", "--connection-name", connName,
		"--timeout", e.Idle.String()}
	if e.CAFile != "" {
		full = append(full, "--tlsca", e.CAFile)
	}
	if e.User != "" {
		full = append(full, "--user", e.User, "--password", e.Pass)
	}
	full = append(append(append(full, "bench"), args...), "--msgs", strconv.Itoa(e.Count),
		"--size", strconv.FormatInt(e.Size, 10), "--no-progress", "--csv", r.csv)
	var err error
	if r.file, err = os.Create(r.path); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.file, "$ %s %s\n", e.Bench.CLI, strings.Join(full, " "))
	r.cmd = exec.CommandContext(ctx, e.Bench.CLI, full...)
	r.cmd.Stdout = io.MultiWriter(r.file, &r.stdout)
	r.cmd.Stderr = io.MultiWriter(r.file, &r.stderr)
	r.cmd.WaitDelay = 5 * time.Second
	if err := r.cmd.Start(); err != nil {
		r.file.Close()
		return nil, err
	}
	return r, nil
}

// run runs natscli's `bench <args>` to the end and reads its result.
func (w *natsBench) run(ctx context.Context, e *Env, tag string, args ...string) (Result, error) {
	r, err := w.start(ctx, e, tag, "bargebench-nb-"+tag, args...)
	if err != nil {
		return Result{}, err
	}
	return r.finish(e, r.cmd.Wait())
}

// finish closes the output file and parses what the run printed.
func (r *cliRun) finish(e *Env, waitErr error) (Result, error) {
	r.file.Close()
	if waitErr != nil {
		msg := lastLine(r.stderr.String())
		if msg == "" {
			msg = waitErr.Error()
		}
		return Result{}, fmt.Errorf("nats bench: %s (raw output: %s)", msg, r.path)
	}
	mps, bps, err := ParseNatsBenchStats(r.stdout.String())
	if err != nil {
		return Result{}, fmt.Errorf("nats bench: %w (raw output: %s)", err, r.path)
	}
	// The CSV has the exact duration; the stats line rounds (whole
	// messages per second, two or three digits of bytes per second).
	res := Result{Msgs: int64(e.Count), Bytes: int64(e.Count) * e.Size,
		Elapsed: time.Duration(float64(e.Count) / max(mps, 1e-9) * float64(time.Second))}
	if b, rerr := os.ReadFile(r.csv); rerr == nil {
		if res, err = ParseNatsBenchCSV(string(b), e.Size); err != nil {
			return Result{}, fmt.Errorf("nats bench: %w (raw output: %s)", err, r.path)
		}
	}
	res.MsgsPerSec, res.BytesPerSec = mps, bps
	res.Warnings = Warnings(r.stderr.String())
	return res, nil
}

// lastLine is the last non-empty line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

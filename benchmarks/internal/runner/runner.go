// Package runner drives a suite run: it measures the machine's limits, then
// for every message size, workload and server starts a fresh server process
// on a fresh store directory, runs warm-up and measured repetitions through
// the workload package, collects the server's CPU and peak RSS from /proc,
// and writes the report.
package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/limits"
	"github.com/bargemq/barge/benchmarks/internal/proc"
	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/stats"
	"github.com/bargemq/barge/benchmarks/internal/tlscert"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// Config is one suite run. The zero value is not usable; cmd/bargebench
// fills it from flags.
type Config struct {
	Servers   []string // report.NATS, report.Barge and/or report.Ceiling
	Workloads []string // workload.Names()
	Sizes     []int64  // payload bytes
	R3Sizes   []int64  // payload bytes of the replicated (r3-*) workloads, which ignore Sizes
	ObjSizes  []int64  // when set, the Object Store workloads' (tls- too) sizes instead of Sizes
	JSSizes   []int64  // when set, js-pub's (tls-, auth- too) sizes instead of Sizes

	// The auth-* workloads (auth.go): AuthConfig is the config file both
	// servers start with (empty: generated, with AuthAccounts the
	// two-account form); the client logs in as AuthUser/AuthPass.
	AuthConfig         string
	AuthUser, AuthPass string
	AuthAccounts       bool

	Reps, Warmup int           // measured and discarded repetitions per point
	Msgs         int           // fixed messages per repetition; 0: derive from BytesPerRep
	BytesPerRep  int64         // payload bytes per repetition, clamped to [MinMsgs, MaxMsgs] messages
	MinMsgs      int           // at least this many messages per repetition
	MaxMsgs      int           // at most this many (objects: at most MaxObjects)
	MaxObjects   int           // cap for the Object Store workloads
	R3Bytes      int64         // replicated workloads: payload bytes per repetition...
	R3MaxMsgs    int           // ...clamped to [MinMsgs, R3MaxMsgs] messages
	Window       int64         // bytes in flight per publisher
	LatencyBps   float64       // latency workload: offered bytes per second...
	LatencyRate  float64       // ...but at most this many messages per second
	LatencyDur   time.Duration // latency workload: offered-load duration per repetition
	Seed         uint64        // payload seed

	NatsBin, BargeBin, CeilingBin   string   // server executables (the ceiling takes BargeMaxPayload)
	NatsSync                        string   // natsd -sync value
	NatsMaxPayload, BargeMaxPayload string   // --max_payload values
	BargeArgs                       []string // extra barge flags
	NatsCLI                         string   // natscli executable of the nb-* workloads (benchmarks/bin/nats)

	WorkDir, OutDir string // store dirs and server logs; report output
	RepoDir         string // for the git revision

	LimitDur   time.Duration // loopback probe duration, and the disk probe's per size; 0 skips both probes
	FsyncTotal int64         // at most this much payload per disk probe (it also stops after LimitDur)

	Pin *Pin // pinned mode (pin.go); nil: off

	Command       string        // the command line, for the report
	Latest        bool          // also copy the report to OutDir/latest.md
	ProgressEvery time.Duration // how often a running repetition prints progress
	Log           io.Writer     // progress lines
}

// Run measures everything cfg asks for and writes the report files. It
// returns the run and the report's path; a failed point is recorded in the
// report, not returned as an error.
func Run(ctx context.Context, cfg Config) (*report.Run, string, error) {
	start := time.Now()
	r := &runner{cfg: cfg, start: start, tlsSeen: map[string]bool{}}
	var err error
	run := &report.Run{
		Date:     start,
		Rev:      gitRev(cfg.RepoDir),
		Command:  cfg.Command,
		Versions: map[string]string{},
		Settings: map[string]string{},
	}
	r.run = run
	if cfg.Pin != nil {
		run.Pinned = fmt.Sprintf("server processes on CPU %d, bargebench (the client) on CPU %d", cfg.Pin.Server, cfg.Pin.Client)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, "", err
	}
	run.Machine = describeMachine(cfg.WorkDir)
	if slices.Contains(cfg.Servers, report.Barge) {
		// bin/barge is shared with everyone who runs `make build`: measure a
		// private copy so the binary cannot change in the middle of a run.
		snap := filepath.Join(cfg.WorkDir, "barge-under-test")
		if err := copyFile(cfg.BargeBin, snap); err != nil {
			return nil, "", fmt.Errorf("snapshot of %s: %w", cfg.BargeBin, err)
		}
		if fi, err := os.Stat(cfg.BargeBin); err == nil {
			r.bargeBuilt = fi.ModTime().UTC().Format("2006-01-02 15:04:05Z")
		}
		r.cfg.BargeBin = snap
	}
	if slices.ContainsFunc(cfg.Workloads, workload.IsTLS) {
		// One certificate for the whole run, served by both servers.
		if r.tls, err = tlscert.Generate(filepath.Join(cfg.WorkDir, "tls")); err != nil {
			return nil, "", err
		}
	}
	if slices.ContainsFunc(cfg.Workloads, workload.IsAuth) {
		if r.authConf, err = writeAuthConfig(&r.cfg); err != nil {
			return nil, "", fmt.Errorf("auth config: %w", err)
		}
	}
	run.Notes = r.notes()
	sizes, total := cfg.plan()
	r.logf("bargebench: %d points (%d sizes, %d workloads, %d servers), %d warm-up + %d measured repetitions; work dir %s",
		total, len(sizes), len(cfg.Workloads), len(cfg.Servers), cfg.Warmup, cfg.Reps, cfg.WorkDir)
	if cfg.LimitDur > 0 {
		r.measureLimits(sizes)
	}
	idx := 0
	for _, size := range sizes {
		r.logf("generating %s payload (seed %d)", units.FormatSize(size), cfg.Seed)
		payload := workload.Payload(size, cfg.Seed)
		for _, wl := range cfg.Workloads {
			if !cfg.runsAt(wl, size) {
				continue
			}
			for _, sv := range cfg.Servers {
				idx++
				if ctx.Err() != nil {
					return nil, "", ctx.Err()
				}
				p := r.point(ctx, sv, wl, size, payload, fmt.Sprintf("%d/%d", idx, total))
				run.Points = append(run.Points, p)
			}
		}
	}
	run.Elapsed = time.Since(start)
	path, err := write(run, cfg.OutDir, cfg.Latest)
	return run, path, err
}

// runsAt reports whether workload wl is measured at size: the replicated
// workloads at R3Sizes, the Object Store ones at ObjSizes when set, the
// others at Sizes.
func (c *Config) runsAt(wl string, size int64) bool {
	if workload.Replicas(wl) > 1 {
		return slices.Contains(c.R3Sizes, size)
	}
	if b := workload.Base(wl); len(c.ObjSizes) > 0 && (b == "obj-put" || b == "obj-get") {
		return slices.Contains(c.ObjSizes, size)
	}
	if len(c.JSSizes) > 0 && workload.Base(wl) == "js-pub" {
		return slices.Contains(c.JSSizes, size)
	}
	return slices.Contains(c.Sizes, size)
}

// plan returns every size some workload runs at, ascending, and the number
// of points.
func (c *Config) plan() (sizes []int64, points int) {
	for _, s := range slices.Concat(c.Sizes, c.R3Sizes, c.ObjSizes, c.JSSizes) {
		if slices.Contains(sizes, s) {
			continue
		}
		n := 0
		for _, wl := range c.Workloads {
			if c.runsAt(wl, s) {
				n++
			}
		}
		if n > 0 {
			sizes = append(sizes, s)
			points += n * len(c.Servers)
		}
	}
	slices.Sort(sizes)
	return sizes, points
}

type runner struct {
	cfg        Config
	start      time.Time
	run        *report.Run
	bargeBuilt string // modification time of the barge binary that was copied
	// tls are the certificate files of the tls-* workloads (zero without
	// them); tlsSeen the servers whose negotiated TLS is noted already.
	tls     tlscert.Files
	tlsSeen map[string]bool
	// authConf is the config file of the auth-* workloads ("" without
	// them).
	authConf string
}

// copyFile copies an executable to dst (mode 0755), replacing dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func (r *runner) logf(format string, a ...any) {
	el := time.Since(r.start).Round(time.Second)
	fmt.Fprintf(r.cfg.Log, "%8s  %s\n", el, fmt.Sprintf(format, a...))
}

func (r *runner) notes() []string {
	c := r.cfg
	var clustered []string
	for _, wl := range c.Workloads {
		if workload.Replicas(wl) > 1 {
			clustered = append(clustered, wl)
		}
	}
	var extra []string
	if len(clustered) < len(c.Workloads) {
		extra = append(extra, fmt.Sprintf("Messages per repetition: %s of payload, clamped to %d–%d messages (Object Store: at most %d objects); latency: %v of offered load at min(%s/s, %.0f msgs/s).",
			units.FormatSize(c.BytesPerRep), c.MinMsgs, c.MaxMsgs, c.MaxObjects, c.LatencyDur, units.FormatSize(int64(c.LatencyBps)), c.LatencyRate))
	}
	if slices.ContainsFunc(c.Workloads, workload.IsTLS) {
		extra = append(extra, fmt.Sprintf("tls-* workloads are the same workloads with both servers' client port serving TLS only (server-only TLS: nats-server's and barge's --tlscert/--tlskey, their default versions and suites), one %s certificate generated for the run and served by both; the client verifies it against the run's CA (nats.go, Go's crypto/tls). The monitoring port stays plain HTTP.", r.tls.KeyType))
	}
	if slices.ContainsFunc(c.Workloads, workload.IsNatsBench) {
		extra = append(extra, r.natsBenchNote())
	}
	if slices.ContainsFunc(c.Workloads, workload.IsAuth) {
		extra = append(extra, fmt.Sprintf("auth-* workloads are the same workloads with both servers started from one config file (-c %s: nats-server's syntax; users with publish/subscribe allow and deny lists unless -auth-config names another file), every client logging in as %q with a password; compare each with its workload on the same server (auth ÷ no auth) and across servers (the barge ÷ nats-server rows).", r.authConf, c.AuthUser))
	}
	if len(clustered) > 0 {
		extra = append(extra,
			fmt.Sprintf("%v: each server runs as a cluster of %d processes on this machine (names n1..n%d, routes over loopback; nats-server with its JetStream cluster, barge with --cluster_size %d); a point starts once an R3 stream can be created and led (checked with a throwaway stream). %s of payload per repetition, clamped to %d–%d messages.",
				clustered, clusterSize, clusterSize, clusterSize, units.FormatSize(c.R3Bytes), c.MinMsgs, c.R3MaxMsgs),
			"Replicated workloads: the client connects to one node, then moves to the node that leads the R3 stream (for both servers alike). Server CPU seconds are the three processes' added up; peak RSS is the sum of the three processes' VmHWM (each at its own moment, so an upper bound of the combined peak).")
	}
	notes := append(append([]string{
		fmt.Sprintf("Every point (server × workload × size) runs on a freshly started server with an empty store directory; %d warm-up repetition(s) are discarded, then %d measured; tables show the median and the min–max range.", c.Warmup, c.Reps),
		fmt.Sprintf("Publishers keep at most %s in flight (at least 2 messages). Payloads are random bytes from seed %d (incompressible).", units.FormatSize(c.Window), c.Seed),
		r.clientNote() + " Server CPU seconds are utime+stime from /proc/<pid>/stat over each measured repetition; peak RSS is VmHWM, reset through clear_refs before the measured repetitions.",
		"Fractions compare a workload's payload MiB/s with the limit it is bound by: core, fetch and object get with loopback TCP; JetStream publish and object put (and the other writing workloads) with the disk probe at the same message size, which writes and fsyncs as barge's log does (segment files, record sizes, small-record buffering, 64 MiB rolls, one group-commit fsync whenever a message waits, the workload's messages in flight; obj-put: 128 KiB chunks, one object at a time) with no CPU spent on anything else. Core pub/sub crosses loopback twice (in and out) on the same cores.",
		"nats-server with its default sync acknowledges before fsync, so its rows of the disk-bound workloads can read above 100%: they are not durable figures. The r3-* and mirror workloads are compared with the js-pub probe of one log, though a cluster writes three.",
	}, extra...),
		"A size a server will not take is recorded as refused with the reason (nats-server caps max_payload at 64 MiB, and its file store refuses JetStream messages of 32 MiB and more).")
	if slices.Contains(c.Servers, report.Ceiling) {
		notes = append(notes, ceilingNote)
	}
	return notes
}

func (r *runner) measureLimits(sizes []int64) {
	c := r.cfg
	r.logf("measuring loopback TCP bandwidth (%v, 1 MiB writes)", c.LimitDur)
	if bw, err := limits.Loopback(c.LimitDur, units.MiB); err != nil {
		r.logf("loopback probe failed: %v", err)
	} else {
		r.run.Limits.LoopbackBps = bw
		r.logf("loopback TCP: %.0f MiB/s", bw/units.MiB)
	}
	r.measureDisk(sizes)
}

// count decides how many messages one repetition of wl sends at size.
func (r *runner) count(wl string, size int64) (n int, rate float64) {
	c := r.cfg
	if workload.Base(wl) == "latency" {
		rate = min(c.LatencyBps/float64(size), c.LatencyRate)
		n = max(c.MinMsgs, int(rate*c.LatencyDur.Seconds()))
		return n, rate
	}
	if c.Msgs > 0 {
		return c.Msgs, 0
	}
	if workload.Replicas(wl) > 1 {
		return max(c.MinMsgs, min(int(c.R3Bytes/size), c.R3MaxMsgs)), 0
	}
	hi := c.MaxMsgs
	if b := workload.Base(wl); b == "obj-put" || b == "obj-get" {
		hi = min(hi, c.MaxObjects)
	}
	return max(c.MinMsgs, min(int(c.BytesPerRep/size), hi)), 0
}

func (r *runner) spec(server, dir string, size int64, wl string) (proc.Spec, error) {
	c := r.cfg
	port, err := proc.FreePort("127.0.0.1")
	if err != nil {
		return proc.Spec{}, err
	}
	mport, err := proc.FreePort("127.0.0.1")
	if err != nil {
		return proc.Spec{}, err
	}
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport), "-js", "-sd", dir}
	if workload.IsTLS(wl) {
		// The same flags for both: the client port serves TLS only.
		args = append(args, "--tlscert", r.tls.Cert, "--tlskey", r.tls.Key)
	}
	if workload.IsAuth(wl) {
		// The same file for both: users and permissions.
		args = append(args, "-c", r.authConf)
	}
	s := proc.Spec{Name: server, Host: "127.0.0.1", Port: port, HTTPPort: mport,
		LogPath: filepath.Join(c.WorkDir, fmt.Sprintf("%s-%s-%s.log", server, wl, units.FormatSize(size)))}
	switch server {
	case report.NATS:
		s.Bin = c.NatsBin
		s.Args = append(args, "--max_payload", c.NatsMaxPayload, "-sync", c.NatsSync)
		r.run.Settings[server] = fmt.Sprintf("JetStream file store, R1, max_payload %s (its ceiling), sync %s", c.NatsMaxPayload, natsSyncWords(c.NatsSync))
	case report.Barge:
		s.Bin = c.BargeBin
		s.Args = append(append(args, "--max_payload", c.BargeMaxPayload), c.BargeArgs...)
		r.run.Settings[server] = fmt.Sprintf("JetStream file store, R1, max_payload %s, sync: barge's default (PubAck after a group-commit fsync) unless overridden; extra flags: %v; binary built %s, copied at the start of the run", c.BargeMaxPayload, c.BargeArgs, r.bargeBuilt)
	case report.Ceiling:
		s.Bin = c.CeilingBin
		s.Args = append(args, "--max_payload", c.BargeMaxPayload)
		r.run.Settings[server] = fmt.Sprintf("in memory only (-sd ignored), max_payload %s (barge's), PubAck as soon as the message is in memory; see Method", c.BargeMaxPayload)
	default:
		return proc.Spec{}, fmt.Errorf("unknown server %q", server)
	}
	r.notePin(server)
	return s, nil
}

func natsSyncWords(s string) string {
	switch s {
	case "default", "":
		return "default (fsync every 2 min: PubAck before fsync — favours nats-server against a server that acks after fsync)"
	case "always":
		return "always (fsync after every write, no group commit)"
	}
	return "every " + s
}

// point measures one server × workload × size and never fails: problems end
// up in the point's Status and Err.
func (r *runner) point(ctx context.Context, server, wl string, size int64, payload []byte, tag string) report.Point {
	c := r.cfg
	n, rate := r.count(wl, size)
	p := report.Point{Server: server, Workload: wl, Size: size, Count: n, OfferedRate: rate, Status: report.StatusOK}
	label := fmt.Sprintf("[%s] %s %s size=%s", tag, server, wl, units.FormatSize(size))
	fail := func(err error) report.Point {
		p.Status, p.Err = report.StatusError, err.Error()
		if workload.IsRefusal(err) {
			p.Status = report.StatusRefused
		}
		r.logf("%s: %s: %v", label, p.Status, err)
		return p
	}
	if why := ceilingNA(server, wl); why != "" {
		p.Status, p.Err = report.StatusNA, why
		r.logf("%s: n/a: %s", label, why)
		return p
	}
	bin := c.NatsBin
	switch server {
	case report.Barge:
		bin = c.BargeBin
	case report.Ceiling:
		bin = c.CeilingBin
	}
	var err error
	if _, err = os.Stat(bin); err != nil {
		p.Status, p.Err = report.StatusSkipped, fmt.Sprintf("%s binary %s not found (not built yet?)", server, bin)
		r.logf("%s: skipped: %s", label, p.Err)
		return p
	}
	if msg := r.natsBenchMissing(wl); msg != "" {
		p.Status, p.Err = report.StatusSkipped, msg
		r.logf("%s: skipped: %s", label, p.Err)
		return p
	}
	dir := filepath.Join(c.WorkDir, fmt.Sprintf("%s-%s-%s", server, wl, units.FormatSize(size)))
	defer os.RemoveAll(dir)
	st, err := r.startServer(ctx, server, wl, size, dir, label)
	if err != nil {
		return fail(err)
	}
	srv := st.srv
	defer func() {
		if err := srv.Stop(30 * time.Second); err != nil {
			r.logf("%s: %v", label, err)
		}
	}()
	if _, ok := r.run.Versions[server]; !ok {
		if v, err := srv.Varz(ctx); err == nil {
			r.run.Versions[server] = fmt.Sprint(v["version"])
		}
	}
	w, err := workload.New(wl)
	if err != nil {
		return fail(err)
	}
	defer w.Close()
	var done atomic.Int64
	env := &workload.Env{
		URL: st.nodes[0].URL, Size: size, Count: n, Window: c.Window,
		Payload: payload, Idle: 30*time.Second + time.Duration(float64(size)/(10<<20)*float64(time.Second)),
		Done: &done, LatencyRate: max(rate, 0.001),
	}
	if len(st.nodes) > 1 {
		env.Nodes = st.nodes
	}
	if workload.IsAuth(wl) {
		env.User, env.Pass = c.AuthUser, c.AuthPass
	}
	if workload.IsNatsBench(wl) {
		env.Bench = r.natsBenchEnv(server, wl, size, st)
	}
	if workload.IsTLS(wl) {
		env.CAFile = r.tls.CA
		if !r.tlsSeen[server] {
			r.tlsSeen[server] = true
			if what, err := workload.TLSState(env.URL, env.CAFile); err != nil {
				r.logf("%s: TLS probe: %v", label, err)
			} else {
				r.run.Notes = append(r.run.Notes, fmt.Sprintf("tls-* workloads: %s negotiated %s with nats.go.", server, what))
			}
		}
	}
	r.logf("%s: %d msgs/rep, starting", label, n)
	phase := atomic.Value{}
	phase.Store("prepare")
	stopProgress := r.progress(label, &phase, &done, int64(n))
	defer stopProgress()
	if err := w.Prepare(ctx, env); err != nil {
		return fail(err)
	}
	if l, ok := w.(interface{ Leader() string }); ok && l.Leader() != "" {
		r.logf("%s: the client is on %s, the stream leader", label, l.Leader())
	}
	for i := 0; i < c.Warmup; i++ {
		phase.Store(fmt.Sprintf("warm-up %d/%d", i+1, c.Warmup))
		done.Store(0)
		s, err := w.Rep(ctx, env, -1-i)
		if err != nil {
			return fail(err)
		}
		if s.Errors > 0 {
			r.logf("%s warm-up %d: %d errors, first: %s", label, i+1, s.Errors, s.FirstErr)
		}
	}
	resetOK := srv.ResetPeakRSS() == nil
	var mps, bps, cpu []float64
	var lat []time.Duration
	var lagMsgs, lagBytes, catchUp []float64
	for i := 0; i < c.Reps; i++ {
		phase.Store(fmt.Sprintf("rep %d/%d", i+1, c.Reps))
		done.Store(0)
		c0, _ := srv.CPUSeconds()
		s, err := w.Rep(ctx, env, i)
		c1, _ := srv.CPUSeconds()
		if err != nil {
			return fail(err)
		}
		secs := s.Elapsed.Seconds()
		mps = append(mps, float64(s.Msgs)/secs)
		bps = append(bps, float64(s.Bytes)/secs)
		cpu = append(cpu, c1-c0)
		lat = append(lat, s.Latency...)
		if s.Lag != nil {
			lagMsgs, lagBytes = append(lagMsgs, float64(s.Lag.Msgs)), append(lagBytes, float64(s.Lag.Bytes))
			catchUp = append(catchUp, s.Lag.CatchUp.Seconds())
			r.logf("%s rep %d/%d: mirror behind by %d msgs (%.1f MiB) at the last ack, caught up in %v", label, i+1, c.Reps,
				s.Lag.Msgs, float64(s.Lag.Bytes)/units.MiB, s.Lag.CatchUp.Round(time.Millisecond))
		}
		p.Errors += s.Errors
		if p.Err == "" && s.FirstErr != "" {
			p.Err = s.FirstErr
		}
		r.logf("%s rep %d/%d: %.0f msgs/s, %.1f MiB/s, server CPU %.2fs, errors %d", label, i+1, c.Reps,
			mps[len(mps)-1], bps[len(bps)-1]/units.MiB, c1-c0, s.Errors)
		if srv.Exited() {
			return fail(fmt.Errorf("server exited during the run; see %s", st.logs))
		}
	}
	p.PeakRSS, _ = srv.PeakRSS()
	if !resetOK {
		p.Err += " (peak RSS covers the server's whole life: clear_refs refused)"
	}
	p.MsgsPerSec, p.BytesPerSec, p.CPUSeconds = stats.Summarize(mps), stats.Summarize(bps), stats.Summarize(cpu)
	p.Latency = stats.LatencyPercentiles(lat)
	if len(lagMsgs) > 0 {
		p.Lag = &report.Lag{Msgs: stats.Summarize(lagMsgs), Bytes: stats.Summarize(lagBytes), CatchUpSec: stats.Summarize(catchUp)}
	}
	if wl == "latency" {
		r.logf("%s: latency p50 %v p99 %v p99.9 %v", label, p.Latency.P50, p.Latency.P99, p.Latency.P999)
	}
	return p
}

// progress prints, every ProgressEvery, how far the running phase has got.
// The returned func stops it.
func (r *runner) progress(label string, phase *atomic.Value, done *atomic.Int64, n int64) func() {
	if r.cfg.ProgressEvery <= 0 {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.logf("%s: %s … %d/%d msgs", label, phase.Load(), done.Load(), n)
			}
		}
	}()
	return func() { close(stop); <-finished }
}

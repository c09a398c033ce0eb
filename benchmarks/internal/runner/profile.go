package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/proc"
	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// DefaultProfileWorkloads are the standard single-server workloads `make
// profile` captures.
func DefaultProfileWorkloads() []string {
	return []string{"core", "js-pub", "js-fetch", "latency", "obj-put", "obj-get"}
}

// ProfileServer is one server a profile run captures.
type ProfileServer struct {
	Name       string   // report.Barge or report.NATS
	Bin        string   // its executable
	MaxPayload string   // --max_payload
	Args       []string // extra flags (-barge-args for barge)
}

// ProfileConfig is a `make profile` run: for every server, workload and size
// a fresh server loops the workload while its pprof profiles are taken over
// one window.
type ProfileConfig struct {
	Servers     []ProfileServer
	Workloads   []string // looped workloads (DefaultProfileWorkloads, js-pubfetch, r3-*, ...)
	Sizes       []int64  // message sizes, one capture set each
	CPUSeconds  int      // the window: CPU profile, and the allocs/block/mutex deltas
	ProfileRate int      // both servers' --profile_rate (mutex fraction, block rate in ns); 0: no mutex/block profiles
	BytesPerRep int64    // payload per round, clamped to [2, MaxMsgs] messages...
	MaxMsgs     int      // ...
	MaxObjects  int      // ...and [2, MaxObjects] objects for the Object Store workloads
	LatencyBps  float64  // latency: offered bytes per second...
	LatencyRate float64  // ...but at most this many messages per second, rounds of one second
	Window      int64    // bytes in flight
	Seed        uint64   // payload seed
	WorkDir     string   // store dirs and server logs
	OutDir      string   // where the .pprof files go
	RepoDir     string   // for the git revision in the names
	Log         io.Writer
	Timeout     time.Duration // HTTP timeout beyond the window
}

// capture is one server × workload × size of a profile run.
type capture struct {
	ProfileServer
	workload string
	size     int64
}

// base is the capture's file name stem in dir:
// <rev>-<server>-<workload>-<size>.
func (cp capture) base(dir, rev string) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s-%s-%s", rev, cp.Name, cp.workload, units.FormatSize(cp.size)))
}

// Profile runs every capture and returns the files written, each with its
// `go tool pprof -top` beside it. A capture that fails is logged and the
// others still run; the error then names how many failed.
func Profile(ctx context.Context, c ProfileConfig) ([]string, error) {
	rev := gitRev(c.RepoDir)
	for _, s := range c.Servers {
		if _, err := os.Stat(s.Bin); err != nil {
			return nil, fmt.Errorf("profile: %s binary %s not found (build it first)", s.Name, s.Bin)
		}
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.WorkDir, 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	var files []string
	var failed []string
	for _, wl := range c.Workloads {
		for _, size := range c.Sizes {
			for _, s := range c.Servers {
				if ctx.Err() != nil {
					return files, ctx.Err()
				}
				cp := capture{ProfileServer: s, workload: wl, size: size}
				profile := profileSize
				if workload.Replicas(wl) > 1 {
					profile = profileCluster
				}
				f, err := profile(ctx, c, cp, rev)
				files = append(files, f...)
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s %s %s", s.Name, wl, units.FormatSize(size)))
					fmt.Fprintf(c.Log, "profile %s %s %s: %v\n", s.Name, wl, units.FormatSize(size), err)
				}
			}
		}
	}
	fmt.Fprintf(c.Log, "captured %d profiles in %v; writing the .top.txt files\n", len(files), time.Since(start).Round(time.Second))
	writeTops(files)
	if len(failed) > 0 {
		return files, fmt.Errorf("profile: %d captures failed: %v", len(failed), failed)
	}
	return files, nil
}

// counts is how many messages a round of cp's workload sends and, for the
// latency workload, at what rate: the suite's rules (runner.count) with the
// profile's per-round budget and one-second latency rounds.
func (c ProfileConfig) counts(wl string, size int64) (int, float64) {
	r := &runner{cfg: Config{BytesPerRep: c.BytesPerRep, MinMsgs: 2, MaxMsgs: c.MaxMsgs, MaxObjects: c.MaxObjects,
		R3Bytes: c.BytesPerRep, R3MaxMsgs: c.MaxMsgs, LatencyBps: c.LatencyBps, LatencyRate: c.LatencyRate, LatencyDur: time.Second}}
	return r.count(wl, size)
}

// env is the workload environment of cp against url.
func (c ProfileConfig) env(cp capture, url string, done *atomic.Int64) *workload.Env {
	n, rate := c.counts(cp.workload, cp.size)
	return &workload.Env{URL: url, Size: cp.size, Count: n, Window: c.Window, Payload: workload.Payload(cp.size, c.Seed),
		Idle: 30*time.Second + time.Duration(float64(cp.size)/(10<<20)*float64(time.Second)), Done: done, LatencyRate: max(rate, 0.001)}
}

func profileSize(ctx context.Context, c ProfileConfig, cp capture, rev string) ([]string, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(c.Log, format+"\n", a...) }
	name := fmt.Sprintf("profile-%s-%s-%s", cp.Name, cp.workload, units.FormatSize(cp.size))
	dir := filepath.Join(c.WorkDir, name)
	_ = os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	port, err := proc.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	mport, err := proc.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport), "-js", "-sd", dir, "--max_payload", cp.MaxPayload}
	if c.ProfileRate > 0 {
		args = append(args, "--profile_rate", strconv.Itoa(c.ProfileRate))
	}
	args = append(args, cp.Args...)
	pprofPort := mport // barge serves /debug/pprof on its monitoring port
	if cp.Name == report.NATS {
		if pprofPort, err = proc.FreePort("127.0.0.1"); err != nil {
			return nil, err
		}
		args = append(args, "-profport", strconv.Itoa(pprofPort))
	}
	spec := proc.Spec{Name: cp.Name, Bin: cp.Bin, Args: args, Host: "127.0.0.1", Port: port, HTTPPort: mport,
		LogPath: filepath.Join(c.WorkDir, name+".log")}
	srv, err := proc.Start(ctx, spec, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer srv.Stop(30 * time.Second)

	w, err := workload.New(cp.workload)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	var done atomic.Int64
	env := c.env(cp, fmt.Sprintf("nats://127.0.0.1:%d", port), &done)
	if err := w.Prepare(ctx, env); err != nil {
		return nil, err
	}
	logf("profile %s %s %s: %d msgs per round, %ds window", cp.Name, cp.workload, units.FormatSize(cp.size), env.Count, c.CPUSeconds)
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", pprofPort)
	base := cp.base(c.OutDir, rev)
	win := c.window(ctx, url, base, "", true)
	loop(ctx, w, env, win.done, logf)
	files := win.files(logf)
	out := base + "-heap.pprof"
	if err := fetch(ctx, url+"heap?gc=1", out, c.Timeout); err != nil {
		logf("  heap profile: %v", err)
	} else {
		files = append(files, out)
	}
	if srv.Exited() {
		return files, fmt.Errorf("the server exited during the capture; see %s", spec.LogPath)
	}
	return files, nil
}

// windowed is a set of profiles being taken over one window.
type windowed struct {
	done  chan struct{} // closed when every capture has returned
	paths []string
	errs  []error // by path, valid once done is closed
}

// window starts, in the background, the CPU profile of the server at url
// over c.CPUSeconds into <base><member>-cpu.pprof and, when deltas is set,
// the allocs profile and (with a profile rate) the block and mutex profiles
// as deltas over the same window (net/http/pprof's ?seconds=), so they
// cover the looped workload only, not the server's start or the
// workload's preparation.
func (c ProfileConfig) window(ctx context.Context, url, base, member string, deltas bool) *windowed {
	kinds := []string{"cpu"}
	if deltas {
		kinds = append(kinds, "allocs")
		if c.ProfileRate > 0 {
			kinds = append(kinds, "block", "mutex")
		}
	}
	w := &windowed{done: make(chan struct{}), errs: make([]error, len(kinds))}
	var wg sync.WaitGroup
	for i, k := range kinds {
		path := fmt.Sprintf("%s%s-%s.pprof", base, member, k)
		w.paths = append(w.paths, path)
		endpoint := k
		if k == "cpu" {
			endpoint = "profile"
		}
		wg.Go(func() {
			w.errs[i] = fetch(ctx, fmt.Sprintf("%s%s?seconds=%d", url, endpoint, c.CPUSeconds), path,
				time.Duration(c.CPUSeconds)*time.Second+c.Timeout)
		})
	}
	go func() { wg.Wait(); close(w.done) }()
	return w
}

// files waits for the window and returns the profiles that came back.
func (w *windowed) files(logf func(string, ...any)) []string {
	<-w.done
	var out []string
	for i, p := range w.paths {
		if w.errs[i] != nil {
			logf("  %s: %v", filepath.Base(p), w.errs[i])
			continue
		}
		out = append(out, p)
	}
	return out
}

// loop runs rounds of w until stop is closed (the round in flight
// finishes first) or a round fails.
func loop(ctx context.Context, w workload.Workload, env *workload.Env, stop <-chan struct{}, logf func(string, ...any)) {
	for round := 0; ; round++ {
		select {
		case <-stop:
			return
		default:
		}
		env.Done.Store(0)
		s, err := w.Rep(ctx, env, round)
		if err != nil {
			logf("  round %d: %v", round+1, err)
			<-stop
			return
		}
		logf("  round %d: %d msgs, %.1f MiB/s, errors %d %s", round+1, s.Msgs, float64(s.Bytes)/s.Elapsed.Seconds()/units.MiB, s.Errors, s.FirstErr)
	}
}

// writeTops saves `go tool pprof -top` of each profile beside it (.top.txt);
// for allocs, of the bytes allocated (a delta profile's default is in-use
// space).
func writeTops(files []string) {
	for _, f := range files {
		args := []string{"tool", "pprof", "-top", "-nodecount=12"}
		if strings.HasSuffix(f, "-allocs.pprof") {
			args = append(args, "-sample_index=alloc_space")
		}
		if top, err := exec.Command("go", append(args, f)...).Output(); err == nil {
			_ = os.WriteFile(f+".top.txt", top, 0o644)
		}
	}
}

// fetch GETs url into path, failing on a non-200 answer.
func fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return errors.Join(err, os.Remove(path))
	}
	return f.Close()
}

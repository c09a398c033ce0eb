package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/proc"
	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// ProfileConfig is a `make profile` run: the server under a looped workload
// (JetStream publish+fetch by default) at each size while pprof captures are
// taken.
type ProfileConfig struct {
	Server      string        // report.Barge or report.NATS
	Workload    string        // looped workload, "js-pubfetch" by default
	Bin         string        // its executable
	MaxPayload  string        // --max_payload
	Sizes       []int64       // message sizes, one capture set each
	CPUSeconds  int           // length of the CPU profile window
	BytesPerRep int64         // payload per publish+fetch round (at least 2 messages)
	Window      int64         // bytes in flight
	Seed        uint64        // payload seed
	WorkDir     string        // store dir and server log
	OutDir      string        // where the .pprof files go
	RepoDir     string        // for the git revision in the names
	Log         io.Writer     // progress lines
	Timeout     time.Duration // HTTP timeout beyond the CPU window
}

// profiles lists the captures besides CPU, by /debug/pprof name.
func profiles() []string { return []string{"heap", "allocs", "mutex", "block", "goroutine"} }

// Profile runs the capture and returns the files written. barge serves
// /debug/pprof on its monitoring port; natsd on a separate -profport.
func Profile(ctx context.Context, c ProfileConfig) ([]string, error) {
	rev := gitRev(c.RepoDir)
	if _, err := os.Stat(c.Bin); err != nil {
		return nil, fmt.Errorf("profile: %s binary %s not found (build it first)", c.Server, c.Bin)
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, size := range c.Sizes {
		profile := profileSize
		if workload.Replicas(c.Workload) > 1 {
			profile = profileCluster
		}
		f, err := profile(ctx, c, rev, size)
		files = append(files, f...)
		if err != nil {
			return files, err
		}
	}
	return files, nil
}

func profileSize(ctx context.Context, c ProfileConfig, rev string, size int64) ([]string, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(c.Log, format+"\n", a...) }
	dir := filepath.Join(c.WorkDir, fmt.Sprintf("profile-%s-%s", c.Server, units.FormatSize(size)))
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
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport), "-js", "-sd", dir, "--max_payload", c.MaxPayload}
	pprofPort := mport
	if c.Server == report.NATS {
		if pprofPort, err = proc.FreePort("127.0.0.1"); err != nil {
			return nil, err
		}
		args = append(args, "-profport", strconv.Itoa(pprofPort))
	}
	spec := proc.Spec{Name: c.Server, Bin: c.Bin, Args: args, Host: "127.0.0.1", Port: port, HTTPPort: mport,
		LogPath: filepath.Join(c.WorkDir, fmt.Sprintf("profile-%s-%s.log", c.Server, units.FormatSize(size)))}
	srv, err := proc.Start(ctx, spec, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer srv.Stop(30 * time.Second)

	wl := c.Workload
	if wl == "" {
		wl = "js-pubfetch"
	}
	w, err := workload.New(wl)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	var done atomic.Int64
	n := max(2, int(c.BytesPerRep/size))
	env := &workload.Env{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Size: size, Count: n, Window: c.Window,
		Payload: workload.Payload(size, c.Seed), Idle: 30*time.Second + time.Duration(float64(size)/(10<<20)*float64(time.Second)), Done: &done}
	if err := w.Prepare(ctx, env); err != nil {
		return nil, fmt.Errorf("profile %s: %w", units.FormatSize(size), err)
	}
	base := filepath.Join(c.OutDir, fmt.Sprintf("%s-%s-%s-%s", rev, c.Server, wl, units.FormatSize(size)))
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", pprofPort)

	// The CPU capture runs in the background while the workload loops.
	cpuDone := make(chan error, 1)
	go func() {
		cpuDone <- fetch(ctx, fmt.Sprintf("%sprofile?seconds=%d", url, c.CPUSeconds), base+"-cpu.pprof",
			time.Duration(c.CPUSeconds)*time.Second+c.Timeout)
	}()
	logf("profile %s %s %s: %d msgs per round, CPU window %ds", c.Server, wl, units.FormatSize(size), n, c.CPUSeconds)
	var cpuErr error
	rounds := 0
loop:
	for {
		select {
		case cpuErr = <-cpuDone:
			break loop
		default:
		}
		s, err := w.Rep(ctx, env, rounds)
		rounds++
		if err != nil {
			logf("  round %d: %v", rounds, err)
			cpuErr = <-cpuDone
			break
		}
		logf("  round %d: %d msgs, %.1f MiB/s, errors %d %s", rounds, s.Msgs, float64(s.Bytes)/s.Elapsed.Seconds()/units.MiB, s.Errors, s.FirstErr)
	}
	var files []string
	if cpuErr != nil {
		logf("  cpu profile: %v", cpuErr)
	} else {
		files = append(files, base+"-cpu.pprof")
	}
	for _, p := range profiles() {
		out := base + "-" + p + ".pprof"
		if err := fetch(ctx, url+p, out, c.Timeout); err != nil {
			logf("  %s profile: %v", p, err)
			continue
		}
		files = append(files, out)
	}
	writeTops(files)
	logf("  wrote %d profiles under %s", len(files), c.OutDir)
	return files, nil
}

// writeTops saves `go tool pprof -top` of each profile beside it (.top.txt).
func writeTops(files []string) {
	for _, f := range files {
		if top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=12", f).Output(); err == nil {
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
		return err
	}
	return f.Close()
}

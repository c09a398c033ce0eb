package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// profileCluster is profileSize for a replicated workload: it starts the
// same three-process cluster the suite measures, loops the workload (its
// client on the stream leader) and captures a CPU profile of every member
// at the same time, named …-n1-cpu.pprof and so on, plus the other profiles
// of the leader.
func profileCluster(ctx context.Context, c ProfileConfig, rev string, size int64) ([]string, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(c.Log, format+"\n", a...) }
	cfg := Config{WorkDir: c.WorkDir, NatsSync: "default", Log: c.Log}
	if c.Server == report.NATS {
		cfg.NatsBin, cfg.NatsMaxPayload = c.Bin, c.MaxPayload
	} else {
		cfg.BargeBin, cfg.BargeMaxPayload = c.Bin, c.MaxPayload
	}
	r := &runner{cfg: cfg, start: time.Now(), run: &report.Run{Settings: map[string]string{}}}
	wl := c.Workload
	dir := filepath.Join(c.WorkDir, fmt.Sprintf("profile-%s-%s-%s", c.Server, wl, units.FormatSize(size)))
	st, err := r.startServer(ctx, c.Server, wl, size, dir, "profile")
	if err != nil {
		return nil, err
	}
	defer st.srv.Stop(30 * time.Second)

	w, err := workload.New(wl)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	var done atomic.Int64
	n := max(2, int(c.BytesPerRep/size))
	env := &workload.Env{URL: st.nodes[0].URL, Nodes: st.nodes, Size: size, Count: n, Window: c.Window,
		Payload: workload.Payload(size, c.Seed), Idle: 30*time.Second + time.Duration(float64(size)/(10<<20)*float64(time.Second)), Done: &done}
	if err := w.Prepare(ctx, env); err != nil {
		return nil, fmt.Errorf("profile %s: %w", units.FormatSize(size), err)
	}
	leader := 0
	if l, ok := w.(interface{ Leader() string }); ok {
		for i, nd := range st.nodes {
			if nd.Name == l.Leader() {
				leader = i
			}
		}
	}
	base := filepath.Join(c.OutDir, fmt.Sprintf("%s-%s-%s-%s", rev, c.Server, wl, units.FormatSize(size)))
	logf("profile %s %s %s: %d msgs per round, CPU window %ds, stream leader %s", c.Server, wl, units.FormatSize(size), n, c.CPUSeconds, st.nodes[leader].Name)

	// CPU captures of all members run in the background while the workload loops.
	cpuFiles := make([]string, len(st.nodes))
	cpuErrs := make([]error, len(st.nodes))
	var wg sync.WaitGroup
	for i, nd := range st.nodes {
		cpuFiles[i] = fmt.Sprintf("%s-%s-cpu.pprof", base, nd.Name)
		wg.Go(func() {
			cpuErrs[i] = fetch(ctx, fmt.Sprintf("%sprofile?seconds=%d", st.pprof[i], c.CPUSeconds), cpuFiles[i],
				time.Duration(c.CPUSeconds)*time.Second+c.Timeout)
		})
	}
	cpuDone := make(chan struct{})
	go func() { wg.Wait(); close(cpuDone) }()
	rounds := 0
loop:
	for {
		select {
		case <-cpuDone:
			break loop
		default:
		}
		s, err := w.Rep(ctx, env, rounds)
		rounds++
		if err != nil {
			logf("  round %d: %v", rounds, err)
			<-cpuDone
			break
		}
		logf("  round %d: %d msgs, %.1f MiB/s, errors %d %s", rounds, s.Msgs, float64(s.Bytes)/s.Elapsed.Seconds()/units.MiB, s.Errors, s.FirstErr)
	}
	var files []string
	for i, f := range cpuFiles {
		if cpuErrs[i] != nil {
			logf("  %s cpu profile: %v", st.nodes[i].Name, cpuErrs[i])
			continue
		}
		files = append(files, f)
	}
	for _, p := range profiles() {
		out := fmt.Sprintf("%s-%s-%s.pprof", base, st.nodes[leader].Name, p)
		if err := fetch(ctx, st.pprof[leader]+p, out, c.Timeout); err != nil {
			logf("  %s profile: %v", p, err)
			continue
		}
		files = append(files, out)
	}
	writeTops(files)
	logf("  wrote %d profiles under %s", len(files), c.OutDir)
	return files, nil
}

package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// profileCluster is profileSize for a replicated workload: it starts the
// same three-process cluster the suite measures, loops the workload (its
// client on the stream leader) and captures a CPU profile of every member
// over the same window, named …-n1-cpu.pprof and so on, plus the allocs,
// block and mutex deltas and the heap of the leader. barge's members get
// --profile_rate; natsd's do not (the suite's cluster layout has no flag
// for it), so their block and mutex profiles are empty.
func profileCluster(ctx context.Context, c ProfileConfig, cp capture, rev string) ([]string, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(c.Log, format+"\n", a...) }
	cfg := Config{WorkDir: c.WorkDir, NatsSync: "default", Log: c.Log}
	if cp.Name == report.NATS {
		cfg.NatsBin, cfg.NatsMaxPayload = cp.Bin, cp.MaxPayload
	} else {
		cfg.BargeBin, cfg.BargeMaxPayload, cfg.BargeArgs = cp.Bin, cp.MaxPayload, cp.Args
		if c.ProfileRate > 0 {
			cfg.BargeArgs = append([]string{"--profile_rate", strconv.Itoa(c.ProfileRate)}, cp.Args...)
		}
	}
	r := &runner{cfg: cfg, start: time.Now(), run: &report.Run{Settings: map[string]string{}}}
	dir := filepath.Join(c.WorkDir, fmt.Sprintf("profile-%s-%s-%s", cp.Name, cp.workload, units.FormatSize(cp.size)))
	st, err := r.startServer(ctx, cp.Name, cp.workload, cp.size, dir, "profile")
	if err != nil {
		return nil, err
	}
	defer st.srv.Stop(30 * time.Second)

	w, err := workload.New(cp.workload)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	var done atomic.Int64
	env := c.env(cp, st.nodes[0].URL, &done)
	env.Nodes = st.nodes
	if err := w.Prepare(ctx, env); err != nil {
		return nil, err
	}
	leader := 0
	if l, ok := w.(interface{ Leader() string }); ok {
		for i, nd := range st.nodes {
			if nd.Name == l.Leader() {
				leader = i
			}
		}
	}
	base := cp.base(c.OutDir, rev)
	logf("profile %s %s %s: %d msgs per round, %ds window, stream leader %s", cp.Name, cp.workload, units.FormatSize(cp.size), env.Count, c.CPUSeconds, st.nodes[leader].Name)

	wins := make([]*windowed, len(st.nodes))
	for i, nd := range st.nodes {
		wins[i] = c.window(ctx, st.pprof[i], base, "-"+nd.Name, i == leader)
	}
	all := make(chan struct{})
	go func() {
		for _, w := range wins {
			<-w.done
		}
		close(all)
	}()
	loop(ctx, w, env, all, logf)
	var files []string
	for _, w := range wins {
		files = append(files, w.files(logf)...)
	}
	out := fmt.Sprintf("%s-%s-heap.pprof", base, st.nodes[leader].Name)
	if err := fetch(ctx, st.pprof[leader]+"heap?gc=1", out, c.Timeout); err != nil {
		logf("  heap profile: %v", err)
	} else {
		files = append(files, out)
	}
	return files, nil
}

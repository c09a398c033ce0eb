package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/proc"
	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// measured is what a point reads from the server under test: one process
// (*proc.Server) or the members of a cluster added up (proc.Group).
type measured interface {
	CPUSeconds() (float64, error)
	PeakRSS() (int64, error)
	ResetPeakRSS() error
	Exited() bool
	Varz(ctx context.Context) (map[string]any, error)
	Stop(grace time.Duration) error
}

// clusterSize is how many processes a replicated workload's cluster has.
const clusterSize = 3

// clusterReady bounds the wait for a started cluster to be able to create
// and lead a replicated stream.
const clusterReady = 90 * time.Second

// started is a server (or cluster) up and ready for a workload.
type started struct {
	srv   measured
	nodes []workload.Node // the cluster's members; one unnamed node for a single server
	pprof []string        // a cluster member's /debug/pprof/ base URL, by node
	logs  string          // where its output went, for error messages
}

// startServer brings up what workload wl runs against in dir: one server, or a
// cluster of clusterSize when the workload replicates. A free port can be
// taken by another process before the server binds it (the machine is
// shared), and a cluster can fail to form: it tries three times, with fresh
// ports and an empty dir.
func (r *runner) startServer(ctx context.Context, server, wl string, size int64, dir, label string) (*started, error) {
	var err error
	for try := 0; ; try++ {
		_ = os.RemoveAll(dir)
		var st *started
		if reps := workload.Replicas(wl); reps > 1 {
			st, err = r.startCluster(ctx, server, wl, size, dir, reps)
		} else {
			st, err = r.startOne(ctx, server, wl, size, dir)
		}
		if err == nil {
			return st, nil
		}
		if try == 2 || ctx.Err() != nil {
			return nil, err
		}
		r.logf("%s: start failed (%v), retrying with new ports", label, err)
	}
}

func (r *runner) startOne(ctx context.Context, server, wl string, size int64, dir string) (*started, error) {
	spec, err := r.spec(server, dir, size, wl)
	if err != nil {
		return nil, err
	}
	srv, err := proc.Start(ctx, r.pinned(spec), 30*time.Second)
	if err != nil {
		return nil, err
	}
	if err := r.checkPinned(spec.Name, srv.Pid()); err != nil {
		_ = srv.Stop(10 * time.Second)
		return nil, err
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", spec.Port)
	return &started{srv: srv, nodes: []workload.Node{{URL: url}}, logs: spec.LogPath}, nil
}

// startCluster starts clusterSize processes of server named n1..n3, each
// with its own store dir under dir and every member's route URL, then waits
// until a stream with reps replicas can be created and led.
func (r *runner) startCluster(ctx context.Context, server, wl string, size int64, dir string, reps int) (*started, error) {
	specs, err := r.clusterSpecs(server, dir, size, wl)
	if err != nil {
		return nil, err
	}
	var g proc.Group
	st := &started{logs: filepath.Join(r.cfg.WorkDir, fmt.Sprintf("%s-%s-%s-n*.log", server, wl, units.FormatSize(size)))}
	for i, spec := range specs {
		if err := os.MkdirAll(filepath.Join(dir, "n"+strconv.Itoa(i+1)), 0o755); err != nil {
			return nil, err
		}
		srv, err := proc.Start(ctx, r.pinned(spec.Spec), 30*time.Second)
		if err != nil {
			_ = g.Stop(10 * time.Second)
			return nil, err
		}
		g = append(g, srv)
		if err := r.checkPinned(spec.Name, srv.Pid()); err != nil {
			_ = g.Stop(10 * time.Second)
			return nil, err
		}
		st.nodes = append(st.nodes, workload.Node{Name: clusterNodeName(i), URL: fmt.Sprintf("nats://127.0.0.1:%d", spec.Port)})
		st.pprof = append(st.pprof, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", spec.pprofPort))
	}
	if err := workload.WaitCluster(ctx, st.nodes, reps, clusterReady); err != nil {
		_ = g.Stop(10 * time.Second)
		return nil, fmt.Errorf("%s cluster: %w; see %s", server, err, st.logs)
	}
	st.srv = g
	return st, nil
}

func clusterNodeName(i int) string { return "n" + strconv.Itoa(i+1) }

// memberSpec is one cluster member's process and where it serves pprof.
type memberSpec struct {
	proc.Spec
	pprofPort int
}

// clusterSpecs lays out a cluster of server on fresh ports: client,
// monitoring and route ports per member, plus barge's raft port (natsd's
// pprof port: barge serves pprof on its monitoring port).
func (r *runner) clusterSpecs(server, dir string, size int64, wl string) ([]memberSpec, error) {
	c := r.cfg
	type ports struct{ client, http, route, raft int }
	all := make([]ports, clusterSize)
	var routes []string
	for i := range all {
		for _, p := range []*int{&all[i].client, &all[i].http, &all[i].route, &all[i].raft} {
			var err error
			if *p, err = proc.FreePort("127.0.0.1"); err != nil {
				return nil, err
			}
		}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", all[i].route))
	}
	const clusterName = "bench"
	var specs []memberSpec
	for i, p := range all {
		name := clusterNodeName(i)
		args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(p.client), "-m", strconv.Itoa(p.http), "-js",
			"-sd", filepath.Join(dir, name), "-n", name,
			"--cluster", fmt.Sprintf("127.0.0.1:%d", p.route), "--cluster_name", clusterName, "--routes", strings.Join(routes, ",")}
		s := memberSpec{Spec: proc.Spec{Name: server + " " + name, Host: "127.0.0.1", Port: p.client, HTTPPort: p.http,
			LogPath: filepath.Join(c.WorkDir, fmt.Sprintf("%s-%s-%s-%s.log", server, wl, units.FormatSize(size), name))},
			pprofPort: p.http}
		switch server {
		case report.NATS:
			s.Bin = c.NatsBin
			s.Args = append(args, "--max_payload", c.NatsMaxPayload, "-sync", c.NatsSync, "-profport", strconv.Itoa(p.raft))
			s.pprofPort = p.raft
		case report.Barge:
			s.Bin = c.BargeBin
			s.Args = append(append(args, "--max_payload", c.BargeMaxPayload,
				"--raft", fmt.Sprintf("127.0.0.1:%d", p.raft), "--node_id", strconv.Itoa(i+1),
				"--cluster_size", strconv.Itoa(clusterSize)), c.BargeArgs...)
		default:
			return nil, fmt.Errorf("unknown server %q", server)
		}
		specs = append(specs, s)
	}
	switch server {
	case report.NATS:
		r.run.Settings[server+clusterSettings] = fmt.Sprintf("%d natsd processes (server names n1..n%d, JetStream cluster, routes over loopback), file store, R3 streams, consumers R3 (inherited from the stream, nats-server's default), max_payload %s, sync %s", clusterSize, clusterSize, c.NatsMaxPayload, natsSyncWords(c.NatsSync))
	case report.Barge:
		r.run.Settings[server+clusterSettings] = fmt.Sprintf("%d barge processes (-n n1..n%d, --cluster_size %d: Dragonboat meta shard and one shard per R3 stream, routes and raft over loopback), file store, R3 streams, consumers as barge makes them for an R3 stream by default (node-local, not replicated, up to at least 93aec80), max_payload %s, default sync; extra flags: %v; binary built %s", clusterSize, clusterSize, clusterSize, c.BargeMaxPayload, c.BargeArgs, r.bargeBuilt)
	}
	r.notePin(server + clusterSettings)
	return specs, nil
}

// clusterSettings suffixes a server's name in Run.Settings for how its
// cluster was started (report.ClusterSettings reads it).
const clusterSettings = report.ClusterSettings

// ceilingNA says why the ceiling does not run workload wl ("" when it
// does): it is one in-memory process with no TLS, no users and no mirrors.
func ceilingNA(server, wl string) string {
	if server != report.Ceiling {
		return ""
	}
	switch {
	case workload.Replicas(wl) > 1:
		return "the ceiling is a single process: no replicated workloads"
	case workload.IsTLS(wl):
		return "the ceiling serves no TLS"
	case workload.IsAuth(wl):
		return "the ceiling has no users or permissions"
	case strings.HasPrefix(workload.Base(wl), "mirror"):
		return "the ceiling does not mirror streams"
	}
	return ""
}

// ceilingNote is the report's Method line on the ceiling.
const ceilingNote = "ceiling (cmd/ceiling) is the yardstick: a minimal server that speaks nats-server's wire protocol and just the JetStream API calls these workloads make, and does the least that protocol allows: " +
	"one goroutine per connection reading 1 MiB at a time, output coalesced per read and large payloads written with writev straight from the read buffer or the stored slice; core messages larger than the read buffer are cut through to subscribers as they arrive. " +
	"Streams live in memory only (no disk, no checksums, no limits, no dedupe); a PubAck is sent as soon as the message is in memory; pull requests are served from memory with the $JS.ACK reply subjects nats.go parses; acks are accepted and ignored (no redelivery); " +
	"the Object Store's ordered push consumer gets flow control every 16 MiB and idle heartbeats; fast batches get a flow ack every flow messages. " +
	"The same client runs against it in the same run; barge ÷ ceiling says how much of what this machine and client allow barge reaches. It does not run the replicated, TLS, auth or mirror workloads (n/a)."

package runner

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bargemq/barge/benchmarks/internal/proc"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

// natsBenchMissing says why workload wl cannot run ("" when it can): the
// nb-* workloads need the natscli executable.
func (r *runner) natsBenchMissing(wl string) string {
	if !workload.IsNatsBench(wl) {
		return ""
	}
	if r.cfg.NatsCLI == "" {
		return "no natscli executable given (-nats-cli)"
	}
	if _, err := os.Stat(r.cfg.NatsCLI); err != nil {
		return fmt.Sprintf("natscli %s not found (build it: cd benchmarks/natscli && go build -o ../bin/nats github.com/nats-io/natscli/nats)", r.cfg.NatsCLI)
	}
	return ""
}

// natsBenchEnv is what an nb-* point's workload needs: natscli, the
// server's monitoring URL, and a directory for natscli's raw output, which
// outlives the point (WorkDir/nats-bench/<server>-<workload>-<size>/).
func (r *runner) natsBenchEnv(server, wl string, size int64, st *started) workload.NatsBench {
	nb := workload.NatsBench{CLI: r.cfg.NatsCLI,
		Dir: filepath.Join(r.cfg.WorkDir, "nats-bench", fmt.Sprintf("%s-%s-%s", server, wl, units.FormatSize(size)))}
	_ = os.RemoveAll(nb.Dir)
	if ps, ok := st.srv.(*proc.Server); ok {
		if spec := ps.Spec(); spec.HTTPPort != 0 {
			nb.Monitor = fmt.Sprintf("http://%s:%d", spec.Host, spec.HTTPPort)
		}
	}
	return nb
}

// natsBenchNote says in the report how the nb-* workloads ran natscli.
func (r *runner) natsBenchNote() string {
	version := "version unknown"
	if out, err := exec.Command(r.cfg.NatsCLI, "--version").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("nb-* workloads run the real `nats bench` (natscli %s, built from benchmarks/natscli at natscli's own dependency versions) as a separate process against each server, one natscli run per repetition, "+
		"with `--server <url> --no-context --timeout <idle> bench … --msgs <n> --size <bytes> --no-progress --csv <file>`: "+
		"nb-core is `bench sub bench.nb` and, once the server's /connz lists its subscription, `bench pub bench.nb` (natscli's publisher has no flow control: a subscriber that falls behind is cut or loses messages, and the point fails); the subscriber's figures are reported. "+
		"nb-js-pub is `bench js pub sync` (one publish and its PubAck at a time), nb-js-pubasync `bench js pub async --batch B`, both with `--create --storage file --replicas 1 --maxbytes max(1GiB, n×(size+1KiB)) --purge` "+
		"(natscli creates stream benchstream: file storage, R1, limits retention, discard new, 2 min duplicate window, allow_direct, atomic and batch publish allowed); "+
		"nb-js-fetch fills that stream once with `bench js pub async`, then each repetition deletes the durable consumer nats-bench and runs `bench js fetch --batch B` (natscli creates the consumer: deliver all, explicit ack, max_ack_pending B). "+
		"B is natscli's default 500, or fewer so that B messages fit in %s. Rates and MiB/s are natscli's own timing (its CSV's duration, first to last message; MiB/s counts payload); "+
		"server CPU covers the whole natscli run (process start, connect, stream create and purge, consumer create), so CPU per GiB is an upper bound at small message counts. natscli's raw output of every run is kept in %s.",
		version, units.FormatSize(r.cfg.Window), filepath.Join(r.cfg.WorkDir, "nats-bench"))
}

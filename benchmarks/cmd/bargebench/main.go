// Command bargebench runs the side-by-side suite (barge vs nats-server) or,
// with -profile, captures both servers' pprof profiles under the standard
// single-server workloads. See benchmarks/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/runner"
	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/bargemq/barge/benchmarks/internal/workload"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bargebench:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("bargebench", flag.ExitOnError)
	quick := fs.Bool("quick", false, "small preset that runs in under two minutes (overrides sizes, reps, budgets unless given explicitly)")
	servers := fs.String("servers", "nats,barge,ceiling", "servers to run: nats, barge, ceiling (the yardstick, cmd/ceiling)")
	workloads := fs.String("workloads", strings.Join(workload.Names(), ","), "workloads: "+strings.Join(workload.Names(), ", ")+
		"; tls-<name> runs a single-server one over TLS (e.g. "+strings.Join(workload.TLSNames(), ", ")+
		"), auth-<name> with both servers started from one config file with users and permissions (e.g. "+strings.Join(workload.AuthNames(), ", ")+")")
	withTLS := fs.Bool("tls", false, "also run each selected single-server workload over TLS (its tls- variant, right after it), both servers with the same generated certificate")
	sizes := fs.String("sizes", "1KiB,64KiB,1MiB,8MiB,31MiB,256MiB,1GiB", "message sizes")
	reps := fs.Int("reps", 3, "measured repetitions per point")
	warmup := fs.Int("warmup", 1, "discarded warm-up repetitions per point")
	msgs := fs.Int("msgs", 0, "fixed messages per repetition (0: from -bytes)")
	bytesPerRep := fs.String("bytes", "1GiB", "payload per repetition (messages = bytes/size, clamped to -min-msgs..-max-msgs)")
	minMsgs := fs.Int("min-msgs", 3, "minimum messages per repetition")
	maxMsgs := fs.Int("max-msgs", 200000, "maximum messages per repetition")
	maxObjs := fs.Int("max-objects", 2000, "maximum objects per repetition (Object Store workloads)")
	jsSizes := fs.String("js-sizes", "", "message sizes of js-pub and its tls-/auth- variants (empty: -sizes)")
	authConfig := fs.String("auth-config", "", "auth-* workloads: the config file both servers start with (empty: generated, users with permissions)")
	authUser := fs.String("auth-user", runner.DefaultAuthUser, "auth-* workloads: the user the client logs in as")
	authPass := fs.String("auth-pass", runner.DefaultAuthPass, "auth-* workloads: its password")
	authAccounts := fs.Bool("auth-accounts", false, "auth-* workloads: generate the two-account config (needs a barge with the accounts block)")
	objSizes := fs.String("obj-sizes", "", "message (object) sizes of obj-put, obj-get and their tls- variants (empty: -sizes)")
	r3Sizes := fs.String("r3-sizes", "1KiB,1MiB,8MiB", "message sizes of the r3-* workloads (they ignore -sizes)")
	r3Bytes := fs.String("r3-bytes", "128MiB", "r3-* workloads: payload per repetition (messages = r3-bytes/size, clamped to -min-msgs..-r3-max-msgs)")
	r3MaxMsgs := fs.Int("r3-max-msgs", 20000, "r3-* workloads: maximum messages per repetition")
	latest := fs.Bool("latest", true, "also copy the report to <out>/latest.md (false for targeted runs such as make bench-r3)")
	window := fs.String("window", "32MiB", "bytes a publisher keeps in flight and a fetch asks for (at least 2 messages); nats-server cuts a client past 64MiB pending")
	latBps := fs.String("latency-load", "64MiB", "latency workload: offered bytes per second")
	latRate := fs.Float64("latency-max-rate", 5000, "latency workload: at most this many messages per second")
	latDur := fs.Duration("latency-dur", 10*time.Second, "latency workload: offered-load duration per repetition")
	seed := fs.Uint64("seed", 1, "payload seed")
	natsBin := fs.String("nats", "bin/natsd", "natsd executable (built from ./cmd/natsd)")
	bargeBin := fs.String("barge", "../bin/barge", "barge executable (go build -o bin/barge ./cmd/barge at the repo root)")
	ceilingBin := fs.String("ceiling", "bin/ceiling", "ceiling executable (built from ./cmd/ceiling; takes -barge-max-payload)")
	natsSync := fs.String("nats-sync", "default", "nats-server JetStream sync: default (2m), always, or a duration")
	natsMax := fs.String("nats-max-payload", "64MiB", "nats-server max_payload (64MiB is its ceiling)")
	bargeMax := fs.String("barge-max-payload", "2GB", "barge max_payload")
	bargeArgs := fs.String("barge-args", "", "extra barge flags, space-separated")
	readme := fs.String("readme", "", "also rewrite the benchmark summary block of this README (between its bench-summary markers) from the run")
	natsCLI := fs.String("nats-cli", "bin/nats", "natscli executable of the nb-* workloads (built from ./natscli; missing: those points are skipped)")
	workDir := fs.String("work", "work", "store dirs and server logs (emptied per point)")
	outDir := fs.String("out", "results", "report directory")
	limitDur := fs.Duration("limit-dur", 2*time.Second, "loopback probe duration, and the most each disk probe (one per durable workload shape and size) starts messages for (0 skips the machine-limit probes)")
	fsyncTotal := fs.String("fsync-total", "1GiB", "the most payload each disk probe writes")
	pin := fs.Bool("pin", false, "pinned mode: every server process on CPU -pin-server only, bargebench (all its threads) on CPU -pin-client only, through taskset; the report is <date>-<rev>-pinned.md (latest-pinned.md)")
	pinServer := fs.Int("pin-server", 0, "-pin: the CPU the servers run on")
	pinClient := fs.Int("pin-client", 1, "-pin: the CPU bargebench runs on")
	progress := fs.Duration("progress", 5*time.Second, "progress line interval within a repetition")
	// Profile mode.
	profile := fs.Bool("profile", false, "capture pprof profiles (CPU, allocs, heap, block, mutex) instead of running the suite")
	profServer := fs.String("profile-server", "nats,barge", "servers to profile: nats, barge")
	profSizes := fs.String("profile-sizes", "1KiB,1MiB", "message sizes to profile")
	profWorkload := fs.String("profile-workload", strings.Join(runner.DefaultProfileWorkloads(), ","), "workloads looped while profiling (any of -workloads but nb-*, tls-*, auth-*; or js-pubfetch)")
	profSecs := fs.Int("profile-seconds", 15, "profile window per capture: the CPU profile and the allocs/block/mutex deltas")
	profBytes := fs.String("profile-bytes", "32MiB", "payload per round of the looped workload (at most -max-msgs messages, 256 objects)")
	profRate := fs.Int("profile-rate", 100, "both servers' --profile_rate while profiling (mutex and block profiles; 0: not taken)")
	profOut := fs.String("profile-out", "../profiles", "profile directory")
	render := fs.String("render", "", "rewrite the report and plots of a stored run (<date>-<rev>.json) into -out, then exit")
	_ = fs.Parse(os.Args[1:])
	if *render != "" {
		run, path, err := runner.Render(*render, *outDir, *latest)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "report:", path)
		if *readme != "" {
			return writeReadme(*readme, run, path)
		}
		return nil
	}
	var pinned *runner.Pin
	if *pin {
		if *profile {
			return fmt.Errorf("-pin applies to the suite, not to -profile")
		}
		allowed, err := runner.AllowedCPUs("self")
		if err != nil {
			return fmt.Errorf("-pin: %w", err)
		}
		if pinned, err = runner.NewPin(*pinServer, *pinClient, allowed); err != nil {
			return err
		}
		// Re-executes bargebench under taskset (it does not return then);
		// in the re-executed one, checks the pinning.
		if err := pinned.PinSelf(); err != nil {
			return err
		}
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		preset := map[string]string{"sizes": "1KiB,1MiB,8MiB", "reps": "3", "warmup": "1", "bytes": "48MiB",
			"min-msgs": "3", "max-objects": "100", "r3-bytes": "16MiB", "r3-max-msgs": "500", "latency-dur": "1s", "limit-dur": "500ms",
			"fsync-total": "128MiB", "out": "results/quick", "progress": "3s"}
		for k, v := range preset {
			if !set[k] {
				_ = fs.Set(k, v)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	repo, _ := filepath.Abs("..")
	sz := func(name, v string) int64 {
		n, err := units.ParseSize(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bargebench: -%s: %v\n", name, err)
			os.Exit(2)
		}
		return n
	}

	if *profile {
		sizesList, err := units.ParseSizes(*profSizes)
		if err != nil {
			return err
		}
		pc := runner.ProfileConfig{Workloads: splitList(*profWorkload), Sizes: sizesList, CPUSeconds: *profSecs, ProfileRate: *profRate,
			BytesPerRep: sz("profile-bytes", *profBytes), MaxMsgs: *maxMsgs, MaxObjects: 256,
			LatencyBps: float64(sz("latency-load", *latBps)), LatencyRate: *latRate,
			Window: sz("window", *window), Seed: *seed, WorkDir: *workDir, OutDir: *profOut, RepoDir: repo, Log: os.Stderr, Timeout: 2 * time.Minute}
		for _, s := range splitList(*profServer) {
			switch s {
			case "nats", "nats-server":
				pc.Servers = append(pc.Servers, runner.ProfileServer{Name: report.NATS, Bin: *natsBin, MaxPayload: *natsMax})
			case "barge":
				pc.Servers = append(pc.Servers, runner.ProfileServer{Name: report.Barge, Bin: *bargeBin, MaxPayload: *bargeMax, Args: strings.Fields(*bargeArgs)})
			default:
				return fmt.Errorf("unknown server %q", s)
			}
		}
		for _, w := range pc.Workloads {
			if _, err := workload.New(w); err != nil || workload.IsNatsBench(w) || workload.IsTLS(w) || workload.IsAuth(w) {
				return fmt.Errorf("-profile-workload: %q cannot be profiled (%v)", w, err)
			}
		}
		files, err := runner.Profile(ctx, pc)
		for _, f := range files {
			fmt.Println(f)
		}
		return err
	}

	sizesList, err := units.ParseSizes(*sizes)
	if err != nil {
		return err
	}
	r3List, err := units.ParseSizes(*r3Sizes)
	if err != nil {
		return err
	}
	var objList []int64
	if *objSizes != "" {
		if objList, err = units.ParseSizes(*objSizes); err != nil {
			return err
		}
	}
	var jsList []int64
	if *jsSizes != "" {
		if jsList, err = units.ParseSizes(*jsSizes); err != nil {
			return err
		}
	}
	wls := splitList(*workloads)
	if *withTLS {
		wls = addTLS(wls)
	}
	cfg := runner.Config{
		Workloads: wls, Sizes: sizesList, R3Sizes: r3List, ObjSizes: objList, JSSizes: jsList,
		AuthConfig: *authConfig, AuthUser: *authUser, AuthPass: *authPass, AuthAccounts: *authAccounts,
		Reps: *reps, Warmup: *warmup, Msgs: *msgs, BytesPerRep: sz("bytes", *bytesPerRep),
		MinMsgs: *minMsgs, MaxMsgs: *maxMsgs, MaxObjects: *maxObjs, Window: sz("window", *window),
		R3Bytes: sz("r3-bytes", *r3Bytes), R3MaxMsgs: *r3MaxMsgs, Latest: *latest,
		LatencyBps: float64(sz("latency-load", *latBps)), LatencyRate: *latRate, LatencyDur: *latDur, Seed: *seed,
		NatsBin: *natsBin, BargeBin: *bargeBin, CeilingBin: *ceilingBin, NatsSync: *natsSync, NatsMaxPayload: *natsMax, BargeMaxPayload: *bargeMax,
		BargeArgs: strings.Fields(*bargeArgs), NatsCLI: *natsCLI, WorkDir: *workDir, OutDir: *outDir, RepoDir: repo,
		LimitDur: *limitDur, FsyncTotal: sz("fsync-total", *fsyncTotal),
		Command: "bargebench " + strings.Join(os.Args[1:], " "), ProgressEvery: *progress, Log: os.Stderr, Pin: pinned,
	}
	for _, s := range splitList(*servers) {
		switch s {
		case "nats", "nats-server":
			cfg.Servers = append(cfg.Servers, report.NATS)
		case "barge":
			if _, err := os.Stat(*bargeBin); err != nil {
				fmt.Fprintf(os.Stderr, "bargebench: barge skipped: %s not found (cmd/barge not built yet)\n", *bargeBin)
				continue
			}
			cfg.Servers = append(cfg.Servers, report.Barge)
		case "ceiling":
			cfg.Servers = append(cfg.Servers, report.Ceiling)
		default:
			return fmt.Errorf("unknown server %q", s)
		}
	}
	for _, w := range cfg.Workloads {
		if _, err := workload.New(w); err != nil {
			return err
		}
	}
	if len(cfg.Servers) == 0 {
		return fmt.Errorf("no server to run")
	}
	run, path, err := runner.Run(ctx, cfg)
	if err != nil {
		return err
	}
	_ = run.WriteSummary(os.Stderr)
	fmt.Fprintln(os.Stderr, "report:", path)
	if *readme != "" {
		if err := writeReadme(*readme, run, path); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "summary written to", *readme)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// addTLS puts each single-server workload's TLS variant right after it
// (the replicated ones run without TLS).
func addTLS(wls []string) []string {
	var out []string
	for _, w := range wls {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
		if t := workload.TLSPrefix + w; !workload.IsTLS(w) && !workload.IsAuth(w) && workload.Replicas(w) == 1 && !slices.Contains(wls, t) {
			out = append(out, t)
		}
	}
	return out
}

// writeReadme rewrites readme's benchmark summary block from run, linking
// the report at path (relative to this directory, which is benchmarks/ in
// the repository).
func writeReadme(readme string, run *report.Run, path string) error {
	doc, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	link := filepath.ToSlash(filepath.Join("benchmarks", path))
	out, err := report.ReplaceReadmeBlock(string(doc), run.ReadmeSummary(link))
	if err != nil {
		return err
	}
	return os.WriteFile(readme, []byte(out), 0o644)
}

package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/bargemq/barge/benchmarks/internal/proc"
)

// Pin is the pinned mode (bargebench -pin): every server process the run
// starts runs on CPU Server only, and bargebench itself, every thread of
// it, on CPU Client only, so a server's figures are its own core's work
// rather than the outcome of a fight with the client over all cores.
type Pin struct {
	Server, Client int // CPU numbers (as taskset -c takes them)
	// Taskset is the taskset executable the servers are started through;
	// it sets the affinity before it execs the server, so every thread the
	// server ever starts inherits it (and a Go server's GOMAXPROCS is 1).
	Taskset string
}

// pinEnv marks a bargebench that PinSelf has re-executed under taskset.
const pinEnv = "BARGEBENCH_PINNED"

// NewPin checks that the pinned mode can run here: two different CPUs that
// this process may use, and taskset on the PATH. allowed is the CPUs this
// process may run on (AllowedCPUs); in the bargebench PinSelf re-executed,
// which may use the client's CPU only, the parent's check stands.
func NewPin(server, client int, allowed []int) (*Pin, error) {
	if os.Getenv(pinEnv) != "" {
		allowed = []int{server, client}
	}
	if len(allowed) < 2 {
		return nil, fmt.Errorf("-pin needs at least 2 CPUs; this process may use %v", allowed)
	}
	if server == client {
		return nil, fmt.Errorf("-pin: server and client on the same CPU %d", server)
	}
	for _, c := range []int{server, client} {
		if !slices.Contains(allowed, c) {
			return nil, fmt.Errorf("-pin: CPU %d is not among those this process may use (%v)", c, allowed)
		}
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return nil, fmt.Errorf("-pin needs taskset (util-linux) on the PATH: %w", err)
	}
	return &Pin{Server: server, Client: client, Taskset: ts}, nil
}

// PinSelf pins bargebench, all its threads, to p.Client: it replaces the
// process with itself run under taskset (same arguments, pid and signals),
// so the affinity holds from the first instruction and the Go runtime
// sizes GOMAXPROCS to the one CPU. In the re-executed process it only
// checks that the pinning took.
func (p *Pin) PinSelf() error {
	if os.Getenv(pinEnv) != "" {
		got, err := AllowedCPUs("self")
		if err != nil {
			return err
		}
		if !slices.Equal(got, []int{p.Client}) {
			return fmt.Errorf("-pin: bargebench runs on CPUs %v, want only %d", got, p.Client)
		}
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{"taskset", "-c", strconv.Itoa(p.Client), exe}, os.Args[1:]...)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, pinEnv+"=") })
	err = syscall.Exec(p.Taskset, argv, append(env, pinEnv+"=1"))
	return fmt.Errorf("-pin: exec %s: %w", p.Taskset, err)
}

// wrap returns spec started through taskset on p.Server. The server's
// pid is still the child's: taskset execs it.
func (p *Pin) wrap(spec proc.Spec) proc.Spec {
	spec.Args = append([]string{"-c", strconv.Itoa(p.Server), spec.Bin}, spec.Args...)
	spec.Bin = p.Taskset
	return spec
}

// check verifies that process pid may run on p.Server only.
func (p *Pin) check(name string, pid int) error {
	got, err := AllowedCPUs(strconv.Itoa(pid))
	if err != nil {
		return err
	}
	if !slices.Equal(got, []int{p.Server}) {
		return fmt.Errorf("-pin: %s (pid %d) runs on CPUs %v, want only %d", name, pid, got, p.Server)
	}
	return nil
}

// words describes the mode for the report.
func (p *Pin) words() string {
	return fmt.Sprintf("pinned: taskset -c %d (one core; the client on CPU %d)", p.Server, p.Client)
}

// pinned applies the pinned mode, if on, to a server spec about to start.
func (r *runner) pinned(spec proc.Spec) proc.Spec {
	if r.cfg.Pin == nil {
		return spec
	}
	return r.cfg.Pin.wrap(spec)
}

// checkPinned verifies a started server's affinity in the pinned mode.
func (r *runner) checkPinned(name string, pid int) error {
	if r.cfg.Pin == nil {
		return nil
	}
	return r.cfg.Pin.check(name, pid)
}

// notePin adds the pinned mode to a Settings entry, once.
func (r *runner) notePin(key string) {
	if r.cfg.Pin == nil {
		return
	}
	w := "; " + r.cfg.Pin.words()
	if s := r.run.Settings[key]; !strings.HasSuffix(s, w) {
		r.run.Settings[key] = s + w
	}
}

// AllowedCPUs returns the CPUs process pid ("self" or a number) may run
// on, from Cpus_allowed_list in /proc/<pid>/status.
func AllowedCPUs(pid string) ([]int, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return parseCPUList(strings.TrimSpace(v))
		}
	}
	return nil, errors.New("no Cpus_allowed_list in /proc/" + pid + "/status")
}

// parseCPUList reads a kernel CPU list such as "0-3,6,8-9".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// clientNote is the Method line about where the client runs.
func (r *runner) clientNote() string {
	p := r.cfg.Pin
	if p == nil {
		return "Client: nats.go v1.55.0 in one process on the same machine (and cores) as the server."
	}
	return fmt.Sprintf("Pinned mode (-pin, taskset): every server process (the r3-* clusters' three too) runs on CPU %d only, started through taskset -c %d so all its threads inherit the affinity (a Go server's GOMAXPROCS is then 1); the client, nats.go v1.55.0 in bargebench, runs with all its threads on CPU %d only (bargebench re-executes itself under taskset -c %d). The machine-limit probes run in bargebench, so on CPU %d too. Figures measure one core of server work against one core of client, not the two processes' fight over every core.",
		p.Server, p.Server, p.Client, p.Client, p.Client)
}

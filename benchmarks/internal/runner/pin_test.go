package runner

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/proc"
	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0-3": {0, 1, 2, 3}, "0-1,4,6-7": {0, 1, 4, 6, 7}} {
		if got, err := parseCPUList(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"x", "3-1", "1-y"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestNewPinRefuses: one CPU, the same CPU twice, or a CPU this process
// may not use is a clear error, not a silent unpinned run.
func TestNewPinRefuses(t *testing.T) {
	t.Setenv(pinEnv, "")
	for _, c := range []struct {
		server, client int
		allowed        []int
		want           string
	}{
		{0, 1, []int{0}, "at least 2 CPUs"},
		{1, 1, []int{0, 1}, "same CPU"},
		{0, 5, []int{0, 1}, "CPU 5 is not among"},
	} {
		if _, err := NewPin(c.server, c.client, c.allowed); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewPin(%d, %d, %v) = %v, want %q", c.server, c.client, c.allowed, err, c.want)
		}
	}
}

// TestPinWrapsServer: a pinned spec starts the server through taskset on
// the server's CPU, with its own arguments unchanged; unpinned, the spec is
// untouched.
func TestPinWrapsServer(t *testing.T) {
	spec := proc.Spec{Name: "barge", Bin: "/x/barge", Args: []string{"-p", "4222"}}
	r := &runner{}
	if got := r.pinned(spec); got.Bin != spec.Bin || !slices.Equal(got.Args, spec.Args) {
		t.Errorf("unpinned: %+v", got)
	}
	r.cfg.Pin = &Pin{Server: 0, Client: 1, Taskset: "/usr/bin/taskset"}
	got := r.pinned(spec)
	if got.Bin != "/usr/bin/taskset" || !slices.Equal(got.Args, []string{"-c", "0", "/x/barge", "-p", "4222"}) {
		t.Errorf("pinned: %+v", got)
	}
}

// needPin skips a test where the pinned mode cannot run.
func needPin(t *testing.T) *Pin {
	t.Helper()
	allowed, err := AllowedCPUs("self")
	if err != nil {
		t.Skip(err)
	}
	if len(allowed) < 2 {
		t.Skipf("only CPUs %v", allowed)
	}
	p, err := NewPin(allowed[0], allowed[1], allowed)
	if err != nil {
		t.Skip(err)
	}
	return p
}

// TestPinnedRun runs one tiny js-pub point pinned, end to end through Run:
// the server process is checked to run on the server CPU only (the point
// fails otherwise), and the report says so in its title, Method and
// Settings, under its own name; the disk probe gives the point its limit.
func TestPinnedRun(t *testing.T) {
	pin := needPin(t)
	natsd := build(t, "../..", "./cmd/natsd", "natsd")
	if natsd == "" {
		t.Fatal("cmd/natsd does not build")
	}
	work, out := t.TempDir(), t.TempDir()
	cfg := Config{
		Servers: []string{report.NATS}, Workloads: []string{"js-pub"}, Sizes: []int64{units.KiB},
		Reps: 1, Warmup: 0, Msgs: 20, MinMsgs: 3, MaxMsgs: 20, Window: 64 * units.KiB, Seed: 1,
		NatsBin: natsd, NatsSync: "default", NatsMaxPayload: "64MiB",
		WorkDir: work, OutDir: out, RepoDir: "../../..", Command: "test", Log: io.Discard, Latest: true,
		LimitDur: 50 * time.Millisecond, FsyncTotal: units.MiB, Pin: pin,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, path, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Points) != 1 || run.Points[0].Status != report.StatusOK {
		t.Fatalf("points %+v", run.Points)
	}
	if !strings.HasSuffix(path, "-pinned.md") {
		t.Errorf("report path %s", path)
	}
	if _, err := os.Stat(filepath.Join(out, "latest-pinned.md")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(out, "latest.md")); !os.IsNotExist(err) {
		t.Errorf("a pinned run wrote latest.md (%v)", err)
	}
	if len(run.Limits.Disk) != 1 || run.Limits.Disk[0].Bps <= 0 || run.LimitAt("js-pub", units.KiB) <= 0 {
		t.Errorf("disk limits %+v", run.Limits.Disk)
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{
		"# barge vs nats-server, pinned",
		"Pinned mode (-pin, taskset)",
		"pinned: taskset -c " + strconv.Itoa(pin.Server),
		"barge's log write pattern: js-pub, 1KiB messages",
		"js-pub / nats-server (÷ barge's log on disk)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

// TestPinSelf runs bargebench -pin: it re-executes itself under taskset,
// the re-executed process finds itself on the client CPU only (it fails
// otherwise) and goes on to parse the rest, here stopping at a bad server
// name before running anything.
func TestPinSelf(t *testing.T) {
	pin := needPin(t)
	bin := build(t, "../..", "./cmd/bargebench", "bargebench")
	if bin == "" {
		t.Fatal("cmd/bargebench does not build")
	}
	cmd := exec.Command(bin, "-pin", "-pin-server", strconv.Itoa(pin.Server), "-pin-client", strconv.Itoa(pin.Client), "-servers", "bogus")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown server "bogus"`) {
		t.Fatalf("bargebench -pin: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "-pin", "-pin-server", strconv.Itoa(pin.Server), "-pin-client", strconv.Itoa(pin.Server))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "same CPU") {
		t.Fatalf("bargebench -pin on one CPU: %v\n%s", err, out)
	}
}

package runner

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/bargemq/barge/benchmarks/internal/report"
)

// describeMachine reads the CPU model, memory, kernel and the filesystem that
// holds dir from /proc; fields it cannot read stay empty.
func describeMachine(dir string) report.Machine {
	m := report.Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		// The machine's cores, not the ones this process may use (one
		// when pinned).
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			switch {
			case ok && strings.TrimSpace(k) == "processor":
				n++
			case ok && strings.TrimSpace(k) == "model name" && m.CPU == "":
				m.CPU = strings.TrimSpace(v)
			}
		}
		m.Cores = max(m.Cores, n)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemBytes = kb << 10
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.StoreFS = mountOf(dir)
	return m
}

// mountOf returns "device (fstype) at mountpoint" for the longest mount
// point that contains dir.
func mountOf(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return ""
	}
	defer f.Close()
	best, bestLen := "", -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		x := strings.Fields(sc.Text())
		if len(x) < 3 {
			continue
		}
		mp := x[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > bestLen {
			best, bestLen = x[0]+" ("+x[2]+") at "+mp, len(mp)
		}
	}
	return best
}

// gitRev returns the short revision of the repository holding dir, or
// "unknown".
func gitRev(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

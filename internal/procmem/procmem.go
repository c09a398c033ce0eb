// Package procmem reads this process's memory figures from /proc: the
// resident set size the monitoring endpoint reports and the peak that the
// large-message tests bound.
package procmem

import (
	"bytes"
	"errors"
	"os"
	"strconv"
)

// ErrUnavailable is returned where /proc/self/status cannot be read or
// lacks the figure (not Linux).
var ErrUnavailable = errors.New("procmem: /proc/self/status unavailable")

// RSS is the resident set size in bytes (VmRSS).
func RSS() (int64, error) { return statusBytes("VmRSS:") }

// Peak is the highest resident set size since the process started or since
// the last ResetPeak (VmHWM).
func Peak() (int64, error) { return statusBytes("VmHWM:") }

// ResetPeak makes Peak start again from the current RSS (Linux >= 4.0).
func ResetPeak() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func statusBytes(key string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, ErrUnavailable
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, ErrUnavailable
}

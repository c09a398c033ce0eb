// Package report holds the result of one suite run and renders it: a
// Markdown report with the tables, a JSON copy for later comparison, and
// hand-written SVG plots (throughput and peak RSS by message size).
package report

import (
	"time"

	"github.com/bargemq/barge/benchmarks/internal/stats"
)

// Point statuses.
const (
	StatusOK      = "ok"      // measured (may still carry Errors)
	StatusRefused = "refused" // the server or client refused the message size
	StatusError   = "error"   // could not run: setup failed, server died, stalled
	StatusSkipped = "skipped" // not run (server binary missing, ...)
	StatusNA      = "n/a"     // the server does not do this workload (the ceiling: replicas, TLS, auth, mirrors)
)

// Run is everything one invocation measured.
type Run struct {
	Date     time.Time         `json:"date"`
	Rev      string            `json:"rev"`
	Command  string            `json:"command"`
	Pinned   string            `json:"pinned,omitempty"` // the pinned mode's layout; "" when not pinned
	Machine  Machine           `json:"machine"`
	Versions map[string]string `json:"versions"` // server name → version (from /varz)
	Settings map[string]string `json:"settings"` // server name → how it was started
	Notes    []string          `json:"notes"`    // method notes printed under the header
	Limits   Limits            `json:"limits"`
	Points   []Point           `json:"points"`
	Elapsed  time.Duration     `json:"elapsed"`
}

// Machine describes the box the run happened on.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemBytes  int64  `json:"mem_bytes"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	StoreFS   string `json:"store_fs"` // device and filesystem of the store dir
}

// Limits are this machine's ceilings, measured in the same run.
type Limits struct {
	LoopbackBps float64 `json:"loopback_bps"` // one TCP connection over 127.0.0.1
	// DiskFsyncBps and FsyncEvery: the older probe, a sequential write
	// with an fsync every FsyncEvery bytes (runs stored before Disk).
	DiskFsyncBps float64 `json:"disk_fsync_bps,omitempty"`
	FsyncEvery   int64   `json:"fsync_every,omitempty"`
	// Disk: barge's log write pattern on the store's disk, per durable
	// workload shape and message size (disk.go).
	Disk []DiskLimit `json:"disk,omitempty"`
}

// Point is one server × workload × message size.
type Point struct {
	Server   string `json:"server"`
	Workload string `json:"workload"`
	Size     int64  `json:"size"`
	Count    int    `json:"count"` // messages per repetition
	Status   string `json:"status"`
	Err      string `json:"err,omitempty"` // refusal / failure text, or the first error seen

	MsgsPerSec  stats.Summary     `json:"msgs_per_sec"`
	BytesPerSec stats.Summary     `json:"bytes_per_sec"`
	Latency     stats.Percentiles `json:"latency"`       // all repetitions pooled
	OfferedRate float64           `json:"offered_rate"`  // latency workload: msgs/s offered
	CPUSeconds  stats.Summary     `json:"cpu_seconds"`   // server CPU per repetition
	PeakRSS     int64             `json:"peak_rss"`      // server VmHWM over the measured repetitions
	Errors      int64             `json:"errors"`        // summed over repetitions
	Lag         *Lag              `json:"lag,omitempty"` // mirror-live only
}

// Lag summarizes, over the repetitions, how far a mirror was behind its
// origin when the last publish was acknowledged, and how long it then took
// to catch up.
type Lag struct {
	Msgs       stats.Summary `json:"msgs"`
	Bytes      stats.Summary `json:"bytes"`
	CatchUpSec stats.Summary `json:"catch_up_sec"`
}

// LimitFor says which machine limit a workload is compared with, its value in
// bytes per second and a label; ok is false for workloads with no such limit
// (latency runs at a fixed offered load).
func (r *Run) LimitFor(workload string) (bps float64, label string, ok bool) {
	switch baseOf(workload) {
	case "core", "js-fetch", "obj-get", "js-pubfetch", "r3-fetch", "nb-core", "nb-js-fetch":
		return r.Limits.LoopbackBps, "loopback TCP", r.Limits.LoopbackBps > 0
	case "js-pub", "obj-put", "r3-pub", "mirror", "mirror-live", "js-fastpub", "r3-fastpub", "nb-js-pubasync":
		if len(r.Limits.Disk) > 0 {
			return 0, diskLabel, true // per size: LimitAt
		}
		return r.Limits.DiskFsyncBps, "disk write+fsync", r.Limits.DiskFsyncBps > 0
	}
	return 0, "", false
}

// Find returns the point for server, workload and size, or nil.
func (r *Run) Find(server, workload string, size int64) *Point {
	for i := range r.Points {
		p := &r.Points[i]
		if p.Server == server && p.Workload == workload && p.Size == size {
			return p
		}
	}
	return nil
}

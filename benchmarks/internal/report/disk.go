package report

import (
	"fmt"
	"math"

	"github.com/bargemq/barge/benchmarks/internal/units"
)

// DiskLimit is the disk probe (benchmarks/internal/limits.DiskLog) for one
// durable workload shape at one message size: barge's log write pattern
// with no CPU spent on anything else.
type DiskLimit struct {
	Shape         string  `json:"shape"` // DiskShapeJS or DiskShapeObj
	Size          int64   `json:"size"`  // message (object) size
	Bps           float64 `json:"bps"`   // acknowledged payload bytes per second
	Window        int     `json:"window"`
	BytesPerSync  float64 `json:"bytes_per_sync"`
	WritesPerSync float64 `json:"writes_per_sync"`
	Err           string  `json:"err,omitempty"`
}

// Disk probe shapes: obj-put (nats.go's 128 KiB chunks, one object at a
// time) has its own; every other disk-bound workload is compared with
// js-pub's (async publish within the window).
const (
	DiskShapeJS  = "js-pub"
	DiskShapeObj = "obj-put"
)

const diskLabel = "barge's log on disk"

// DiskShapeFor is the disk probe shape a workload is compared with, or ""
// when it is not bound by the disk.
func DiskShapeFor(workload string) string {
	switch baseOf(workload) {
	case "obj-put":
		return DiskShapeObj
	case "js-pub", "r3-pub", "mirror", "mirror-live", "js-fastpub", "r3-fastpub", "nb-js-pubasync":
		return DiskShapeJS
	}
	return ""
}

// LimitAt is the limit a workload is compared with at size: the disk probe
// of its shape at that size when the run has one, else LimitFor's. 0 when
// none was measured.
func (r *Run) LimitAt(workload string, size int64) float64 {
	if shape := DiskShapeFor(workload); shape != "" && len(r.Limits.Disk) > 0 {
		for _, d := range r.Limits.Disk {
			if d.Shape == shape && d.Size == size && d.Err == "" {
				return d.Bps
			}
		}
		return 0
	}
	lim, _, _ := r.LimitFor(workload)
	return lim
}

// diskRows prints the disk probe rows of the machine limits table.
func (r *Run) diskRows(pf func(string, ...any)) {
	for _, d := range r.Limits.Disk {
		what := fmt.Sprintf("%s, %s messages, %d in flight", d.Shape, units.FormatSize(d.Size), d.Window)
		if d.Shape == DiskShapeObj {
			what = fmt.Sprintf("%s, %s objects (128 KiB chunks), one at a time", d.Shape, units.FormatSize(d.Size))
		}
		if d.Err != "" {
			pf("| barge's log write pattern: %s | failed: %s |\n", what, d.Err)
			continue
		}
		pf("| barge's log write pattern: %s; %s and %.1f writes per fsync | %s |\n", what, bytesHuman(int64(d.BytesPerSync)), d.WritesPerSync, rate(d.Bps))
	}
}

// diskSeries is the disk probe by size for a workload's throughput plot.
func (r *Run) diskSeries(workload string, sizes []int64) Series {
	s := Series{Name: diskLabel, Color: colorLine, Values: make([]float64, len(sizes)), Marks: make([]string, len(sizes))}
	for i, sz := range sizes {
		s.Values[i] = math.NaN()
		if v := r.LimitAt(workload, sz); v > 0 {
			s.Values[i] = v / units.MiB
		}
	}
	return s
}

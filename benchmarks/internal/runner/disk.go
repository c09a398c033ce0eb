package runner

import (
	"path/filepath"
	"slices"

	"github.com/bargemq/barge/benchmarks/internal/limits"
	"github.com/bargemq/barge/benchmarks/internal/report"
	"github.com/bargemq/barge/benchmarks/internal/units"
)

// measureDisk runs the disk probe once per durable workload shape and
// size the run has (report.DiskShapeFor), in a fresh directory under
// WorkDir, each for at most LimitDur and FsyncTotal of payload.
func (r *runner) measureDisk(sizes []int64) {
	c := r.cfg
	for _, size := range sizes {
		for _, shape := range []string{report.DiskShapeJS, report.DiskShapeObj} {
			if !slices.ContainsFunc(c.Workloads, func(wl string) bool {
				return report.DiskShapeFor(wl) == shape && c.runsAt(wl, size)
			}) {
				continue
			}
			sh := limits.ObjPutShape(size)
			if shape == report.DiskShapeJS {
				sh = limits.JSPubShape(size, c.Window)
			}
			dir := filepath.Join(c.WorkDir, "disk-probe")
			d := report.DiskLimit{Shape: shape, Size: size, Window: sh.Window}
			res, err := limits.DiskLog(dir, sh, c.FsyncTotal, c.LimitDur)
			if err != nil {
				d.Err = err.Error()
				r.logf("disk probe %s %s failed: %v", shape, units.FormatSize(size), err)
			} else {
				d.Bps, d.BytesPerSync, d.WritesPerSync = res.Bps, res.BytesPerSync(), res.WritesPerSync()
				r.logf("disk probe %s %s: %.0f MiB/s, %d msgs, %.1f MiB and %.1f writes per fsync, %d rolls",
					shape, units.FormatSize(size), res.Bps/units.MiB, res.Msgs, res.BytesPerSync()/units.MiB, res.WritesPerSync(), res.Rolls)
			}
			r.run.Limits.Disk = append(r.run.Limits.Disk, d)
		}
	}
}

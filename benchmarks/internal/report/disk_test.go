package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestDiskLimitPerSize: with the log-shaped disk probe, each durable point
// is divided by the probe of its own shape at its own size, the limits
// table lists every probe, and a size with no probe reads "—".
func TestDiskLimitPerSize(t *testing.T) {
	r := fakeRun()
	r.Limits = Limits{LoopbackBps: 2000 << 20, Disk: []DiskLimit{
		{Shape: DiskShapeJS, Size: 1 << 20, Bps: 600 << 20, Window: 32, BytesPerSync: 16 << 20, WritesPerSync: 16},
		{Shape: DiskShapeObj, Size: 1 << 20, Bps: 100 << 20, Window: 4000, BytesPerSync: 1 << 20, WritesPerSync: 9},
	}}
	if got := r.LimitAt("js-pub", 1<<20); got != 600<<20 {
		t.Errorf("js-pub limit %v", got)
	}
	if got := r.LimitAt("tls-obj-put", 1<<20); got != 100<<20 {
		t.Errorf("tls-obj-put limit %v", got)
	}
	if got := r.LimitAt("js-pub", 256<<20); got != 0 {
		t.Errorf("limit at an unprobed size %v", got)
	}
	if got := r.LimitAt("core", 1<<20); got != 2000<<20 {
		t.Errorf("core limit %v", got)
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, nil); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| js-pub / barge (÷ barge's log on disk) | 50% | — |", // 300 of 600 MiB/s; 256 MiB unprobed
		"| js-pub / nats-server (÷ barge's log on disk) | 33% | refused |",
		"barge's log write pattern: js-pub, 1MiB messages, 32 in flight; 16.0 MiB and 16.0 writes per fsync | 600 MiB/s",
		"barge's log write pattern: obj-put, 1MiB objects (128 KiB chunks), one at a time",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "sequential write + fsync") {
		t.Errorf("the old probe's row is printed without its figure:\n%s", md)
	}
	tp, _ := r.Plots("js-pub")
	var svg bytes.Buffer
	if err := tp.WriteSVG(&svg); err != nil || strings.Contains(svg.String(), "NaN") || !strings.Contains(svg.String(), "log on disk") {
		t.Errorf("plot: %v\n%s", err, svg.String())
	}
}

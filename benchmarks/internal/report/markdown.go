package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/units"
)

// Server names as they appear in points and reports. Ceiling is the
// suite's yardstick (cmd/ceiling): the least a server can do for the same
// client, from memory.
const (
	NATS    = "nats-server"
	Barge   = "barge"
	Ceiling = "ceiling"
)

// ClusterSettings suffixes a server's name in Run.Settings for how its
// cluster (the replicated workloads') was started.
const ClusterSettings = " cluster"

// tlsPrefix and authPrefix name a workload's TLS and authenticated
// variants (workload.TLSPrefix, workload.AuthPrefix).
const (
	tlsPrefix  = "tls-"
	authPrefix = "auth-"
)

// baseOf is the workload a variant runs (w itself for the others).
func baseOf(w string) string {
	return strings.TrimPrefix(strings.TrimPrefix(w, tlsPrefix), authPrefix)
}

// describe says in one line what each workload measures.
func describe(w string) string {
	if base, ok := strings.CutPrefix(w, tlsPrefix); ok {
		return "Over TLS (both servers' client port TLS only, the same generated certificate, server-only TLS): " + describe(base)
	}
	if base, ok := strings.CutPrefix(w, authPrefix); ok {
		return "With authentication (both servers started from the same config file: users with publish/subscribe permissions; the client logs in with a password): " + describe(base)
	}
	switch w {
	case "core":
		return "Core NATS: one publisher, one subscriber connection; the publisher keeps at most a window of undelivered bytes (≥ 2 messages) so a server that cuts slow consumers is measured at its sustainable rate."
	case "js-pub":
		return "JetStream async publish to a file-store R1 stream, a window of outstanding acks; MiB/s counts acknowledged payload."
	case "js-fetch":
		return "JetStream pull consumer reading a pre-filled stream with Fetch batches, explicit ack per message."
	case "latency":
		return "Publish (JetStream async, open loop at a fixed offered rate) and consume (pull iterator, explicit ack) at the same time; latency runs from the message's scheduled send time to its delivery."
	case "obj-put":
		return "Object Store put of one object per message size (nats.go chunks at 128 KiB and hashes with SHA-256)."
	case "obj-get":
		return "Object Store get of a stored object, streamed and digest-checked by nats.go."
	case "r3-pub":
		return "JetStream async publish to a file-store R3 stream on a three-node cluster of the same server, a window of outstanding acks; the client is connected to the stream leader's node. MiB/s counts acknowledged payload; CPU and peak RSS are summed over the three processes."
	case "r3-fetch":
		return "Pull consumer on the stream leader's node reading a pre-filled R3 stream (three-node cluster) with Fetch batches, explicit ack per message. nats-server's consumer is R3 (its default for an R3 stream: acks are replicated), barge's is its default too (node-local up to at least barge 93aec80). CPU and peak RSS are summed over the three processes."
	case "js-fastpub":
		return "JetStream fast-batch publish (ADR-50, allow_batched) to a file-store R1 stream: one batch per repetition through orbit.go's FastPublisher (as `nats bench js pub fast`), two flow windows of up to 500 messages outstanding; timed to the commit's PubAck."
	case "r3-fastpub":
		return "Like js-fastpub, into a file-store R3 stream on a three-node cluster of the same server, the client on the stream leader's node; CPU and peak RSS are summed over the three processes."
	case "js-pubfetch":
		return "JetStream publish then fetch of the same messages, per repetition."
	case "mirror":
		return "A new mirror of a pre-filled R1 file stream, timed from its create until its last sequence is the origin's (stream info polled every 5 ms); MiB/s counts mirrored payload."
	case "mirror-live":
		return "A mirror of an R1 file stream while the origin is published to at full speed (async, the window of outstanding acks); MiB/s is the copy throughput, from the first publish until the mirror holds the last message (stream info polled every 5 ms). Behind: the messages (and payload) the mirror lacked when the last publish was acknowledged; catch-up: the time from then until it held them."
	}
	return describeNatsBench(w)
}

// Sizes returns the message sizes present in the run, ascending.
func (r *Run) Sizes() []int64 {
	var s []int64
	for _, p := range r.Points {
		if !slices.Contains(s, p.Size) {
			s = append(s, p.Size)
		}
	}
	slices.Sort(s)
	return s
}

// Workloads returns the workloads present in the run, in first-seen order.
func (r *Run) Workloads() []string {
	var w []string
	for _, p := range r.Points {
		if !slices.Contains(w, p.Workload) {
			w = append(w, p.Workload)
		}
	}
	return w
}

// Servers returns the servers present in the run: nats-server, barge,
// then the ceiling.
func (r *Run) Servers() []string {
	var s []string
	for _, name := range []string{NATS, Barge, Ceiling} {
		if slices.ContainsFunc(r.Points, func(p Point) bool { return p.Server == name }) {
			s = append(s, name)
		}
	}
	return s
}

// Ratio returns barge's median throughput over nats-server's for a workload
// and size, and whether both were measured.
func (r *Run) Ratio(workload string, size int64) (float64, bool) {
	return r.RatioTo(NATS, workload, size)
}

// RatioTo returns barge's median throughput over another server's (NATS
// or Ceiling) for a workload and size, and whether both were measured.
func (r *Run) RatioTo(other, workload string, size int64) (float64, bool) {
	b, n := r.Find(Barge, workload, size), r.Find(other, workload, size)
	if b == nil || n == nil || b.Status != StatusOK || n.Status != StatusOK || n.BytesPerSec.Median == 0 {
		return 0, false
	}
	return b.BytesPerSec.Median / n.BytesPerSec.Median, true
}

// has reports whether the run has points of server.
func (r *Run) has(server string) bool { return slices.Contains(r.Servers(), server) }

// WriteMarkdown renders the report. plots maps a workload to the file names
// of its SVG plots (relative to the report), which are linked under its table.
func (r *Run) WriteMarkdown(w io.Writer, plots map[string][]string) error {
	var b strings.Builder
	pf := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	pinned := ""
	if r.Pinned != "" {
		pinned = ", pinned"
	}
	pf("# barge vs nats-server%s — %s (rev %s)\n\n", pinned, r.Date.Format("2006-01-02 15:04 MST"), r.Rev)
	pf("Command: `%s`  \nRun took %s.\n\n", r.Command, r.Elapsed.Round(time.Second))

	pf("## Machine\n\n| CPU | cores | memory | kernel | Go | store filesystem |\n|---|---|---|---|---|---|\n")
	m := r.Machine
	pf("| %s | %d | %s | %s | %s | %s |\n\n", m.CPU, m.Cores, bytesHuman(m.MemBytes), m.Kernel, m.GoVersion, m.StoreFS)

	pf("## Servers\n\n| server | version | settings |\n|---|---|---|\n")
	for _, s := range r.Servers() {
		if set, ok := r.Settings[s]; ok || r.Settings[s+ClusterSettings] == "" {
			pf("| %s | %s | %s |\n", s, orDash(r.Versions[s]), orDash(set))
		}
		if set := r.Settings[s+ClusterSettings]; set != "" {
			pf("| %s (r3-* workloads) | %s | %s |\n", s, orDash(r.Versions[s]), set)
		}
	}
	pf("\n## Machine limits (measured in this run)\n\n| limit | bandwidth |\n|---|---|\n")
	pf("| loopback TCP, one connection, 1 MiB writes | %s |\n", rate(r.Limits.LoopbackBps))
	if r.Limits.DiskFsyncBps > 0 || len(r.Limits.Disk) == 0 {
		pf("| sequential write + fsync every %s (store dir's disk) | %s |\n", units.FormatSize(r.Limits.FsyncEvery), rate(r.Limits.DiskFsyncBps))
	}
	r.diskRows(pf)
	pf("\n")
	if len(r.Notes) > 0 {
		pf("## Method\n\n")
		for _, n := range r.Notes {
			pf("- %s\n", n)
		}
		pf("\n")
	}
	sizes := r.Sizes()
	r.summaryTables(pf, sizes)
	r.variantTables(pf, sizes, tlsPrefix, "TLS ÷ plaintext")
	r.variantTables(pf, sizes, authPrefix, "Auth ÷ no auth")
	for _, wl := range r.Workloads() {
		r.workloadTable(pf, wl, sizes, plots[wl])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSummary prints the short form of the report for the terminal: barge
// ÷ nats-server and barge ÷ ceiling per workload and size.
func (r *Run) WriteSummary(w io.Writer) error {
	var b strings.Builder
	sizes := r.Sizes()
	for _, other := range []string{NATS, Ceiling} {
		if !r.has(Barge) || !r.has(other) {
			continue
		}
		fmt.Fprintf(&b, "barge ÷ %s (median MiB/s; latency: p99, lower is better)\n%-16s", other, "")
		for _, s := range sizes {
			fmt.Fprintf(&b, " %12s", units.FormatSize(s))
		}
		b.WriteString("\n")
		for _, wl := range r.Workloads() {
			if !r.measured(other, wl) {
				continue
			}
			fmt.Fprintf(&b, "%-16s", wl)
			for _, s := range sizes {
				fmt.Fprintf(&b, " %12s", r.ratioCellTo(other, wl, s))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Run) summaryTables(pf func(string, ...any), sizes []int64) {
	head := func(first string) {
		pf("| %s |", first)
		for _, s := range sizes {
			pf(" %s |", units.FormatSize(s))
		}
		pf("\n|---|")
		for range sizes {
			pf("---|")
		}
		pf("\n")
	}
	for _, other := range []string{NATS, Ceiling} {
		if !r.has(Barge) || !r.has(other) {
			continue
		}
		pf("## barge ÷ %s (median MiB/s; latency: p99 ratio, lower is better)\n\n", other)
		if other == Ceiling {
			pf("How close barge comes to the least a server can do for the same client on this machine (cmd/ceiling: in memory, no disk, no checksums; see Method). 1.00× is the ceiling.\n\n")
		}
		head("workload")
		for _, wl := range r.Workloads() {
			if !r.measured(other, wl) {
				continue // the ceiling does not do replicas, TLS, auth or mirrors
			}
			pf("| %s |", wl)
			for _, s := range sizes {
				pf(" %s |", r.ratioCellTo(other, wl, s))
			}
			pf("\n")
		}
		pf("\n")
	}
	if r.has(Barge) && r.has(NATS) {
		pf("## Server CPU per message, barge ÷ nats-server (median server CPU seconds per repetition; both move the same messages; lower is better)\n\n")
		head("workload")
		for _, wl := range r.Workloads() {
			if !r.measured(NATS, wl) {
				continue
			}
			pf("| %s |", wl)
			for _, s := range sizes {
				pf(" %s |", r.cpuRatioCell(wl, s))
			}
			pf("\n")
		}
		pf("\n")
	}
	if r.Limits.LoopbackBps <= 0 && r.Limits.DiskFsyncBps <= 0 && len(r.Limits.Disk) == 0 {
		return
	}
	pf("## Fraction of the machine limit (median MiB/s ÷ limit)\n\n")
	head("workload / server")
	for _, wl := range r.Workloads() {
		_, label, ok := r.LimitFor(wl)
		if !ok {
			continue
		}
		for _, sv := range r.Servers() {
			if !r.measured(sv, wl) {
				continue
			}
			pf("| %s / %s (÷ %s) |", wl, sv, label)
			for _, s := range sizes {
				p := r.Find(sv, wl, s)
				pf(" %s |", fracCell(p, r.LimitAt(wl, s)))
			}
			pf("\n")
		}
	}
	pf("\n")
}

func (r *Run) ratioCell(wl string, size int64) string { return r.ratioCellTo(NATS, wl, size) }

// measured reports whether server has a point of wl that is not n/a.
func (r *Run) measured(server, wl string) bool {
	for _, p := range r.Points {
		if p.Server == server && p.Workload == wl && p.Status != StatusNA {
			return true
		}
	}
	return false
}

// ratioCellTo is barge ÷ other for one workload and size, as a table cell.
func (r *Run) ratioCellTo(other, wl string, size int64) string {
	if baseOf(wl) == "latency" {
		// Both run at the same offered load: compare p99 (lower is better).
		b, n := r.Find(Barge, wl, size), r.Find(other, wl, size)
		if b != nil && n != nil && b.Status == StatusOK && n.Status == StatusOK && n.Latency.P99 > 0 {
			return fmt.Sprintf("p99 %.2f×", float64(b.Latency.P99)/float64(n.Latency.P99))
		}
	}
	if v, ok := r.RatioTo(other, wl, size); ok {
		return fmt.Sprintf("%.2f×", v)
	}
	b, n := r.Find(Barge, wl, size), r.Find(other, wl, size)
	if b != nil && b.Status == StatusOK && n != nil && n.Status == StatusRefused {
		return "barge only"
	}
	return "—"
}

// cpuRatioCell is barge's median server CPU per repetition over
// nats-server's for one point, or "—".
func (r *Run) cpuRatioCell(wl string, size int64) string {
	b, n := r.Find(Barge, wl, size), r.Find(NATS, wl, size)
	if b == nil || n == nil || b.Status != StatusOK || n.Status != StatusOK || n.CPUSeconds.Median <= 0 || b.Count != n.Count {
		return "—"
	}
	return fmt.Sprintf("%.2f×", b.CPUSeconds.Median/n.CPUSeconds.Median)
}

func fracCell(p *Point, lim float64) string {
	if p == nil {
		return "—"
	}
	if p.Status != StatusOK {
		return p.Status
	}
	if lim <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*p.BytesPerSec.Median/lim)
}

func (r *Run) workloadTable(pf func(string, ...any), wl string, sizes []int64, plots []string) {
	pf("## %s\n\n%s\n\n", wl, describe(wl))
	for _, p := range plots {
		pf("![%s](%s) ", p, p)
	}
	if len(plots) > 0 {
		pf("\n\n")
	}
	_, label, hasLim := r.LimitFor(wl)
	isLat := baseOf(wl) == "latency"
	isLag := wl == "mirror-live"
	pf("| size | server | msgs/rep | msgs/s | MiB/s median (min–max) |")
	if hasLim {
		pf(" of %s |", label)
	}
	if isLat {
		pf(" offered msgs/s | p50 | p99 | p99.9 |")
	}
	if isLag {
		pf(" behind at last ack: msgs (MiB) | catch-up s |")
	}
	pf(" server CPU s/rep | server peak RSS | errors | barge ÷ nats |\n|---|---|---|---|---|")
	if hasLim {
		pf("---|")
	}
	if isLat {
		pf("---|---|---|---|")
	}
	if isLag {
		pf("---|---|")
	}
	pf("---|---|---|---|\n")
	var notes []string
	for _, s := range sizes {
		for _, sv := range r.Servers() {
			p := r.Find(sv, wl, s)
			if p == nil {
				continue
			}
			pf("| %s | %s | %d |", units.FormatSize(s), sv, p.Count)
			if p.Status != StatusOK {
				n := 3
				if hasLim {
					n++
				}
				if isLat {
					n += 4
				}
				if isLag {
					n += 2
				}
				pf(" **%s** |%s", p.Status, strings.Repeat(" |", n))
				pf(" %s | — |\n", note(&notes, p.Err))
				continue
			}
			pf(" %s | %.1f (%.1f–%.1f) |", msgRate(p.MsgsPerSec.Median), mib(p.BytesPerSec.Median), mib(p.BytesPerSec.Min), mib(p.BytesPerSec.Max))
			if hasLim {
				pf(" %s |", fracCell(p, r.LimitAt(wl, s)))
			}
			if isLat {
				l := p.Latency
				pf(" %.3g | %s | %s | %s |", p.OfferedRate, dur(l.P50), dur(l.P99), dur(l.P999))
			}
			if isLag {
				if l := p.Lag; l != nil {
					pf(" %.0f (%.1f) | %.2f (%.2f–%.2f) |", l.Msgs.Median, mib(l.Bytes.Median), l.CatchUpSec.Median, l.CatchUpSec.Min, l.CatchUpSec.Max)
				} else {
					pf(" — | — |")
				}
			}
			errs := fmt.Sprint(p.Errors)
			if p.Errors > 0 && p.Err != "" {
				errs += " " + note(&notes, p.Err)
			}
			ratio := "—"
			if sv == Barge {
				ratio = r.ratioCell(wl, s)
			}
			pf(" %.2f | %s | %s | %s |\n", p.CPUSeconds.Median, bytesHuman(p.PeakRSS), errs, ratio)
		}
	}
	for i, n := range notes {
		pf("\n[%d] %s", i+1, n)
	}
	if len(notes) > 0 {
		pf("\n")
	}
	pf("\n")
}

// note files an error text under a numbered footnote and returns its marker.
func note(notes *[]string, text string) string {
	if text == "" {
		return ""
	}
	text = strings.ReplaceAll(strings.TrimSpace(text), "\n", " ")
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	i := slices.Index(*notes, text)
	if i < 0 {
		*notes = append(*notes, text)
		i = len(*notes) - 1
	}
	return fmt.Sprintf("[%d]", i+1)
}

func mib(bps float64) float64 { return bps / units.MiB }

func rate(bps float64) string {
	if bps <= 0 {
		return "not measured"
	}
	return fmt.Sprintf("%.0f MiB/s (%.2f GB/s)", bps/units.MiB, bps/1e9)
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// bytesHuman spells a memory size with one decimal: "54.5 MiB", "1.2 GiB".
func bytesHuman(n int64) string {
	switch {
	case n <= 0:
		return "—"
	case n >= units.GiB:
		return fmt.Sprintf("%.2f GiB", float64(n)/units.GiB)
	case n >= units.MiB:
		return fmt.Sprintf("%.1f MiB", float64(n)/units.MiB)
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/units.KiB)
}

// msgRate prints whole messages per second, or three digits below 100.
func msgRate(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// variantTables compares each workload named with prefix (tls-*, auth-*)
// with its plain run on the same server (median MiB/s ratio, under the
// heading title), and gives server CPU seconds per GiB of payload for
// both, when the run has such workloads.
func (r *Run) variantTables(pf func(string, ...any), sizes []int64, prefix, title string) {
	var tlsWls []string
	for _, wl := range r.Workloads() {
		if strings.HasPrefix(wl, prefix) {
			tlsWls = append(tlsWls, wl)
		}
	}
	if len(tlsWls) == 0 {
		return
	}
	head := func(first string) {
		pf("| %s |", first)
		for _, s := range sizes {
			pf(" %s |", units.FormatSize(s))
		}
		pf("\n|---|")
		for range sizes {
			pf("---|")
		}
		pf("\n")
	}
	ok := func(p *Point) bool { return p != nil && p.Status == StatusOK }
	pf("## %s, same server (median MiB/s)\n\n", title)
	head("workload / server")
	for _, wl := range tlsWls {
		base := strings.TrimPrefix(wl, prefix)
		for _, sv := range r.Servers() {
			if !r.measured(sv, wl) {
				continue
			}
			pf("| %s ÷ %s / %s |", wl, base, sv)
			for _, s := range sizes {
				t, p := r.Find(sv, wl, s), r.Find(sv, base, s)
				if ok(t) && ok(p) && p.BytesPerSec.Median > 0 {
					pf(" %.2f× |", t.BytesPerSec.Median/p.BytesPerSec.Median)
				} else {
					pf(" — |")
				}
			}
			pf("\n")
		}
	}
	pf("\n## Server CPU seconds per GiB of payload (median, %s)\n\n", title)
	head("workload / server")
	for _, wl := range tlsWls {
		for _, w := range []string{strings.TrimPrefix(wl, prefix), wl} {
			for _, sv := range r.Servers() {
				if !r.measured(sv, w) {
					continue
				}
				pf("| %s / %s |", w, sv)
				for _, s := range sizes {
					pf(" %s |", cpuPerGiB(r.Find(sv, w, s)))
				}
				pf("\n")
			}
		}
	}
	pf("\n")
}

// cpuPerGiB is a point's median server CPU seconds per repetition over
// the GiB of payload a repetition moves.
func cpuPerGiB(p *Point) string {
	if p == nil || p.Status != StatusOK || p.Count == 0 || p.Size == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", p.CPUSeconds.Median/(float64(p.Count)*float64(p.Size)/(1<<30)))
}

package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"

	"github.com/bargemq/barge/benchmarks/internal/units"
)

// Series is one line of a chart; NaN values are gaps (not measured, refused).
type Series struct {
	Name   string
	Color  string
	Values []float64
	Marks  []string // optional per-point label drawn at the x axis (e.g. "refused")
}

// Chart is a line chart over categorical x values (message sizes), drawn as
// a self-contained SVG with no dependencies.
type Chart struct {
	Title      string
	YLabel     string
	XLabels    []string
	Series     []Series
	LimitValue float64 // horizontal dashed line; 0 for none
	LimitLabel string
	LogY       bool
}

const (
	svgW, svgH                       = 720, 420
	padL, padR, padT, padB           = 80, 150, 40, 60
	plotW, plotH                     = svgW - padL - padR, svgH - padT - padB
	colorNATS, colorBarge, colorLine = "#2f6db5", "#d9622b", "#555"
	colorCeiling                     = "#8a8a8a"
)

// SeriesColor returns the color used for a server in every plot.
func SeriesColor(server string) string {
	switch server {
	case Barge:
		return colorBarge
	case Ceiling:
		return colorCeiling
	}
	return colorNATS
}

// WriteSVG draws the chart.
func (c *Chart) WriteSVG(w io.Writer) error {
	var b strings.Builder
	pf := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	lo, hi := c.yRange()
	ypos := func(v float64) float64 {
		if c.LogY {
			return padT + plotH - plotH*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
		}
		return padT + plotH - plotH*(v-lo)/(hi-lo)
	}
	n := max(len(c.XLabels), 1)
	xpos := func(i int) float64 { return padL + plotW*(float64(i)+0.5)/float64(n) }

	pf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	pf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	pf(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(c.Title))
	// Grid and y ticks.
	for _, t := range c.yTicks(lo, hi) {
		y := ypos(t)
		pf(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", padL, padL+plotW, y, y)
		pf(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", padL-6, y, tickLabel(t))
	}
	pf(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", padL, padT, plotW, plotH)
	pf(`<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+plotH/2, html.EscapeString(c.YLabel))
	for i, l := range c.XLabels {
		pf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xpos(i), padT+plotH+18, html.EscapeString(l))
	}
	pf(`<text x="%d" y="%d" text-anchor="middle">message size</text>`+"\n", padL+plotW/2, svgH-12)
	if c.LimitValue > 0 && c.LimitValue >= lo && c.LimitValue <= hi {
		y := ypos(c.LimitValue)
		pf(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4" stroke-width="1.5"/>`+"\n", padL, padL+plotW, y, y, colorLine)
		pf(`<text x="%d" y="%.1f" dominant-baseline="middle" fill="%s">%s</text>`+"\n", padL+plotW+6, y, colorLine, html.EscapeString(c.LimitLabel))
	}
	for si, s := range c.Series {
		var path []string
		for i, v := range s.Values {
			if math.IsNaN(v) || v <= 0 && c.LogY {
				if len(path) > 1 {
					pf(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.Color, strings.Join(path, " "))
				}
				path = path[:0]
				continue
			}
			x, y := xpos(i), ypos(math.Max(v, lo))
			path = append(path, fmt.Sprintf("%.1f,%.1f", x, y))
			pf(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s: %s</title></circle>`+"\n", x, y, s.Color, html.EscapeString(s.Name), html.EscapeString(c.XLabels[i]), tickLabel(v))
		}
		if len(path) > 1 {
			pf(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.Color, strings.Join(path, " "))
		}
		for i, m := range s.Marks {
			if m != "" && i < n {
				pf(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s" font-size="10">%s</text>`+"\n", xpos(i), float64(padT+plotH-6-12*si), s.Color, html.EscapeString(m))
			}
		}
		ly := padT + 10 + 18*si
		pf(`<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", padL+plotW+6, padL+plotW+26, ly, ly, s.Color)
		pf(`<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", padL+plotW+30, ly, html.EscapeString(s.Name))
	}
	pf("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// yRange covers every value and the limit line, with headroom.
func (c *Chart) yRange() (lo, hi float64) {
	hi = c.LimitValue
	lo = math.Inf(1)
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && v > 0 {
				hi = math.Max(hi, v)
				lo = math.Min(lo, v)
			}
		}
	}
	if hi <= 0 {
		hi = 1
	}
	if !c.LogY {
		return 0, hi * 1.1
	}
	if math.IsInf(lo, 1) {
		lo = hi / 10
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi*1.01)))
	return lo, hi
}

func (c *Chart) yTicks(lo, hi float64) []float64 {
	var t []float64
	if c.LogY {
		for v := lo; v <= hi*1.0001; v *= 10 {
			t = append(t, v)
		}
		return t
	}
	step := math.Pow(10, math.Floor(math.Log10(hi/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if hi/(step*m) <= 7 {
			step *= m
			break
		}
	}
	for v := 0.0; v <= hi; v += step {
		t = append(t, v)
	}
	return t
}

func tickLabel(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// Plots builds, for one workload, the throughput chart (MiB/s by size, both
// servers, limit line) and the peak RSS chart (MiB by size, log scale).
func (r *Run) Plots(workload string) (throughput, rss *Chart) {
	sizes := r.Sizes()
	labels := make([]string, len(sizes))
	for i, s := range sizes {
		labels[i] = units.FormatSize(s)
	}
	throughput = &Chart{Title: workload + ": throughput by message size", YLabel: "MiB/s (median)", XLabels: labels}
	rss = &Chart{Title: workload + ": server peak RSS by message size", YLabel: "peak RSS, MiB (log)", XLabels: labels, LogY: true}
	if lim, label, ok := r.LimitFor(workload); ok && lim > 0 {
		throughput.LimitValue, throughput.LimitLabel = lim/units.MiB, label
	} else if ok {
		throughput.Series = append(throughput.Series, r.diskSeries(workload, sizes))
	}
	for _, sv := range r.Servers() {
		t := Series{Name: sv, Color: SeriesColor(sv), Values: make([]float64, len(sizes)), Marks: make([]string, len(sizes))}
		m := Series{Name: sv, Color: SeriesColor(sv), Values: make([]float64, len(sizes))}
		for i, s := range sizes {
			t.Values[i], m.Values[i] = math.NaN(), math.NaN()
			p := r.Find(sv, workload, s)
			switch {
			case p == nil:
			case p.Status == StatusOK:
				t.Values[i] = p.BytesPerSec.Median / units.MiB
				m.Values[i] = float64(p.PeakRSS) / units.MiB
			default:
				t.Marks[i] = p.Status
			}
		}
		throughput.Series = append(throughput.Series, t)
		rss.Series = append(rss.Series, m)
	}
	return throughput, rss
}

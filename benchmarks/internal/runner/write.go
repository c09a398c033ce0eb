package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bargemq/barge/benchmarks/internal/report"
)

// write stores the run under dir as <date>-<rev>.md with its .json and SVG
// plots beside it, and, when latest is set, copies the Markdown to latest.md
// (same directory, so its relative plot links still work). A pinned run is
// <date>-<rev>-pinned.md and latest-pinned.md. It returns the report's path.
func write(run *report.Run, dir string, latest bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	suffix, latestName := "", "latest.md"
	if run.Pinned != "" {
		// A pinned run sits beside the unpinned ones, under its own name.
		suffix, latestName = "-pinned", "latest-pinned.md"
	}
	base := fmt.Sprintf("%s-%s%s", run.Date.Format("2006-01-02-1504"), run.Rev, suffix)
	// Two short runs in one minute of one revision would share the name:
	// the later one gets a suffix rather than overwriting the first.
	for n := 2; ; n++ {
		if _, err := os.Stat(filepath.Join(dir, base+".json")); errors.Is(err, fs.ErrNotExist) {
			break
		}
		base = fmt.Sprintf("%s-%s%s-%d", run.Date.Format("2006-01-02-1504"), run.Rev, suffix, n)
	}
	plots := map[string][]string{}
	for _, wl := range run.Workloads() {
		tp, rss := run.Plots(wl)
		for _, c := range []struct {
			kind  string
			chart *report.Chart
		}{{"throughput", tp}, {"rss", rss}} {
			name := fmt.Sprintf("%s-%s-%s.svg", base, wl, c.kind)
			var b bytes.Buffer
			if err := c.chart.WriteSVG(&b); err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
				return "", err
			}
			plots[wl] = append(plots[wl], name)
		}
	}
	js, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, base+".json"), js, 0o644); err != nil {
		return "", err
	}
	var md bytes.Buffer
	if err := run.WriteMarkdown(&md, plots); err != nil {
		return "", err
	}
	path := filepath.Join(dir, base+".md")
	if err := os.WriteFile(path, md.Bytes(), 0o644); err != nil {
		return "", err
	}
	if !latest {
		return path, nil
	}
	cp := append([]byte(fmt.Sprintf("<!-- copy of %s.md -->\n", base)), md.Bytes()...)
	return path, os.WriteFile(filepath.Join(dir, latestName), cp, 0o644)
}

// Render rewrites the Markdown report and plots of a stored run (its .json)
// into dir, e.g. after the report's layout changed, and copies it to
// latest.md when latest is set. It returns the run and the report's path.
func Render(jsonPath, dir string, latest bool) (*report.Run, string, error) {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, "", err
	}
	var run report.Run
	if err := json.Unmarshal(b, &run); err != nil {
		return nil, "", err
	}
	path, err := write(&run, dir, latest)
	return &run, path, err
}

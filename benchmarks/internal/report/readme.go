package report

import (
	"fmt"
	"strings"
)

// README markers: the block between them is the benchmark summary that
// `bargebench -readme` rewrites from a run.
const (
	ReadmeStart = "<!-- bench-summary:start (bargebench -readme rewrites this block) -->"
	ReadmeEnd   = "<!-- bench-summary:end -->"
)

// ReadmeSummary renders the run's ratio and fraction tables for the
// README: where they come from (report link, command, machine), then the
// same tables as the report's summary, their headings made level-4.
func (r *Run) ReadmeSummary(reportLink string) string {
	var b strings.Builder
	pf := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	mode := "client and servers sharing the cores"
	if r.Pinned != "" {
		mode = "pinned: " + r.Pinned
	}
	pf("From [%s](%s), %s, `%s`: %s, %d cores, %s; %s.\n\n",
		strings.TrimPrefix(reportLink, "benchmarks/"), reportLink, r.Date.UTC().Format("2006-01-02 15:04 UTC"),
		r.Command, r.Machine.CPU, r.Machine.Cores, r.Machine.StoreFS, mode)
	var t strings.Builder
	r.summaryTables(func(format string, a ...any) { fmt.Fprintf(&t, format, a...) }, r.Sizes())
	for line := range strings.SplitAfterSeq(t.String(), "\n") {
		if strings.HasPrefix(line, "## ") {
			line = "#### " + strings.TrimPrefix(line, "## ")
		}
		b.WriteString(line)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// ReplaceReadmeBlock returns doc with the text between ReadmeStart and
// ReadmeEnd replaced by block, or an error when the markers are missing or
// out of order (the README is then left alone).
func ReplaceReadmeBlock(doc, block string) (string, error) {
	i := strings.Index(doc, ReadmeStart)
	j := strings.Index(doc, ReadmeEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("README has no %q … %q block", ReadmeStart, ReadmeEnd)
	}
	return doc[:i+len(ReadmeStart)] + "\n" + block + doc[j:], nil
}

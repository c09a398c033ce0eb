package workload

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Result is what one natscli bench run reported.
type Result struct {
	Msgs    int64         // messages of the timed job
	Bytes   int64         // their payload bytes
	Elapsed time.Duration // natscli's own timing: first to last message

	// MsgsPerSec and BytesPerSec are the stats line as printed (bytes/s
	// humanized by natscli to two or three digits).
	MsgsPerSec, BytesPerSec float64

	Warnings []string // natscli's "WARNING: …" lines (timeouts, disconnects, errors)
}

// statsLine matches natscli's result line, e.g.
// "NATS JetStream synchronous publisher stats: 26,661 msgs/sec ~ 26 MiB/sec ~ min: …"
// (or "… aggregated stats: …" with several clients).
var statsLine = regexp.MustCompile(`stats: ([0-9,]+) msgs/sec ~ ([0-9.]+) ([KMGTPE]?i?B)/sec`)

// ParseNatsBenchStats reads natscli's stdout: the messages per second and
// bytes per second of its (last) stats line.
func ParseNatsBenchStats(stdout string) (msgsPerSec, bytesPerSec float64, err error) {
	all := statsLine.FindAllStringSubmatch(stdout, -1)
	if len(all) == 0 {
		return 0, 0, fmt.Errorf("no stats line in natscli's output")
	}
	m := all[len(all)-1]
	if msgsPerSec, err = strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64); err != nil {
		return 0, 0, fmt.Errorf("stats line: %w", err)
	}
	v, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return 0, 0, fmt.Errorf("stats line: %w", err)
	}
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60}[m[3]]
	if mult == 0 {
		return 0, 0, fmt.Errorf("stats line: unknown unit %q", m[3])
	}
	return msgsPerSec, v * mult, nil
}

// ParseNatsBenchCSV reads the file natscli's --csv writes: one row per
// client, MsgBytes (the job's messages × --size) and DurationSecs (its
// timing to the microsecond). The messages are the payload bytes over size;
// the elapsed time is the longest client's.
func ParseNatsBenchCSV(text string, size int64) (Result, error) {
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		return Result{}, fmt.Errorf("csv: %w", err)
	}
	if len(rows) < 2 {
		return Result{}, fmt.Errorf("csv: no rows")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(h, "#")] = i
	}
	bi, ok1 := col["MsgBytes"]
	di, ok2 := col["DurationSecs"]
	if !ok1 || !ok2 || size <= 0 {
		return Result{}, fmt.Errorf("csv: no MsgBytes or DurationSecs column in %q", rows[0])
	}
	var res Result
	for _, row := range rows[1:] {
		if len(row) <= max(bi, di) {
			return Result{}, fmt.Errorf("csv: short row %q", row)
		}
		b, err := strconv.ParseInt(row[bi], 10, 64)
		if err != nil {
			return Result{}, fmt.Errorf("csv: MsgBytes: %w", err)
		}
		d, err := strconv.ParseFloat(row[di], 64)
		if err != nil {
			return Result{}, fmt.Errorf("csv: DurationSecs: %w", err)
		}
		res.Bytes += b
		res.Elapsed = max(res.Elapsed, time.Duration(d*float64(time.Second)))
	}
	res.Msgs = res.Bytes / size
	if res.Elapsed <= 0 {
		return Result{}, fmt.Errorf("csv: zero duration")
	}
	return res, nil
}

// Warnings returns natscli's warning lines (it logs them to stderr after a
// time stamp), without the time stamp.
func Warnings(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if i := strings.Index(l, "WARNING:"); i >= 0 {
			out = append(out, strings.TrimSpace(l[i:]))
		}
	}
	return out
}

// subscribed reports whether monitor's /connz lists a connection named name
// with at least one subscription.
func subscribed(ctx context.Context, monitor, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, monitor+"/connz?limit=4096", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET /connz: %s", resp.Status)
	}
	var cz struct {
		Connections []struct {
			Name          string `json:"name"`
			Subscriptions int    `json:"subscriptions"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cz); err != nil {
		return false, fmt.Errorf("GET /connz: %w", err)
	}
	for _, c := range cz.Connections {
		if c.Name == name && c.Subscriptions > 0 {
			return true, nil
		}
	}
	return false, nil
}

// Package stats reduces repeated measurements to a median with its spread,
// and latency samples to percentiles.
package stats

import (
	"slices"
	"time"
)

// Summary is the median of N repetitions and their range.
type Summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Summarize returns the median, min and max of xs; the zero Summary for none.
// xs is not modified.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// SpreadPct is (max-min)/median in percent, or 0 when the median is 0.
func (s Summary) SpreadPct() float64 {
	if s.Median == 0 {
		return 0
	}
	return 100 * (s.Max - s.Min) / s.Median
}

// Percentiles of a latency distribution.
type Percentiles struct {
	P50   time.Duration `json:"p50"`
	P99   time.Duration `json:"p99"`
	P999  time.Duration `json:"p999"`
	Max   time.Duration `json:"max"`
	Count int           `json:"count"`
}

// LatencyPercentiles sorts samples in place and returns p50, p99, p99.9 and
// max (nearest-rank); the zero value for no samples.
func LatencyPercentiles(samples []time.Duration) Percentiles {
	if len(samples) == 0 {
		return Percentiles{}
	}
	slices.Sort(samples)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(samples))+0.999999) - 1
		return samples[max(0, min(i, len(samples)-1))]
	}
	return Percentiles{P50: at(0.50), P99: at(0.99), P999: at(0.999), Max: samples[len(samples)-1], Count: len(samples)}
}

package stats

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{3, 1, 2})
	if s.Median != 2 || s.Min != 1 || s.Max != 3 || s.N != 3 {
		t.Fatalf("got %+v", s)
	}
	if s := Summarize([]float64{1, 3}); s.Median != 2 {
		t.Fatalf("even median = %v", s.Median)
	}
}

func TestLatencyPercentiles(t *testing.T) {
	var xs []time.Duration
	for i := 1000; i >= 1; i-- {
		xs = append(xs, time.Duration(i))
	}
	p := LatencyPercentiles(xs)
	if p.P50 != 500 || p.P99 != 990 || p.P999 != 999 || p.Max != 1000 || p.Count != 1000 {
		t.Fatalf("got %+v", p)
	}
}

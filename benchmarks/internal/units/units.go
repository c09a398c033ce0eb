// Package units parses and formats byte sizes the way the suite's flags and
// reports spell them: 16B, 1KiB, 64KiB, 1MiB, 31MiB, 1GiB (also 1KB = 1000, 64MB = 64e6).
package units

import (
	"fmt"
	"strconv"
	"strings"
)

// Binary multiples used throughout the suite.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

var suffixes = []struct {
	s string
	m int64
}{
	{"KIB", KiB}, {"MIB", MiB}, {"GIB", GiB},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", KiB}, {"M", MiB}, {"G", GiB},
	{"B", 1},
}

// ParseSize turns "64KiB", "31MiB", "2GB" or "1024" into bytes. It returns an
// error for an empty, negative or unparsable value.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, x := range suffixes {
		if strings.HasSuffix(t, x.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, x.s)), x.m
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("units: bad size %q", s)
	}
	return int64(n * float64(mult)), nil
}

// ParseSizes parses a comma-separated list of sizes, keeping the given order.
func ParseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := ParseSize(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// FormatSize spells n with the largest binary unit that divides it exactly
// ("1MiB", "31MiB", "16B"), or with one decimal otherwise ("1.5MiB").
func FormatSize(n int64) string {
	switch {
	case n >= GiB && n%GiB == 0:
		return fmt.Sprintf("%dGiB", n/GiB)
	case n >= MiB && n%MiB == 0:
		return fmt.Sprintf("%dMiB", n/MiB)
	case n >= KiB && n%KiB == 0:
		return fmt.Sprintf("%dKiB", n/KiB)
	case n >= GiB:
		return fmt.Sprintf("%.1fGiB", float64(n)/GiB)
	case n >= MiB:
		return fmt.Sprintf("%.1fMiB", float64(n)/MiB)
	case n >= KiB:
		return fmt.Sprintf("%.1fKiB", float64(n)/KiB)
	}
	return fmt.Sprintf("%dB", n)
}

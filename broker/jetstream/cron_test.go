package jetstream

import (
	"testing"
	"time"
)

// TestCronNext: the next firing of cron patterns (six fields, names,
// ranges, steps, lists, the shortcuts, day-of-month or day-of-week, time
// zones), and patterns refused.
func TestCronNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	from := time.Date(2026, 1, 1, 10, 30, 15, 0, time.UTC) // a Thursday
	for _, tc := range []struct {
		pattern string
		loc     *time.Location
		want    time.Time
	}{
		{"* * * * * *", nil, from.Add(time.Second)},
		{"0 * * * * *", nil, time.Date(2026, 1, 1, 10, 31, 0, 0, time.UTC)},
		{"*/20 * * * * *", nil, time.Date(2026, 1, 1, 10, 30, 20, 0, time.UTC)},
		{"0 0 12 * * *", nil, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)},
		{"0 0 9 * * *", nil, time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)},
		{"0 0 0 * * MON", nil, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)},
		{"0 0 0 * * 7", nil, time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)},
		{"0 0 0 15 * MON", nil, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}, // either day
		{"0 0 0 1 FEB-MAR ?", nil, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"0 15,45 10 * * *", nil, time.Date(2026, 1, 1, 10, 45, 0, 0, time.UTC)},
		{"0 0 0 29 2 *", nil, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"@hourly", nil, time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)},
		{"@daily", nil, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"@weekly", nil, time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)},
		{"@monthly", nil, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"@yearly", nil, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"0 0 9 * * *", ny, time.Date(2026, 1, 1, 14, 0, 0, 0, time.UTC)},
	} {
		c, err := parseCron(tc.pattern, tc.loc)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		got, ok := c.next(from)
		if !ok || !got.Equal(tc.want) {
			t.Errorf("%q: next %v (%v), want %v", tc.pattern, got.UTC(), ok, tc.want)
		}
	}
	for _, bad := range []string{"", "* * * * *", "60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *",
		"* * * * * 8", "5-1 * * * * *", "*/0 * * * * *", "x * * * * *", "* * * * FOO *"} {
		if _, err := parseCron(bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, ok := mustCron(t, "0 0 0 30 2 *").next(from); ok {
		t.Error("February 30th fired")
	}
}

func mustCron(t *testing.T, p string) *cronSpec {
	t.Helper()
	c, err := parseCron(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

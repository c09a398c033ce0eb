package jetstream

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Cron patterns for message schedules (ADR-51): six fields, second minute
// hour day-of-month month day-of-week, each "*" or "?", a value, a range
// "a-b", any of these with a step "/n", or a comma-separated list of them;
// months and weekdays also by their English three-letter names (weekday 0
// and 7 are Sunday). The day is the day-of-month and the day-of-week when
// one of them is "*" or "?", either of them otherwise, as in classic cron.
// The shortcuts @yearly (@annually), @monthly, @weekly, @daily (@midnight)
// and @hourly stand for their patterns. Times are in the schedule's
// Nats-Schedule-Time-Zone (UTC without one).

// cronSpec is a parsed pattern: one bit per allowed value of each field.
type cronSpec struct {
	sec, min, hour, dom, month, dow uint64
	domAny, dowAny                  bool
	loc                             *time.Location
}

type cronField struct {
	lo, hi uint
	names  map[string]uint
}

var (
	cronMonths = map[string]uint{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	cronDays = map[string]uint{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
)

var errCron = errors.New("invalid cron pattern")

// parseCron parses pattern, to be read in loc (nil: UTC).
func parseCron(pattern string, loc *time.Location) (*cronSpec, error) {
	switch pattern {
	case "@yearly", "@annually":
		pattern = "0 0 0 1 1 *"
	case "@monthly":
		pattern = "0 0 0 1 * *"
	case "@weekly":
		pattern = "0 0 0 * * 0"
	case "@daily", "@midnight":
		pattern = "0 0 0 * * *"
	case "@hourly":
		pattern = "0 0 * * * *"
	}
	f := strings.Fields(pattern)
	if len(f) != 6 {
		return nil, errCron
	}
	if loc == nil {
		loc = time.UTC
	}
	c := &cronSpec{loc: loc}
	var err error
	parse := func(s string, fl cronField) uint64 {
		if err != nil {
			return 0
		}
		var bits uint64
		bits, err = cronBits(s, fl)
		return bits
	}
	c.sec = parse(f[0], cronField{lo: 0, hi: 59})
	c.min = parse(f[1], cronField{lo: 0, hi: 59})
	c.hour = parse(f[2], cronField{lo: 0, hi: 23})
	c.dom = parse(f[3], cronField{lo: 1, hi: 31})
	c.month = parse(f[4], cronField{lo: 1, hi: 12, names: cronMonths})
	c.dow = parse(f[5], cronField{lo: 0, hi: 7, names: cronDays})
	if err != nil {
		return nil, err
	}
	if c.dow&(1<<7) != 0 {
		c.dow |= 1 // 7 is Sunday too
	}
	c.domAny = f[3] == "*" || f[3] == "?"
	c.dowAny = f[5] == "*" || f[5] == "?"
	return c, nil
}

// cronBits reads one field.
func cronBits(s string, fl cronField) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(s, ",") {
		expr, stepStr, hasStep := strings.Cut(part, "/")
		lo, hi := fl.lo, fl.hi
		switch {
		case expr == "*" || expr == "?":
		default:
			a, b, isRange := strings.Cut(expr, "-")
			var err error
			if lo, err = cronValue(a, fl); err != nil {
				return 0, err
			}
			hi = lo
			if isRange {
				if hi, err = cronValue(b, fl); err != nil {
					return 0, err
				}
			} else if hasStep {
				hi = fl.hi // "a/n": from a to the end
			}
		}
		step := uint(1)
		if hasStep {
			n, err := strconv.ParseUint(stepStr, 10, 8)
			if err != nil || n == 0 {
				return 0, errCron
			}
			step = uint(n)
		}
		if lo > hi {
			return 0, errCron
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << v
		}
	}
	return bits, nil
}

// cronValue reads a number or name of field fl.
func cronValue(s string, fl cronField) (uint, error) {
	if v, ok := fl.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || uint(n) < fl.lo || uint(n) > fl.hi {
		return 0, errCron
	}
	return uint(n), nil
}

// next is the first time the pattern matches strictly after t, or false
// when none comes within five years.
func (c *cronSpec) next(t time.Time) (time.Time, bool) {
	t = t.In(c.loc).Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case c.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, c.loc)
		case !c.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, c.loc)
		case c.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, c.loc)
		case c.min&(1<<uint(t.Minute())) == 0:
			t = t.Truncate(time.Minute).Add(time.Minute)
		case c.sec&(1<<uint(t.Second())) == 0:
			t = t.Add(time.Second)
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

func (c *cronSpec) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domAny || c.dowAny {
		return dom && dow
	}
	return dom || dow
}

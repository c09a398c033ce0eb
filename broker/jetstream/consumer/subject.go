package consumer

import "strings"

// Subject helpers for filters. Subjects here are already validated NATS
// subjects: dot-separated tokens where "*" matches one token and ">" (last
// token only) matches one or more.

// subjectMatches reports whether the literal subject subj matches the
// pattern filter ("" and ">" match everything).
func subjectMatches(filter, subj string) bool {
	if filter == "" || filter == ">" || filter == subj {
		return true
	}
	for {
		ft, frest, fmore := cutTok(filter)
		st, srest, smore := cutTok(subj)
		switch {
		case ft == ">":
			return true
		case ft != "*" && ft != st:
			return false
		}
		if !fmore || !smore {
			return fmore == smore
		}
		filter, subj = frest, srest
	}
}

// subjectsOverlap reports whether some literal subject matches both
// patterns a and b.
func subjectsOverlap(a, b string) bool {
	if a == "" || b == "" {
		return true
	}
	for {
		at, arest, amore := cutTok(a)
		bt, brest, bmore := cutTok(b)
		if at == ">" || bt == ">" {
			return true
		}
		if at != "*" && bt != "*" && at != bt {
			return false
		}
		if !amore || !bmore {
			return amore == bmore
		}
		a, b = arest, brest
	}
}

// subjectIsSubset reports whether every subject matched by sub is also
// matched by super.
func subjectIsSubset(sub, super string) bool {
	if super == "" || super == ">" {
		return true
	}
	if sub == "" {
		return false
	}
	for {
		pt, prest, pmore := cutTok(super)
		st, srest, smore := cutTok(sub)
		switch {
		case pt == ">":
			return true
		case st == ">":
			return false
		case pt == "*":
		case st == "*" || st != pt:
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		super, sub = prest, srest
	}
}

// hasWildcard reports whether s has a "*" or ">" token.
func hasWildcard(s string) bool {
	for s != "" {
		t, rest, more := cutTok(s)
		if t == "*" || t == ">" {
			return true
		}
		if !more {
			return false
		}
		s = rest
	}
	return false
}

// validFilter reports whether s is a valid subscribe subject: non-empty
// tokens without spaces, ">" only last.
func validFilter(s string) bool {
	if s == "" {
		return false
	}
	for {
		t, rest, more := cutTok(s)
		if t == "" || strings.ContainsAny(t, " \t\r\n") {
			return false
		}
		if len(t) > 1 && strings.ContainsAny(t, "*>") {
			return false
		}
		if t == ">" && more {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// validName reports whether s is a valid consumer or stream name: not
// empty, no '.', '*', '>', path separators or whitespace.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n/\\")
}

func cutTok(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

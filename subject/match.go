package subject

import "strings"

// Subject filters as JetStream uses them (stream subjects, consumer
// filters, purge and lookup filters): dot-separated tokens where "*"
// matches one token and a final ">" matches one or more. The inputs are
// valid subjects (ValidSubscribe); an empty filter matches
// everything. These work on strings, unlike the byte-slice sublist, because
// their callers keep configurations and index keys as strings.

// Matches reports whether the literal subject matches filter.
func Matches(filter, subject string) bool {
	if filter == "" {
		return true
	}
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		if ft == ">" && !fmore {
			return subject != ""
		}
		st, srest, smore := strings.Cut(subject, ".")
		if subject == "" || (ft != "*" && ft != st) {
			return false
		}
		if !fmore || !smore {
			return fmore == smore
		}
		filter, subject = frest, srest
	}
}

// Overlap reports whether some literal subject matches both
// filters a and b (an empty filter overlaps everything).
func Overlap(a, b string) bool {
	if a == "" || b == "" {
		return true
	}
	for {
		at, arest, amore := strings.Cut(a, ".")
		bt, brest, bmore := strings.Cut(b, ".")
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

// IsSubset reports whether every subject that filter sub matches is
// also matched by filter super.
func IsSubset(sub, super string) bool {
	if super == "" || super == ">" {
		return true
	}
	if sub == "" {
		return false
	}
	for {
		pt, prest, pmore := strings.Cut(super, ".")
		st, srest, smore := strings.Cut(sub, ".")
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

// HasWildcard reports whether filter has a "*" or ">" token.
func HasWildcard(filter string) bool {
	for t := range strings.SplitSeq(filter, ".") {
		if t == "*" || t == ">" {
			return true
		}
	}
	return false
}

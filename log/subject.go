package log

import "strings"

// hasWildcard reports whether a subject filter has a '*' or '>' token.
func hasWildcard(filter string) bool {
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		if (c == '*' || c == '>') && (i == 0 || filter[i-1] == '.') && (i+1 == len(filter) || filter[i+1] == '.') {
			return true
		}
	}
	return false
}

// subjectMatch reports whether subject matches filter, NATS style: tokens
// split on '.', '*' matches one token, a final '>' matches one or more. An
// empty filter matches everything.
func subjectMatch(filter, subject string) bool {
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

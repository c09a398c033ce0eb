package jetstream

import "strings"

// subjectsCollide reports whether some literal subject matches both a and b
// (NATS wildcards: '*' one token, a final '>' one or more). Streams whose
// subjects collide would both want the same message, so creating the second
// is refused (10065).
func subjectsCollide(a, b string) bool {
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

// subjectMatches reports whether the literal subject matches filter; an
// empty filter matches everything.
func subjectMatches(filter, subject string) bool {
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

// hasWildcard reports whether subject has a '*' or '>' token.
func hasWildcard(subject string) bool {
	for t := range strings.SplitSeq(subject, ".") {
		if t == "*" || t == ">" {
			return true
		}
	}
	return false
}

// validName reports whether name can name a stream: non-empty, printable,
// without '.', '*', '>', path separators or whitespace (nats-server's
// isValidAssetName).
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch c {
		case '.', '*', '>', '/', '\\', ' ', '\t', '\r', '\n', 0:
			return false
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

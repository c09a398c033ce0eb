package consumer

import "strings"

// Filter and name validation; matching, overlap and subset of filters are
// subject.Matches, Overlap and IsSubset.

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

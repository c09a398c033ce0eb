package subject

// Subjects are dot-separated tokens. As in nats-server, '*' and '>' are
// wildcards only when they form a whole token ("a.*.c", "a.>"); inside a
// longer token ("a*b") they are plain characters. No token may be empty,
// and no subject may contain a space, tab, CR or LF.

const (
	tokenSep = '.'
	pwc      = '*' // matches one token
	fwc      = '>' // matches one or more trailing tokens
)

// ValidPublish reports whether s can be published to: non-empty,
// no empty token, no whitespace, and no wildcard token.
func ValidPublish(s []byte) bool {
	return validSubject(s, false)
}

// ValidSubscribe reports whether s can be subscribed to: like a
// publish subject, except that a token may be the wildcard "*", and the
// last token may be the wildcard ">".
func ValidSubscribe(s []byte) bool {
	return validSubject(s, true)
}

// validSubject checks s one token at a time.
func validSubject(s []byte, wildcards bool) bool {
	if len(s) == 0 {
		return false
	}
	for {
		tok, rest, more := NextToken(s)
		if len(tok) == 0 || hasSpace(tok) {
			return false
		}
		if len(tok) == 1 && (tok[0] == pwc || tok[0] == fwc) {
			if !wildcards || (tok[0] == fwc && more) {
				return false
			}
		}
		if !more {
			return true
		}
		s = rest
	}
}

// ValidQueueName reports whether q can name a queue group: non-empty and
// free of spaces, tabs, CR and LF.
func ValidQueueName(q []byte) bool {
	return len(q) > 0 && !hasSpace(q)
}

// IsLiteral reports whether the subject s has no wildcard token, so that it
// matches only itself. s is assumed valid.
func IsLiteral(s []byte) bool {
	for {
		tok, rest, more := NextToken(s)
		if len(tok) == 1 && (tok[0] == pwc || tok[0] == fwc) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// NextToken splits s at its first '.': tok is what comes before it, rest
// what comes after, and more reports whether there was a '.' at all (when
// it is false, tok is all of s and rest is nil). tok and rest alias s.
//
//	for { tok, rest, more := NextToken(s); use(tok); if !more { break }; s = rest }
func NextToken(s []byte) (tok, rest []byte, more bool) {
	for i, c := range s {
		if c == tokenSep {
			return s[:i], s[i+1:], true
		}
	}
	return s, nil, false
}

// hasSpace reports whether b holds a space, tab, CR or LF.
func hasSpace(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			return true
		}
	}
	return false
}

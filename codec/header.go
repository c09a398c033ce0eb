package codec

import "strconv"

// Header blocks (ADR-4) look like:
//
//	NATS/1.0[ <3-digit status>[ <description>]]\r\n
//	<Key>: <Value>\r\n     (zero or more)
//	\r\n
//
// The functions here read and write them in place, without allocating.

// HeaderVersionLine is the status line of a header block without a status.
const HeaderVersionLine = "NATS/1.0\r\n"

const headerPrefix = "NATS/1.0"

// HeaderValue returns the value of the first header named key in the block
// hdr (keys compare ASCII case-insensitively) and true, or nil and false
// when there is none. The value is a subslice of hdr (not copied) with its
// leading spaces and tabs removed, as nats.go and nats-server read it.
// Lines may end in CRLF or a bare LF; a malformed line (no colon) is
// skipped; the status line is never matched. It does not allocate.
func HeaderValue(hdr []byte, key string) ([]byte, bool) {
	_, rest := nextLine(hdr)
	for len(rest) > 0 {
		var line []byte
		line, rest = nextLine(rest)
		if len(line) == 0 {
			break // blank line: end of the block
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon != len(key) || !equalFold(line[:colon], key) {
			continue
		}
		v := line[colon+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		return v, true
	}
	return nil, false
}

// HeaderStatus returns the status code and description carried on the
// first line of hdr ("NATS/1.0 404 No Messages" gives 404, "No Messages").
// It returns 0 and nil when the line has no status or hdr does not begin
// with "NATS/1.0". desc is a subslice of hdr, nil when absent. It does not
// allocate.
func HeaderStatus(hdr []byte) (code int, desc []byte) {
	line, _ := nextLine(hdr)
	if len(line) < len(headerPrefix) || string(line[:len(headerPrefix)]) != headerPrefix {
		return 0, nil
	}
	s := trimSpace(line[len(headerPrefix):])
	if len(s) < 3 {
		return 0, nil
	}
	for _, c := range s[:3] {
		if c < '0' || c > '9' {
			return 0, nil
		}
		code = code*10 + int(c-'0')
	}
	if len(s) > 3 {
		if s[3] != ' ' && s[3] != '\t' {
			return 0, nil
		}
		desc = trimSpace(s[3:])
	}
	return code, desc
}

// AppendHeaderStart appends the first line of a header block to dst:
// "NATS/1.0\r\n" when code is 0, "NATS/1.0 <code>\r\n" when desc is empty,
// "NATS/1.0 <code> <desc>\r\n" otherwise. It returns the extended slice and
// allocates only when dst lacks capacity.
func AppendHeaderStart(dst []byte, code int, desc string) []byte {
	dst = append(dst, headerPrefix...)
	if code != 0 {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(code), 10)
		if desc != "" {
			dst = append(dst, ' ')
			dst = append(dst, desc...)
		}
	}
	return append(dst, "\r\n"...)
}

// AppendHeader appends "<key>: <value>\r\n" to dst and returns the extended
// slice. key and value are written as is: key must not hold ':' or
// whitespace, neither may hold CR or LF.
func AppendHeader(dst []byte, key, value string) []byte {
	dst = append(dst, key...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendHeaderEnd appends the blank line that ends a header block.
func AppendHeaderEnd(dst []byte) []byte { return append(dst, "\r\n"...) }

// nextLine splits b at its first LF: line excludes the LF and a CR before
// it; rest is what follows. With no LF, line is all of b and rest is empty.
func nextLine(b []byte) (line, rest []byte) {
	for i, c := range b {
		if c == '\n' {
			line, rest = b[:i], b[i+1:]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, rest
		}
	}
	return b, nil
}

// equalFold reports whether b and s are equal under ASCII case folding.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// trimSpace removes leading and trailing spaces and tabs.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

package subject

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Subject transforms: nats-server's subject mapping, as a stream's
// subject_transform, a mirror's or source's subject_transforms and a
// republish use it. A transform maps the literal subjects that match its
// source filter onto a destination built token by token:
//
//	literal token            copied
//	$N, {{wildcard(N)}}      the token the source's N-th '*' matched
//	{{partition(n,A,B...)}}  fnv32a of the tokens at wildcards A, B... (all
//	                         of the subject, dot-joined, when none is given)
//	                         modulo n
//	{{splitFromLeft(N,p)}}   wildcard N's token split in two after p bytes
//	{{splitFromRight(N,p)}}  ... p bytes from its end
//	{{sliceFromLeft(N,s)}}   wildcard N's token cut into s-byte tokens from
//	                         the left (the rest as a last, shorter one)
//	{{sliceFromRight(N,s)}}  ... from the right (the rest first)
//	{{split(N,sep)}}         wildcard N's token split at every sep
//	{{left(N,s)}}            its first s bytes
//	{{right(N,s)}}           its last s bytes
//	{{random(n)}}            a random number below n
//	>                        (only when the source ends in '>') the tokens
//	                         the source's '>' matched
//
// A function name's first letter and the first letters of its inner words
// may be upper or lower case (splitFromLeft, SplitFromLeft, splitfromleft),
// as nats-server's patterns allow; arguments are separated by commas with
// optional spaces. The errors are worded as nats-server's, which clients
// see in 10145/10146, 10151/10154 and 10155/10156 answers. Building a
// transform allocates; applying one allocates its result.

// Mapping errors (nats-server's wording). Every one wraps
// ErrInvalidMapping, except ErrBadSubject.
var (
	ErrBadSubject            = errors.New("invalid subject")
	ErrInvalidMapping        = errors.New("invalid mapping destination")
	errMappingInvalid        = fmt.Errorf("%w: invalid transform", ErrInvalidMapping)
	errMappingUnknownFunc    = fmt.Errorf("%w: unknown function", ErrInvalidMapping)
	errMappingIndexRange     = fmt.Errorf("%w: wildcard index out of range", ErrInvalidMapping)
	errMappingNotEnoughArgs  = fmt.Errorf("%w: not enough arguments passed to the function", ErrInvalidMapping)
	errMappingInvalidArg     = fmt.Errorf("%w: function argument is invalid or in the wrong format", ErrInvalidMapping)
	errMappingTooManyArgs    = fmt.Errorf("%w: too many arguments passed to the function", ErrInvalidMapping)
	errMappingNotAllWildcard = fmt.Errorf("%w: not using all of the token wildcard(s)", ErrInvalidMapping)
)

// mappingErr names the destination token an error is about.
type mappingErr struct {
	token string
	err   error
}

func (e *mappingErr) Error() string {
	if e.token == "" {
		return e.err.Error()
	}
	return fmt.Sprintf("%s in %s", e.err, e.token)
}

func (e *mappingErr) Unwrap() error { return e.err }

// fnKind is a destination token's mapping function.
type fnKind uint8

const (
	fnLiteral fnKind = iota
	fnWildcard
	fnPartition
	fnSplitFromLeft
	fnSplitFromRight
	fnSliceFromLeft
	fnSliceFromRight
	fnSplit
	fnLeft
	fnRight
	fnRandom
)

// functions maps the lower-cased function names to their kinds; the words
// of each name (for the case rule) are separated by '_' here.
var functions = [...]struct {
	words []string
	kind  fnKind
}{
	{[]string{"wildcard"}, fnWildcard},
	{[]string{"partition"}, fnPartition},
	{[]string{"split", "from", "left"}, fnSplitFromLeft},
	{[]string{"split", "from", "right"}, fnSplitFromRight},
	{[]string{"slice", "from", "left"}, fnSliceFromLeft},
	{[]string{"slice", "from", "right"}, fnSliceFromRight},
	{[]string{"split"}, fnSplit},
	{[]string{"left"}, fnLeft},
	{[]string{"right"}, fnRight},
	{[]string{"random"}, fnRandom},
}

// destToken is one token of a transform's destination.
type destToken struct {
	kind fnKind
	lit  string // fnLiteral: the token
	pos  []int  // source token positions of the function's wildcard arguments
	n    int    // the integer argument (partitions, position, size, ceiling)
	sep  string // fnSplit's separator
}

// Transform is a parsed subject mapping. It is safe for concurrent use.
type Transform struct {
	src, dest string
	srcToks   []string
	dst       []destToken
	// tail: the destination ends in '>', which takes the tokens the
	// source's '>' matched.
	tail bool
	// identity: source and destination are both '>' (or empty).
	identity bool
	// rand draws {{random(n)}}'s numbers: a number in [0, n).
	rand func(n int) int
}

// NewTransform parses the mapping of source filter src onto dest. An empty
// dest is no mapping: nil, nil. An empty src is '>'. The errors are those
// of ValidateMapping.
func NewTransform(src, dest string) (*Transform, error) {
	if dest == "" {
		return nil, nil
	}
	if src == "" {
		src = ">"
	}
	sok, stoks, spwc, sfwc := filterInfo(src)
	dok, dtoks, dpwc, dfwc := filterInfo(dest)
	if !sok || !dok || dpwc > 0 || sfwc != dfwc {
		return nil, ErrBadSubject
	}
	t := &Transform{src: src, dest: dest, srcToks: stoks, rand: rand.IntN,
		identity: src == ">" && dest == ">"}
	// wildcardPos[i] is the source token position of the (i+1)-th '*'.
	var wildcardPos []int
	for i, tok := range stoks {
		if tok == "*" {
			wildcardPos = append(wildcardPos, i)
		}
	}
	for _, tok := range dtoks {
		if tok == ">" {
			t.tail = true
			t.dst = append(t.dst, destToken{kind: fnLiteral, lit: tok})
			continue
		}
		d, idx, err := parseDestToken(tok)
		if err != nil {
			return nil, err
		}
		if spwc == 0 && !sfwc {
			// A literal source: only functions without wildcard
			// arguments make sense (a partition hashes the subject).
			switch d.kind {
			case fnLiteral, fnRandom:
			case fnPartition:
				idx = nil
			default:
				return nil, &mappingErr{tok, errMappingIndexRange}
			}
		}
		for _, w := range idx {
			if w > spwc {
				return nil, &mappingErr{fmt.Sprintf("%s: [%d]", tok, w), errMappingIndexRange}
			}
			p := 0 // nats-server's default for an index below 1
			if w >= 1 {
				p = wildcardPos[w-1]
			}
			d.pos = append(d.pos, p)
		}
		t.dst = append(t.dst, d)
	}
	return t, nil
}

// ValidateMapping checks the mapping of src onto dest as nats-server's
// ValidateMapping does: every destination token is non-empty, a
// {{...}} token names a known function, and the transform can be built.
// An empty dest is valid (no mapping).
func ValidateMapping(src, dest string) error {
	if dest == "" {
		return nil
	}
	fwc := false
	for _, tok := range strings.Split(dest, ".") {
		if tok == "" || fwc {
			return &mappingErr{tok, errMappingInvalid}
		}
		if isMustache(tok) {
			if _, args := lookupFunction(tok); args == nil {
				return &mappingErr{tok, errMappingUnknownFunc}
			}
			continue
		}
		if tok == ">" {
			fwc = true
		} else if strings.ContainsAny(tok, "\t\n\f\r ") {
			return errMappingInvalid
		}
	}
	_, err := NewTransform(src, dest)
	return err
}

// SetRand replaces the generator of {{random(n)}} (tests); f returns a
// number in [0, n). Not safe while the transform is in use.
func (t *Transform) SetRand(f func(n int) int) { t.rand = f }

// Source is the transform's source filter ('>' when it was given empty).
func (t *Transform) Source() string { return t.src }

// Destination is the transform's destination.
func (t *Transform) Destination() string { return t.dest }

// Match maps a literal subject: the mapped subject and true when subject
// matches the source filter, "" and false otherwise.
func (t *Transform) Match(subj string) (string, bool) {
	if t.identity {
		return subj, true
	}
	if subj == "" || HasWildcard(subj) || !ValidPublish([]byte(subj)) {
		return "", false
	}
	if t.src != ">" && !Matches(t.src, subj) {
		return "", false
	}
	return t.apply(strings.Split(subj, ".")), true
}

// apply builds the destination from the subject's tokens (which match the
// source filter).
func (t *Transform) apply(toks []string) string {
	var b strings.Builder
	last := len(t.dst) - 1
	for i := range t.dst {
		d := &t.dst[i]
		if d.kind == fnLiteral && d.lit == ">" {
			break
		}
		t.applyToken(&b, d, toks)
		if i < last {
			b.WriteByte('.')
		}
	}
	if t.tail {
		for i := len(t.srcToks) - 1; i < len(toks); i++ {
			b.WriteString(toks[i])
			if i < len(toks)-1 {
				b.WriteByte('.')
			}
		}
	}
	return b.String()
}

// applyToken writes destination token d for the subject's tokens.
func (t *Transform) applyToken(b *strings.Builder, d *destToken, toks []string) {
	arg := func() string {
		if len(d.pos) == 0 || d.pos[0] >= len(toks) {
			return ""
		}
		return toks[d.pos[0]]
	}
	switch d.kind {
	case fnLiteral:
		b.WriteString(d.lit)
	case fnWildcard:
		b.WriteString(arg())
	case fnPartition:
		h := fnv.New32a()
		if len(d.pos) > 0 {
			for _, p := range d.pos {
				if p < len(toks) {
					h.Write([]byte(toks[p]))
				}
			}
		} else {
			h.Write([]byte(strings.Join(toks, ".")))
		}
		if d.n == 0 {
			b.WriteByte('0')
			return
		}
		b.WriteString(strconv.FormatUint(uint64(h.Sum32()%uint32(d.n)), 10))
	case fnSplitFromLeft, fnSplitFromRight:
		s := arg()
		p := d.n
		if p <= 0 || p >= len(s) {
			b.WriteString(s)
			return
		}
		if d.kind == fnSplitFromRight {
			p = len(s) - p
		}
		b.WriteString(s[:p])
		b.WriteByte('.')
		b.WriteString(s[p:])
	case fnSliceFromLeft:
		s, n := arg(), d.n
		if n <= 0 || n >= len(s) {
			b.WriteString(s)
			return
		}
		for i := 0; i < len(s); i += n {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s[i:min(i+n, len(s))])
		}
	case fnSliceFromRight:
		s, n := arg(), d.n
		if n <= 0 || n >= len(s) {
			b.WriteString(s)
			return
		}
		first := len(s) % n
		if first > 0 {
			b.WriteString(s[:first])
		}
		for i := first; i < len(s); i += n {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s[i : i+n])
		}
	case fnSplit:
		parts := strings.Split(arg(), d.sep)
		wrote := false
		for _, p := range parts {
			if p == "" {
				continue
			}
			if wrote {
				b.WriteByte('.')
			}
			b.WriteString(p)
			wrote = true
		}
	case fnLeft, fnRight:
		s, n := arg(), d.n
		if n <= 0 || n >= len(s) {
			b.WriteString(s)
			return
		}
		if d.kind == fnLeft {
			b.WriteString(s[:n])
		} else {
			b.WriteString(s[len(s)-n:])
		}
	case fnRandom:
		if d.n <= 0 {
			b.WriteByte('0')
			return
		}
		b.WriteString(strconv.Itoa(t.rand(d.n)))
	}
}

// filterInfo reports whether filter is valid (non-empty tokens, nothing
// after '>'), its tokens, its number of '*' and whether it ends in '>'.
func filterInfo(filter string) (ok bool, toks []string, pwc int, fwc bool) {
	if filter == "" {
		return false, nil, 0, false
	}
	toks = strings.Split(filter, ".")
	for _, tok := range toks {
		if tok == "" || fwc {
			return false, nil, 0, false
		}
		switch tok {
		case ">":
			fwc = true
		case "*":
			pwc++
		}
	}
	return true, toks, pwc, fwc
}

// isMustache reports whether tok has the {{...}} form of a function.
func isMustache(tok string) bool {
	return len(tok) > 4 && strings.HasPrefix(tok, "{{") && strings.HasSuffix(tok, "}}")
}

// lookupFunction splits a {{name(args)}} token into its function and its
// arguments (split at commas, each trimmed of spaces); false when tok is
// not a known function's form.
func lookupFunction(tok string) (fn fnKind, args []string) {
	inner := strings.TrimSpace(tok[2 : len(tok)-2])
	open := strings.IndexByte(inner, '(')
	if open < 0 || !strings.HasSuffix(inner, ")") {
		return 0, nil
	}
	name := strings.TrimSpace(inner[:open])
	for _, f := range functions {
		if nameMatches(name, f.words) {
			body := inner[open+1 : len(inner)-1]
			parts := strings.Split(body, ",")
			for i := range parts {
				parts[i] = strings.TrimLeft(parts[i], " \t")
			}
			return f.kind, parts
		}
	}
	return 0, nil
}

// nameMatches reports whether name spells words, each word's first letter
// in either case and the rest lower case (nats-server's patterns).
func nameMatches(name string, words []string) bool {
	for _, w := range words {
		if len(name) < len(w) {
			return false
		}
		head := name[0]
		if head != w[0] && head != w[0]-'a'+'A' {
			return false
		}
		if name[1:len(w)] != w[1:] {
			return false
		}
		name = name[len(w):]
	}
	return name == ""
}

// parseDestToken parses one destination token: a literal, a legacy $N, or
// a function. idx are the function's wildcard arguments (1-based).
func parseDestToken(tok string) (d destToken, idx []int, err error) {
	if len(tok) > 1 && tok[0] == '$' {
		n, err := strconv.Atoi(tok[1:])
		if err != nil {
			// Other things use tokens starting with '$': a literal.
			return destToken{kind: fnLiteral, lit: tok}, nil, nil
		}
		return destToken{kind: fnWildcard}, []int{n}, nil
	}
	if !isMustache(tok) {
		return destToken{kind: fnLiteral, lit: tok}, nil, nil
	}
	kind, args := lookupFunction(tok)
	if args == nil {
		return d, nil, &mappingErr{tok, errMappingUnknownFunc}
	}
	atoi := func(s string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil && n <= 1<<31-1
	}
	bad := func(e error) (destToken, []int, error) { return destToken{}, nil, &mappingErr{tok, e} }
	d.kind = kind
	switch kind {
	case fnWildcard:
		if len(args) == 1 && args[0] == "" {
			return bad(errMappingNotEnoughArgs)
		}
		if len(args) > 1 {
			return bad(errMappingTooManyArgs)
		}
		n, ok := atoi(args[0])
		if !ok {
			return bad(errMappingInvalidArg)
		}
		return d, []int{n}, nil
	case fnPartition:
		n, ok := atoi(args[0])
		if !ok {
			return bad(errMappingInvalidArg)
		}
		d.n = n
		for _, a := range args[1:] {
			w, ok := atoi(a)
			if !ok {
				return bad(errMappingInvalidArg)
			}
			idx = append(idx, w)
		}
		return d, idx, nil
	case fnSplit:
		if len(args) < 2 {
			return bad(errMappingNotEnoughArgs)
		}
		if len(args) > 2 {
			return bad(errMappingTooManyArgs)
		}
		w, ok := atoi(args[0])
		if !ok || strings.ContainsAny(args[1], " .") {
			return bad(errMappingInvalidArg)
		}
		d.sep = args[1]
		return d, []int{w}, nil
	case fnRandom:
		if len(args) != 1 {
			return bad(errMappingNotEnoughArgs)
		}
		n, ok := atoi(args[0])
		if !ok {
			return bad(errMappingInvalidArg)
		}
		d.n = n
		return d, nil, nil
	default: // a wildcard index and an integer
		if len(args) < 2 {
			return bad(errMappingNotEnoughArgs)
		}
		if len(args) > 2 {
			return bad(errMappingTooManyArgs)
		}
		w, ok1 := atoi(args[0])
		n, ok2 := atoi(args[1])
		if !ok1 || !ok2 {
			return bad(errMappingInvalidArg)
		}
		d.n = n
		return d, []int{w}, nil
	}
}

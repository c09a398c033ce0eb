package subject

import "strings"

// FilterTree is a set of subject filters (valid subscribe subjects), each
// with an owner, indexed by token so that "does filter f overlap a member?"
// costs about the length of f rather than the size of the set: two filters
// overlap when some literal subject matches both (Overlap). A
// literal token of f follows one branch plus the members' wildcards there;
// a "*" in f visits every member token at its position; a final ">" in f
// stops at the first member below. JetStream keeps every stream's subjects
// in one, so creating a stream with n subjects costs about O(n), not
// O(n × all subjects).
//
// The zero value is empty and ready. A FilterTree is not safe for
// concurrent use; its owner guards it.
type FilterTree struct {
	root ftNode
	n    int
}

// ftNode is the position after some tokens.
type ftNode struct {
	lit  map[string]*ftNode // literal next tokens
	star *ftNode            // next token "*"
	// end is the member that ends here; fwc the member made of this
	// position followed by ">".
	end, fwc *FilterEntry
}

// FilterEntry is a member of a FilterTree.
type FilterEntry struct {
	Filter, Owner string
}

// Len is the number of members.
func (t *FilterTree) Len() int { return t.n }

// Add inserts filter with owner and reports whether it did: a filter that
// is already a member (with any owner) is left as it is.
func (t *FilterTree) Add(filter, owner string) bool {
	n := &t.root
	rest := filter
	for {
		tok, next, more := strings.Cut(rest, ".")
		if !more && tok == ">" {
			if n.fwc != nil {
				return false
			}
			n.fwc = &FilterEntry{Filter: filter, Owner: owner}
			t.n++
			return true
		}
		n = n.child(tok)
		if !more {
			if n.end != nil {
				return false
			}
			n.end = &FilterEntry{Filter: filter, Owner: owner}
			t.n++
			return true
		}
		rest = next
	}
}

// child returns the node after tok, creating it.
func (n *ftNode) child(tok string) *ftNode {
	if tok == "*" {
		if n.star == nil {
			n.star = &ftNode{}
		}
		return n.star
	}
	c := n.lit[tok]
	if c == nil {
		if n.lit == nil {
			n.lit = make(map[string]*ftNode)
		}
		c = &ftNode{}
		n.lit[tok] = c
	}
	return c
}

// lookup returns the node after tok, or nil.
func (n *ftNode) lookup(tok string) *ftNode {
	if tok == "*" {
		return n.star
	}
	return n.lit[tok]
}

// empty reports whether n holds no member and leads to none.
func (n *ftNode) empty() bool {
	return n.end == nil && n.fwc == nil && n.star == nil && len(n.lit) == 0
}

// Remove deletes filter if owner owns it, and reports whether it did.
// Nodes left without members are freed.
func (t *FilterTree) Remove(filter, owner string) bool {
	var path [32]*ftNode
	nodes := path[:0]
	toks := make([]string, 0, 8)
	n := &t.root
	rest := filter
	for {
		tok, next, more := strings.Cut(rest, ".")
		if !more && tok == ">" {
			if n.fwc == nil || n.fwc.Owner != owner {
				return false
			}
			n.fwc = nil
			break
		}
		nodes = append(nodes, n)
		toks = append(toks, tok)
		if n = n.lookup(tok); n == nil {
			return false
		}
		if !more {
			if n.end == nil || n.end.Owner != owner {
				return false
			}
			n.end = nil
			break
		}
		rest = next
	}
	t.n--
	// Free the empty tail of the path: nodes[i] leads to its child by toks[i].
	for i := len(nodes) - 1; i >= 0; i-- {
		c := nodes[i].lookup(toks[i])
		if !c.empty() {
			break
		}
		if toks[i] == "*" {
			nodes[i].star = nil
		} else {
			delete(nodes[i].lit, toks[i])
		}
	}
	return true
}

// Overlap returns a member that overlaps filter, if any.
func (t *FilterTree) Overlap(filter string) (FilterEntry, bool) {
	q := ftQuery{}
	if e := q.search(&t.root, filter); e != nil {
		return *e, true
	}
	return FilterEntry{}, false
}

// OverlapOther returns a member not owned by owner that overlaps filter,
// if any.
func (t *FilterTree) OverlapOther(filter, owner string) (FilterEntry, bool) {
	q := ftQuery{skip: owner, skipping: true}
	if e := q.search(&t.root, filter); e != nil {
		return *e, true
	}
	return FilterEntry{}, false
}

// ftQuery is one overlap search.
type ftQuery struct {
	skip     string
	skipping bool
}

// ok reports whether e counts for the query.
func (q *ftQuery) ok(e *FilterEntry) bool {
	return e != nil && (!q.skipping || e.Owner != q.skip)
}

// search returns a member below n overlapping rest (the tokens of the
// filter still to match), or nil.
func (q *ftQuery) search(n *ftNode, rest string) *FilterEntry {
	for {
		// A member ending in ">" here takes one or more tokens: rest has
		// at least one.
		if q.ok(n.fwc) {
			return n.fwc
		}
		tok, next, more := strings.Cut(rest, ".")
		switch {
		case tok == ">" && !more:
			return q.any(n)
		case tok == "*":
			for _, c := range n.lit {
				if e := q.step(c, next, more); e != nil {
					return e
				}
			}
			if n.star != nil {
				return q.step(n.star, next, more)
			}
			return nil
		}
		// A literal token: the member's literal and its "*".
		if n.star != nil {
			if e := q.step(n.star, next, more); e != nil {
				return e
			}
		}
		c := n.lit[tok]
		if c == nil {
			return nil
		}
		if !more {
			if q.ok(c.end) {
				return c.end
			}
			return nil
		}
		n, rest = c, next
	}
}

// step continues the search at c, the node after one matched token; more
// says whether the filter has tokens left (next).
func (q *ftQuery) step(c *ftNode, next string, more bool) *FilterEntry {
	if !more {
		if q.ok(c.end) {
			return c.end
		}
		return nil
	}
	return q.search(c, next)
}

// any returns a member below n that is at least one token longer than n's
// position (what a final ">" at n overlaps), or nil.
func (q *ftQuery) any(n *ftNode) *FilterEntry {
	if q.ok(n.fwc) {
		return n.fwc
	}
	visit := func(c *ftNode) *FilterEntry {
		if q.ok(c.end) {
			return c.end
		}
		return q.any(c)
	}
	if n.star != nil {
		if e := visit(n.star); e != nil {
			return e
		}
	}
	for _, c := range n.lit {
		if e := visit(c); e != nil {
			return e
		}
	}
	return nil
}

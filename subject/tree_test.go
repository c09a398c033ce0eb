package subject

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestFilterTreeOverlapTable: literal, "*", ">" and mixed filters against
// one member at a time, as Overlap decides.
func TestFilterTreeOverlapTable(t *testing.T) {
	cases := []struct {
		member, filter string
		want           bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a.b", "a", false},
		{"a", "a.b", false},
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"*", "a", true},
		{"a", "*", true},
		{"*", "a.b", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"a.*", "*.b", true},
		{"*.b", "a.*", true},
		{"*.b", "a.c", false},
		{">", "a", true},
		{">", "a.b.c", true},
		{"a", ">", true},
		{"a.>", "a", false},
		{"a", "a.>", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"a.b.c", "a.>", true},
		{"a.>", "b.>", false},
		{"a.>", "*.b", true},
		{"*.b", "a.>", true},
		{"a.>", "*", false},
		{"*", "a.>", false},
		{"a.*.c", "a.b.*", true},
		{"a.*.c", "a.b.d", false},
		{"a.*.c", "*.*.*", true},
		{"a.*.c", "*.*", false},
		{"a.*.>", "a.b", false},
		{"a.*.>", "a.b.c", true},
		{"*.>", "a", false},
		{"*.>", "a.b", true},
		{"a.b.>", "a.*.c", true},
		{"a.b.>", "a.c.>", false},
		{"$JS.API.>", "$JS.>", true},
		{"orders.eu.new", "orders.*.old", false},
	}
	for _, c := range cases {
		if got := Overlap(c.member, c.filter); got != c.want {
			t.Fatalf("Overlap(%q, %q) = %v, table says %v", c.member, c.filter, got, c.want)
		}
		var ft FilterTree
		if !ft.Add(c.member, "s") {
			t.Fatalf("add %q", c.member)
		}
		e, got := ft.Overlap(c.filter)
		if got != c.want {
			t.Fatalf("member %q, filter %q: overlap %v, want %v", c.member, c.filter, got, c.want)
		}
		if got && e != (FilterEntry{Filter: c.member, Owner: "s"}) {
			t.Fatalf("member %q, filter %q: entry %+v", c.member, c.filter, e)
		}
		if _, got := ft.OverlapOther(c.filter, "s"); got {
			t.Fatalf("member %q, filter %q: overlap with its own owner skipped still found", c.member, c.filter)
		}
		if _, got := ft.OverlapOther(c.filter, "t"); got != c.want {
			t.Fatalf("member %q, filter %q: OverlapOther %v, want %v", c.member, c.filter, got, c.want)
		}
		if !ft.Remove(c.member, "s") || ft.Len() != 0 || !ft.root.empty() {
			t.Fatalf("remove %q left %d members", c.member, ft.Len())
		}
	}
}

// TestFilterTreeMatchesPairwise compares the tree with Overlap
// over every member, for random sets of filters from a small alphabet (so
// that overlaps are common), through adds and removes.
func TestFilterTreeMatchesPairwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tokens := []string{"a", "b", "c", "*"}
	gen := func() string {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = tokens[r.IntN(len(tokens))]
		}
		if r.IntN(4) == 0 {
			parts[n-1] = ">"
		}
		return strings.Join(parts, ".")
	}
	for round := 0; round < 200; round++ {
		var ft FilterTree
		members := map[string]string{}
		for i := 0; i < 12; i++ {
			f, owner := gen(), string(rune('p'+r.IntN(3)))
			_, had := members[f]
			if ft.Add(f, owner) == had {
				t.Fatalf("add %q: present %v", f, had)
			}
			if !had {
				members[f] = owner
			}
		}
		for i := 0; i < 4; i++ { // remove some
			for f, owner := range members {
				if ft.Remove(f, owner+"x") {
					t.Fatalf("removed %q with the wrong owner", f)
				}
				if !ft.Remove(f, owner) {
					t.Fatalf("remove %q", f)
				}
				delete(members, f)
				break
			}
		}
		if ft.Len() != len(members) {
			t.Fatalf("len %d, want %d", ft.Len(), len(members))
		}
		for q := 0; q < 30; q++ {
			f := gen()
			want, wantOther := false, false
			for m, owner := range members {
				if Overlap(m, f) {
					want = true
					if owner != "p" {
						wantOther = true
					}
				}
			}
			e, got := ft.Overlap(f)
			if got != want || (got && !Overlap(e.Filter, f)) {
				t.Fatalf("members %v, filter %q: overlap %v (%+v), want %v", members, f, got, e, want)
			}
			e, got = ft.OverlapOther(f, "p")
			if got != wantOther || (got && (e.Owner == "p" || !Overlap(e.Filter, f))) {
				t.Fatalf("members %v, filter %q: overlap other than p %v (%+v), want %v", members, f, got, e, wantOther)
			}
		}
	}
}

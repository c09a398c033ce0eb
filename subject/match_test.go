package subject

import "testing"

func TestSubjectMatches(t *testing.T) {
	cases := []struct {
		f, s string
		want bool
	}{
		{"a.b", "a.b", true}, {"a.*", "a.b", true}, {"a.*", "a.b.c", false}, {"a.>", "a.b.c", true},
		{"a.>", "a", false}, {">", "a", true}, {">", "x", true}, {"*.b", "a.b", true}, {"a.b", "a.bc", false},
		{"a.b", "a.c", false}, {"", "x", true}, {"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false}, {"a", "a.b", false},
	}
	for _, c := range cases {
		if got := Matches(c.f, c.s); got != c.want {
			t.Errorf("match(%q, %q) = %v", c.f, c.s, got)
		}
	}
	if !Overlap("a.*", "*.b") || Overlap("a.b", "a.c") || !Overlap("a.>", "a.b.c") {
		t.Error("overlap")
	}
	if !IsSubset("a.b", "a.*") || IsSubset("a.*", "a.b") || !IsSubset("a.b.c", "a.>") || IsSubset("a.>", "a.*") {
		t.Error("subset")
	}
	for s, want := range map[string]bool{"a.b": false, "a.*": true, ">": true, "a.>": true, "a*.b": false, "a.b>": false} {
		if HasWildcard(s) != want {
			t.Errorf("HasWildcard(%q) = %v", s, !want)
		}
	}
}

// TestSubjectMatchAllocs: the log and the consumers call these for every
// message they filter, so they must not allocate.
func TestSubjectMatchAllocs(t *testing.T) {
	sub := []byte("a.b.*.>")
	n := testing.AllocsPerRun(100, func() {
		_ = Matches("orders.*.new", "orders.eu.new")
		_ = Overlap("a.*", "*.b")
		_ = IsSubset("a.b.c", "a.>")
		_ = HasWildcard("orders.eu.>")
		if !ValidSubscribe(sub) || ValidPublish(sub) {
			t.Fatal("subjects")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

package broker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

func newSub(subject, queue string) *Subscription {
	return &Subscription{Subject: subject, Queue: queue}
}

func subjectsOf(subs []*Subscription) []string {
	out := make([]string, 0, len(subs))
	for _, s := range subs {
		out = append(out, s.Subject)
	}
	sort.Strings(out)
	return out
}

func mustInsert(t testing.TB, sl *Sublist, subs ...*Subscription) {
	t.Helper()
	for _, s := range subs {
		if err := sl.Insert(s); err != nil {
			t.Fatalf("Insert(%q): %v", s.Subject, err)
		}
	}
}

func TestSublistLiteralAndWildcards(t *testing.T) {
	sl := NewSublist(0)
	mustInsert(t, sl,
		newSub("foo.bar", ""),
		newSub("foo.*", ""),
		newSub("foo.>", ""),
		newSub(">", ""),
		newSub("*.bar", ""),
		newSub("foo.bar.baz", ""),
		newSub("*", ""),
		newSub("foo", ""),
	)
	cases := map[string][]string{
		"foo.bar":     {">", "*.bar", "foo.*", "foo.>", "foo.bar"},
		"foo.baz":     {">", "foo.*", "foo.>"},
		"foo.bar.baz": {">", "foo.>", "foo.bar.baz"},
		"foo":         {"*", ">", "foo"},
		"bar":         {"*", ">"},
		"x.y.z.w":     {">"},
	}
	for subj, want := range cases {
		got := subjectsOf(sl.Match([]byte(subj)).Psubs)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %v, want %v", subj, got, want)
		}
	}
	if n := sl.Count(); n != 8 {
		t.Fatalf("Count = %d, want 8", n)
	}
}

func TestSublistInvalidSubjects(t *testing.T) {
	sl := NewSublist(0)
	for _, s := range []string{"", ".", "foo.", ".foo", "foo..bar", "foo.>.bar", ">.foo"} {
		if err := sl.Insert(newSub(s, "")); err != ErrInvalidSubject {
			t.Errorf("Insert(%q) = %v, want ErrInvalidSubject", s, err)
		}
	}
	mustInsert(t, sl, newSub(">", ""))
	for _, s := range []string{"", "foo..bar", ".x"} {
		if r := sl.Match([]byte(s)); !r.Empty() {
			t.Errorf("Match(%q) matched %d", s, len(r.Psubs))
		}
	}
	// Wildcard characters inside a longer token are literal.
	mustInsert(t, sl, newSub("a*.b>", ""))
	if got := len(sl.Match([]byte("a*.b>")).Psubs); got != 2 {
		t.Fatalf("literal-ish tokens matched %d, want 2", got)
	}
	if got := len(sl.Match([]byte("ax.bx")).Psubs); got != 1 {
		t.Fatalf("ax.bx matched %d, want 1", got)
	}
}

func TestSublistQueueGroupsMergeByName(t *testing.T) {
	sl := NewSublist(0)
	a1, a2 := newSub("foo.bar", "a"), newSub("foo.*", "a")
	b1 := newSub("foo.>", "b")
	p := newSub("foo.bar", "")
	mustInsert(t, sl, a1, a2, b1, p)
	r := sl.Match([]byte("foo.bar"))
	if len(r.Psubs) != 1 || r.Psubs[0] != p {
		t.Fatalf("psubs = %v", r.Psubs)
	}
	if len(r.Qsubs) != 2 {
		t.Fatalf("groups = %d, want 2", len(r.Qsubs))
	}
	for _, g := range r.Qsubs {
		switch g[0].Queue {
		case "a":
			if len(g) != 2 {
				t.Fatalf("group a has %d members", len(g))
			}
		case "b":
			if len(g) != 1 || g[0] != b1 {
				t.Fatalf("group b = %v", g)
			}
		default:
			t.Fatalf("unexpected group %q", g[0].Queue)
		}
	}
}

func TestSublistRemoveAndPrune(t *testing.T) {
	sl := NewSublist(0)
	subs := []*Subscription{
		newSub("a.b.c", ""), newSub("a.b.c", ""), newSub("a.*.c", "q"),
		newSub("a.*.c", "q"), newSub("a.>", ""), newSub("x", "r"),
	}
	mustInsert(t, sl, subs...)
	if got := len(sl.Match([]byte("a.b.c")).Psubs); got != 3 {
		t.Fatalf("before: %d psubs", got)
	}
	if err := sl.Remove(subs[0]); err != nil {
		t.Fatal(err)
	}
	if err := sl.Remove(subs[0]); err != ErrNotFound {
		t.Fatalf("second Remove = %v, want ErrNotFound", err)
	}
	r := sl.Match([]byte("a.b.c"))
	if len(r.Psubs) != 2 || len(r.Qsubs) != 1 || len(r.Qsubs[0]) != 2 {
		t.Fatalf("after one remove: %d psubs %v qsubs", len(r.Psubs), r.Qsubs)
	}
	// Removing a subscription under a different subject is not found.
	if err := sl.Remove(newSub("a.b.c.d", "")); err != ErrNotFound {
		t.Fatalf("Remove unknown = %v", err)
	}
	sl.RemoveBatch(subs)
	if n := sl.Count(); n != 0 {
		t.Fatalf("Count after batch = %d", n)
	}
	if !sl.mu.root.empty() {
		t.Fatalf("trie not pruned: %+v", sl.mu.root)
	}
	if r := sl.Match([]byte("a.b.c")); !r.Empty() {
		t.Fatalf("stale match after removal: %+v", r)
	}
}

func TestSublistCacheInvalidation(t *testing.T) {
	sl := NewSublist(0)
	s1 := newSub("foo.bar", "")
	mustInsert(t, sl, s1)
	r1 := sl.Match([]byte("foo.bar"))
	if sl.Match([]byte("foo.bar")) != r1 {
		t.Fatal("second match not served from cache")
	}
	sl.Match([]byte("other.subject"))
	if sl.CacheLen() != 2 {
		t.Fatalf("cache len = %d, want 2", sl.CacheLen())
	}
	// A wildcard insert drops only the cached subjects it matches.
	w := newSub("foo.*", "")
	mustInsert(t, sl, w)
	if sl.CacheLen() != 1 {
		t.Fatalf("cache len after wildcard insert = %d, want 1", sl.CacheLen())
	}
	if got := len(sl.Match([]byte("foo.bar")).Psubs); got != 2 {
		t.Fatalf("after insert: %d", got)
	}
	if err := sl.Remove(w); err != nil {
		t.Fatal(err)
	}
	if got := len(sl.Match([]byte("foo.bar")).Psubs); got != 1 {
		t.Fatalf("after remove: %d", got)
	}
	// The old result is unchanged (results are immutable).
	if len(r1.Psubs) != 1 {
		t.Fatal("cached result was mutated")
	}
	st := sl.Stats()
	if st.CacheHits == 0 || st.Matches < 4 || st.Subscriptions != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// A wildcard whose first two tokens are literal drops the cached subjects
// it matches and leaves the rest; the per-prefix counts that let it skip the
// scan stay in step with the cache through evictions and removals.
func TestSublistCachePrefixSkip(t *testing.T) {
	sl := NewSublist(64)
	mustInsert(t, sl, newSub(">", ""))
	for i := range 200 { // evicts: the counts must follow
		sl.Match(fmt.Appendf(nil, "a.b.%d", i))
		sl.Match(fmt.Appendf(nil, "x.%d.z", i))
	}
	sl.Match([]byte("a.c.1"))
	sl.Match([]byte("one"))
	check := func() {
		t.Helper()
		want := map[string]int32{}
		sl.mu.RLock()
		for k := range sl.mu.cache {
			want[cachePrefix(k)]++
		}
		got := maps.Clone(sl.mu.prefixes)
		sl.mu.RUnlock()
		if !maps.Equal(got, want) {
			t.Fatalf("prefix counts %v, cache has %v", got, want)
		}
	}
	check()
	before := sl.CacheLen()
	w := newSub("q.r.*", "") // nothing cached under q.r
	mustInsert(t, sl, w)
	if sl.CacheLen() != before {
		t.Fatalf("unrelated wildcard dropped %d cached subjects", before-sl.CacheLen())
	}
	sl.Match([]byte("a.c.1"))
	ab := newSub("a.c.*", "")
	mustInsert(t, sl, ab)
	if got := len(sl.Match([]byte("a.c.1")).Psubs); got != 2 {
		t.Fatalf("a.c.1 matches %d subscriptions after a.c.* was added, want 2", got)
	}
	check()
	for _, s := range []*Subscription{w, ab} {
		if err := sl.Remove(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(sl.Match([]byte("a.c.1")).Psubs); got != 1 {
		t.Fatalf("a.c.1 matches %d subscriptions after removal, want 1", got)
	}
	check()
}

func TestSublistCacheBounded(t *testing.T) {
	sl := NewSublist(64)
	mustInsert(t, sl, newSub(">", ""))
	for i := range 1000 {
		sl.Match(fmt.Appendf(nil, "s.%d", i))
		if n := sl.CacheLen(); n > 64 {
			t.Fatalf("cache grew to %d", n)
		}
	}
	noCache := NewSublist(-1)
	mustInsert(t, noCache, newSub("a", ""))
	if len(noCache.Match([]byte("a")).Psubs) != 1 || noCache.CacheLen() != 0 {
		t.Fatal("uncached sublist misbehaves")
	}
}

func TestPatternMatches(t *testing.T) {
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"foo", "foo", true},
		{"foo", "foo.bar", false},
		{"foo.bar", "foo", false},
		{"*", "foo", true},
		{"*", "foo.bar", false},
		{">", "foo.bar", true},
		{"foo.>", "foo", false},
		{"foo.>", "foo.a.b", true},
		{"*.b.*", "a.b.c", true},
		{"*.b.*", "a.x.c", false},
	}
	for _, c := range cases {
		toks, ok := splitPattern(c.pattern, nil)
		if !ok {
			t.Fatalf("split %q", c.pattern)
		}
		if got := patternMatches(toks, c.subject); got != c.want {
			t.Errorf("patternMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
}

// TestSublistRandomAgainstBruteForce compares Match with a linear scan over
// random inserts and removes.
func TestSublistRandomAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "*", ">"}
	randPattern := func() string {
		n := 1 + rng.IntN(4)
		toks := make([]string, n)
		for i := range toks {
			toks[i] = alphabet[rng.IntN(len(alphabet)-1)]
			if i == n-1 && rng.IntN(4) == 0 {
				toks[i] = ">"
			}
		}
		return strings.Join(toks, ".")
	}
	randLiteral := func() string {
		n := 1 + rng.IntN(4)
		toks := make([]string, n)
		for i := range toks {
			toks[i] = alphabet[rng.IntN(3)]
		}
		return strings.Join(toks, ".")
	}
	sl := NewSublist(32)
	var live []*Subscription
	for step := range 3000 {
		if len(live) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(live))
			if err := sl.Remove(live[i]); err != nil {
				t.Fatalf("step %d: Remove: %v", step, err)
			}
			live = slices.Delete(live, i, i+1)
		} else {
			q := ""
			if rng.IntN(3) == 0 {
				q = []string{"q1", "q2"}[rng.IntN(2)]
			}
			s := newSub(randPattern(), q)
			mustInsert(t, sl, s)
			live = append(live, s)
		}
		subj := randLiteral()
		r := sl.Match([]byte(subj))
		var wantP []*Subscription
		wantQ := map[string]int{}
		for _, s := range live {
			toks, _ := splitPattern(s.Subject, nil)
			if !patternMatches(toks, subj) {
				continue
			}
			if s.Queue == "" {
				wantP = append(wantP, s)
			} else {
				wantQ[s.Queue]++
			}
		}
		if len(r.Psubs) != len(wantP) {
			t.Fatalf("step %d: Match(%q) psubs %d, want %d", step, subj, len(r.Psubs), len(wantP))
		}
		for _, w := range wantP {
			if !slices.Contains(r.Psubs, w) {
				t.Fatalf("step %d: Match(%q) misses %q", step, subj, w.Subject)
			}
		}
		if len(r.Qsubs) != len(wantQ) {
			t.Fatalf("step %d: Match(%q) groups %d, want %d", step, subj, len(r.Qsubs), len(wantQ))
		}
		for _, g := range r.Qsubs {
			if len(g) != wantQ[g[0].Queue] {
				t.Fatalf("step %d: group %q has %d, want %d", step, g[0].Queue, len(g), wantQ[g[0].Queue])
			}
		}
		if sl.Count() != len(live) {
			t.Fatalf("step %d: Count %d, want %d", step, sl.Count(), len(live))
		}
	}
}

func TestSublistConcurrent(t *testing.T) {
	sl := NewSublist(16)
	mustInsert(t, sl, newSub("foo.*", ""))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				subj := fmt.Appendf(nil, "foo.%d", (i+w)%40)
				if len(sl.Match(subj).Psubs) < 1 {
					t.Error("lost the permanent subscription")
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 300 {
			s := newSub(fmt.Sprintf("foo.%d", i%40), "")
			if err := sl.Insert(s); err != nil {
				t.Error(err)
				return
			}
			if err := sl.Remove(s); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	if sl.Count() != 1 {
		t.Fatalf("Count = %d", sl.Count())
	}
}

func TestSublistMatchCachedAllocs(t *testing.T) {
	sl := NewSublist(0)
	mustInsert(t, sl, newSub("foo.bar", ""), newSub("foo.*", "q"), newSub(">", ""))
	subj := []byte("foo.bar")
	sl.Match(subj)
	if n := testing.AllocsPerRun(1000, func() { sl.Match(subj) }); n != 0 {
		t.Fatalf("cached Match allocates %v times", n)
	}
}

func BenchmarkSublistMatch(b *testing.B) {
	for _, subs := range []int{10, 1000} {
		sl := NewSublist(0)
		for i := range subs {
			mustInsert(b, sl, newSub(fmt.Sprintf("svc.%d.req", i), ""))
		}
		mustInsert(b, sl, newSub("svc.*.req", "workers"), newSub("svc.>", ""))
		subj := []byte("svc.7.req")
		b.Run(fmt.Sprintf("subs=%d/cached", subs), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(subj)))
			for b.Loop() {
				sl.Match(subj)
			}
		})
		b.Run(fmt.Sprintf("subs=%d/parallel", subs), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(subj)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sl.Match(subj)
				}
			})
		})
		nc := NewSublist(-1)
		for i := range subs {
			mustInsert(b, nc, newSub(fmt.Sprintf("svc.%d.req", i), ""))
		}
		b.Run(fmt.Sprintf("subs=%d/uncached", subs), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(subj)))
			for b.Loop() {
				nc.Match(subj)
			}
		})
	}
}

func BenchmarkSublistInsertRemove(b *testing.B) {
	sl := NewSublist(0)
	for i := range 1000 {
		mustInsert(b, sl, newSub(fmt.Sprintf("svc.%d.req", i), ""))
	}
	s := newSub("svc.77.req", "")
	b.ReportAllocs()
	for b.Loop() {
		_ = sl.Insert(s)
		_ = sl.Remove(s)
	}
}

// Ack subjects and reply inboxes are matched without filling the cache;
// other subjects are cached as before.
func TestSublistMatchSubjectOneOff(t *testing.T) {
	sl := NewSublist(0)
	mustInsert(t, sl, newSub(">", ""))
	for _, subj := range []string{"$JS.ACK.S.C.1.7.7.1765000000.0", "_INBOX.abc.def"} {
		if got := len(sl.MatchSubject([]byte(subj)).Psubs); got != 1 {
			t.Fatalf("%s matches %d subscriptions, want 1", subj, got)
		}
	}
	if n := sl.CacheLen(); n != 0 {
		t.Fatalf("one-off subjects filled %d cache entries", n)
	}
	sl.MatchSubject([]byte("orders.new"))
	if n := sl.CacheLen(); n != 1 {
		t.Fatalf("cache holds %d subjects after a recurring one, want 1", n)
	}
}

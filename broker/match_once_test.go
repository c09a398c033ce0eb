package broker

import "testing"

// MatchOnce finds the same subscribers as Match, uses a cached result, and
// never adds to the cache.
func TestMatchOnceDoesNotCache(t *testing.T) {
	sl := NewSublist(0)
	sub := newSub("_INBOX.abc.*", "")
	mustInsert(t, sl, sub)
	for i := range 100 {
		subj := []byte("_INBOX.abc." + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		if r := sl.MatchOnce(subj); len(r.Psubs) != 1 || r.Psubs[0] != sub {
			t.Fatalf("MatchOnce(%s) = %+v", subj, r)
		}
	}
	if n := sl.CacheLen(); n != 0 {
		t.Fatalf("cache len after MatchOnce = %d, want 0", n)
	}
	sl.Match([]byte("_INBOX.abc.x"))
	hits := sl.cacheHits.Load()
	if r := sl.MatchOnce([]byte("_INBOX.abc.x")); len(r.Psubs) != 1 || sl.cacheHits.Load() != hits+1 {
		t.Fatal("MatchOnce did not use the cached result")
	}
}

package auth

import "testing"

// TestSubsLimits: a JWT's subs limit maps to Identity.MaxSubs (-1, no
// limit, is 0; 0 allows none, -1), and MinSubs keeps the tighter.
func TestSubsLimits(t *testing.T) {
	for _, tc := range []struct{ jwt, want int64 }{{-1, 0}, {0, -1}, {5, 5}} {
		if got := SubsLimit(tc.jwt); got != tc.want {
			t.Errorf("SubsLimit(%d) = %d, want %d", tc.jwt, got, tc.want)
		}
	}
	for _, tc := range []struct{ a, b, want int64 }{{0, 0, 0}, {0, 3, 3}, {4, 0, 4}, {4, 3, 3}, {-1, 3, -1}, {3, -1, -1}} {
		if got := MinSubs(tc.a, tc.b); got != tc.want {
			t.Errorf("MinSubs(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

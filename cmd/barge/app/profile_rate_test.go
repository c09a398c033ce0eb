package app

import "testing"

// profile_rate is a setting like the others: a non-negative count, off by
// default.
func TestProfileRateSetting(t *testing.T) {
	c := Defaults()
	if c.ProfileRate != 0 {
		t.Fatalf("default profile_rate = %d, want 0 (off)", c.ProfileRate)
	}
	if err := c.Set("profile_rate", "100"); err != nil || c.ProfileRate != 100 {
		t.Fatalf("profile_rate 100: rate %d, err %v", c.ProfileRate, err)
	}
	for _, bad := range []string{"-1", "often"} {
		if err := c.Set("profile_rate", bad); err == nil {
			t.Fatalf("profile_rate %q accepted", bad)
		}
	}
}

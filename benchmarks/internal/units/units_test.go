package units

import "testing"

func TestParseFormatRoundTrip(t *testing.T) {
	for _, s := range []string{"16B", "1KiB", "16KiB", "64KiB", "1MiB", "8MiB", "31MiB", "256MiB", "1GiB"} {
		n, err := ParseSize(s)
		if err != nil {
			t.Fatalf("ParseSize(%q): %v", s, err)
		}
		if got := FormatSize(n); got != s {
			t.Errorf("FormatSize(ParseSize(%q)) = %q", s, got)
		}
	}
	if n, _ := ParseSize("64MB"); n != 64e6 {
		t.Errorf("64MB = %d", n)
	}
	if n, _ := ParseSize("2GB"); n != 2e9 {
		t.Errorf("2GB = %d", n)
	}
	if _, err := ParseSize("x"); err == nil {
		t.Error("want error for x")
	}
}

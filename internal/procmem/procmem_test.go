package procmem

import "testing"

func TestFiguresAreSane(t *testing.T) {
	rss, err := RSS()
	if err != nil {
		t.Skip(err)
	}
	if err := ResetPeak(); err != nil {
		t.Skip(err)
	}
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i)
	}
	peak, err := Peak()
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || peak < rss+32<<20 {
		t.Fatalf("rss %d, peak after touching 64 MiB %d", rss, peak)
	}
	_ = big[len(big)-1]
}

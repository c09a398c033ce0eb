package log

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// TestTornNewestSegmentKeepsPrevious: when the newest segment's creation
// was torn (the file exists but holds nothing valid), recovery removes it
// and appends to the previous segment at its valid end. It used to append
// at offset 0, over that segment's header, so the next recovery lost the
// segment's messages.
func TestTornNewestSegmentKeepsPrevious(t *testing.T) {
	mfs := NewMemFS()
	opts := Options{FS: mfs, SegmentSize: 4 << 10}
	l := mustOpen(t, "/s", Config{}, opts)
	for i := range 12 {
		putMsg(t, l, fmt.Sprint("s.", i), 700)
	}
	want := liveSeqs(t, l)
	if l.State().Segments < 3 {
		t.Fatal("want several segments")
	}
	l.Close()
	names, _ := mfs.List("/s")
	// A roll whose new file never got its header: make one past the newest.
	id, _ := parseSegName(names[len(names)-1])
	f, err := mfs.OpenFile("/s/"+segName(id+100), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	mfs.SyncDir("/s")
	for round := range 3 {
		rl := mustOpen(t, "/s", Config{}, opts)
		if got := liveSeqs(t, rl); !slices.Equal(got, want) {
			t.Fatalf("round %d: live %v, want %v", round, got, want)
		}
		want = append(want, putMsg(t, rl, "after", 100))
		if st := rl.State(); len(st.Lost) != 0 {
			t.Fatalf("round %d: lost %v", round, st.Lost)
		}
		rl.Close()
	}
}

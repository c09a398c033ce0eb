package log

import (
	"errors"
	"fmt"
	"testing"
)

func TestAppendLoad(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		l, _ := k.open(t, "", Config{}, Options{})
		defer l.Close()
		sizes := []int{0, 1, 100, 4096, 4097, 10000, 3*4096 + 5}
		for i, n := range sizes {
			subj := fmt.Sprintf("a.%d", i)
			hdr := []byte(fmt.Sprintf("NATS/1.0\r\nX: %d\r\n\r\n", i))
			seq, err := appendPieces(l, subj, hdr, payloadFor(subj, n), 1+i*333)
			if err != nil {
				t.Fatal(err)
			}
			if seq != uint64(i+1) {
				t.Fatalf("seq %d want %d", seq, i+1)
			}
		}
		for i, n := range sizes {
			subj := fmt.Sprintf("a.%d", i)
			checkMsg(t, l, uint64(i+1), subj, []byte(fmt.Sprintf("NATS/1.0\r\nX: %d\r\n\r\n", i)), payloadFor(subj, n))
		}
		st := l.State()
		if st.FirstSeq != 1 || st.LastSeq != uint64(len(sizes)) || st.Msgs != uint64(len(sizes)) || st.NumSubjects != len(sizes) {
			t.Fatalf("state %+v", st)
		}
		var sm StoredMsg
		if err := l.LoadMsg(0, &sm); !errors.Is(err, ErrNotFound) {
			t.Fatalf("seq 0: %v", err)
		}
		if err := l.LoadMsg(99, &sm); !errors.Is(err, ErrNotFound) {
			t.Fatalf("seq 99: %v", err)
		}
	})
}

package log

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// segmentImage returns the bytes of a real segment holding small, chunked
// and deleted messages, for the fuzz corpus.
func segmentImage(t testing.TB) []byte {
	mfs := NewMemFS()
	l := mustOpen(t, "/s", Config{}, Options{FS: mfs, ChunkSize: 4096})
	for i := range 4 {
		subj := fmt.Sprint("f.", i)
		appendPieces(l, subj, []byte(subj), payloadFor(subj, i*1500), 1000)
	}
	l.Delete(2)
	l.Purge(PurgeRequest{Subject: "f.0"})
	l.Close()
	f, _ := mfs.OpenFile("/s/"+segName(1), 0, 0)
	fi, _ := f.Stat()
	b := make([]byte, fi.Size())
	f.ReadAt(b, 0)
	return b
}

// FuzzRecover feeds recovery arbitrary segment bytes: it must not panic,
// and whatever it serves must pass its checksums.
func FuzzRecover(f *testing.F) {
	img := segmentImage(f)
	f.Add(img)
	f.Add(img[:len(img)/2])
	f.Add([]byte{})
	f.Fuzz(runFuzzOne)
}

func runFuzzOne(t *testing.T, data []byte) {
	{
		mfs := NewMemFS()
		mfs.MkdirAll("/s", 0o755)
		w, _ := mfs.OpenFile("/s/"+segName(1), 0o100|0o2, 0o644) // O_CREATE|O_RDWR
		w.WriteAt(data, 0)
		w.Close()
		mfs.SyncDir("/s")
		l, err := Open("/s", Config{}, Options{FS: mfs, ChunkSize: 4096})
		if err != nil {
			return
		}
		defer l.Close()
		st := l.State()
		var sm StoredMsg
		for seq := st.FirstSeq; seq <= st.LastSeq && seq-st.FirstSeq < 1000; seq++ {
			if err := l.LoadMsg(seq, &sm); err != nil {
				if !isErr(err, ErrDeleted, ErrCorrupt, ErrNotFound, io.EOF) {
					t.Fatalf("load %d: %v", seq, err)
				}
				continue
			}
			if _, err := sm.ReadPayload(nil); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.EOF) {
				t.Fatalf("read %d: %v", seq, err)
			}
		}
		if _, _, err := l.AppendMsg("after", nil, []byte("x")); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	}
}

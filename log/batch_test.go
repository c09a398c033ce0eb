package log

import (
	"errors"
	"testing"
)

// refuseSubject is a Checker that refuses one subject.
type refuseSubject struct{ subject string }

func (r refuseSubject) Check(_ View, m CheckMsg) (Action, error) {
	if m.Subject == r.subject {
		return ActNone, &CheckError{Code: 7}
	}
	return ActNone, nil
}
func (refuseSubject) Truncate(uint64) {}
func (refuseSubject) Reset(View)      {}

// TestCommitBatch: staged messages (small, and chunked while they arrive)
// are invisible until CommitBatch, which gives them consecutive sequences
// and makes them durable and visible together; a refusal of any one
// writes nothing of the batch and gives no sequence; an aborted staged
// message leaves nothing; a reopened log holds exactly the committed ones.
func TestCommitBatch(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		opts := Options{Checker: refuseSubject{"bad"}}
		if k.name == "memfs" {
			opts.FS = NewMemFS() // the same files when it reopens
		}
		l, dir := k.open(t, "", Config{}, opts)
		small, large := payloadFor("s", 100), payloadFor("l", 3*4096+17)
		stage := func(subj string, payload []byte) *Appender {
			t.Helper()
			a, err := l.AppendStaged(subj, []byte("NATS/1.0\r\nA: b\r\n\r\n"), int64(len(payload)))
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < len(payload); off += 1000 {
				if _, err := a.Write(payload[off:min(off+1000, len(payload))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.Stage(); err != nil {
				t.Fatal(err)
			}
			return a
		}
		_, err := l.CommitBatch([]*Appender{stage("a", small), stage("b", large), stage("bad", small)}, nil)
		var br *BatchRefusal
		if !errors.As(err, &br) || br.Index != 2 {
			t.Fatalf("refused batch: %v", err)
		}
		if st := l.State(); st.LastSeq != 0 || l.LastAssigned() != 0 {
			t.Fatalf("a refused batch left last %d, assigned %d", st.LastSeq, l.LastAssigned())
		}
		stage("c", large).Abort()
		a, b := stage("a", small), stage("b", large)
		b.SetHeader([]byte("NATS/1.0\r\nA: b\r\nNats-Batch-Commit: 1\r\n\r\n"))
		a.SetHeader([]byte("NATS/1.0\r\nA: c\r\n\r\n"))
		if st := l.State(); st.Msgs != 0 {
			t.Fatalf("staged messages visible: %d", st.Msgs)
		}
		done := make(chan uint64, 1)
		last, err := l.CommitBatch([]*Appender{a, b}, func(seq uint64, _ int64, err error) {
			if err != nil {
				t.Error(err)
			}
			done <- seq
		})
		if err != nil || last != 2 {
			t.Fatalf("commit: %d, %v", last, err)
		}
		if seq := <-done; seq != 2 {
			t.Fatalf("done with %d", seq)
		}
		checkMsg(t, l, 1, "a", []byte("NATS/1.0\r\nA: c\r\n\r\n"), small)
		checkMsg(t, l, 2, "b", []byte("NATS/1.0\r\nA: b\r\nNats-Batch-Commit: 1\r\n\r\n"), large)
		if seq, _, err := l.AppendMsg("d", nil, small); err != nil || seq != 3 {
			t.Fatalf("a message after the batch: %d, %v", seq, err)
		}
		if k.name == "memory" {
			return
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, _ = k.open(t, dir, Config{}, opts)
		defer l.Close()
		if st := l.State(); st.Msgs != 3 || st.LastSeq != 3 {
			t.Fatalf("reopened: %d messages, last %d", st.Msgs, st.LastSeq)
		}
		checkMsg(t, l, 2, "b", []byte("NATS/1.0\r\nA: b\r\nNats-Batch-Commit: 1\r\n\r\n"), large)
	})
}

package jetstream

import (
	"log/slog"
	"testing"

	"github.com/bargemq/barge/log"
)

// TestRepairBatchTail: a log whose tail is a batch without its commit
// message (a crash tore the commit's write) loses that tail when it opens;
// a committed batch and plain messages before it stay.
func TestRepairBatchTail(t *testing.T) {
	dir := t.TempDir()
	l, err := log.Open(dir, log.Config{}, log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(hdr string) {
		t.Helper()
		var h []byte
		if hdr != "" {
			h = []byte("NATS/1.0\r\n" + hdr + "\r\n")
		}
		if _, _, err := l.AppendMsg("s", h, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	put("")
	put("Nats-Batch-Id: c\r\nNats-Batch-Sequence: 1\r\n")
	put("Nats-Batch-Id: c\r\nNats-Batch-Sequence: 2\r\nNats-Batch-Commit: 1\r\n")
	put("Nats-Batch-Id: t\r\nNats-Batch-Sequence: 1\r\n")
	put("Nats-Batch-Id: t\r\nNats-Batch-Sequence: 2\r\n")
	lg := slog.New(slog.DiscardHandler)
	repairBatchTail(l, lg)
	st := l.State()
	if st.Msgs != 3 || st.LastSeq != 5 {
		t.Fatalf("after repair: %d messages, last %d; want 3, 5", st.Msgs, st.LastSeq)
	}
	var sm log.StoredMsg
	for seq := uint64(1); seq <= 3; seq++ {
		if err := l.LoadMsg(seq, &sm); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
	}
	// A committed tail is left alone.
	repairBatchTail(l, lg)
	put("Nats-Batch-Id: d\r\nNats-Batch-Sequence: 1\r\nNats-Batch-Commit: 1\r\n")
	repairBatchTail(l, lg)
	if st := l.State(); st.Msgs != 4 {
		t.Fatalf("a committed batch was removed: %d messages", st.Msgs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

package log

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// kind is one store variant the conformance tests run over.
type kind struct {
	name string
	open func(t testing.TB, dir string, cfg Config, opts Options) (*Log, string)
}

// kinds: the file store on the OS, the file store on MemFS, and the memory
// store.
var kinds = []kind{
	{"file", func(t testing.TB, dir string, cfg Config, opts Options) (*Log, string) {
		if dir == "" {
			dir = filepath.Join(t.TempDir(), "stream")
		}
		return mustOpen(t, dir, cfg, opts), dir
	}},
	{"memfs", func(t testing.TB, dir string, cfg Config, opts Options) (*Log, string) {
		if opts.FS == nil {
			opts.FS = NewMemFS()
		}
		if dir == "" {
			dir = "/s"
		}
		return mustOpen(t, dir, cfg, opts), dir
	}},
	{"memory", func(t testing.TB, dir string, cfg Config, opts Options) (*Log, string) {
		cfg.Storage = MemoryStorage
		return mustOpen(t, "mem", cfg, opts), "mem"
	}},
}

func forKinds(t *testing.T, f func(t *testing.T, k kind)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { f(t, k) })
	}
}

func mustOpen(t testing.TB, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	if opts.ChunkSize == 0 {
		opts.ChunkSize = 4096
	}
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// payloadFor is a deterministic payload for a message id.
func payloadFor(id string, n int) []byte {
	b := make([]byte, n)
	seed := uint32(len(id)) * 2654435761
	for i := 0; i < len(id); i++ {
		seed = seed*31 + uint32(id[i])
	}
	for i := range b {
		seed = seed*1103515245 + 12345
		b[i] = byte(seed >> 16)
	}
	return b
}

// appendPieces appends a message in pieces of step bytes.
func appendPieces(l *Log, subj string, hdr, payload []byte, step int) (uint64, error) {
	a, err := l.Append(subj, hdr, int64(len(payload)))
	if err != nil {
		return 0, err
	}
	for p := payload; len(p) > 0; {
		n := min(step, len(p))
		if _, err := a.Write(p[:n]); err != nil {
			a.Abort()
			return 0, err
		}
		p = p[n:]
	}
	seq, _, err := a.Commit()
	return seq, err
}

// checkMsg loads seq and compares it with the expectation.
func checkMsg(t testing.TB, l *Log, seq uint64, subj string, hdr, payload []byte) {
	t.Helper()
	if err := verifyMsg(l, seq, subj, hdr, payload); err != nil {
		t.Fatal(err)
	}
}

func verifyMsg(l *Log, seq uint64, subj string, hdr, payload []byte) error {
	var sm StoredMsg
	if err := l.LoadMsg(seq, &sm); err != nil {
		return fmt.Errorf("load %d: %w", seq, err)
	}
	if sm.Seq != seq || sm.Subject != subj || !bytes.Equal(sm.Hdr, hdr) || sm.Size != int64(len(payload)) {
		return fmt.Errorf("seq %d: got %d %q hdr=%q size=%d, want %q hdr=%q size=%d", seq, sm.Seq, sm.Subject, sm.Hdr, sm.Size, subj, hdr, len(payload))
	}
	got, err := sm.ReadPayload(nil)
	if err != nil {
		return fmt.Errorf("read %d: %w", seq, err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("seq %d: payload differs (%d vs %d bytes)", seq, len(got), len(payload))
	}
	return nil
}

func isErr(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

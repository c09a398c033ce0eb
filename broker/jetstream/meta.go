package jetstream

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
	"github.com/bargemq/barge/log"
)

// Layout of a stream on disk, under <store_dir>/jetstream/<stream>/, all of
// it written through Options.FS (the log's file-system seam):
//
//	meta.json   {"config":{...},"created":"..."}: replaced atomically
//	            (log.WriteFileAtomic: meta.json.tmp, fsync, rename, fsync
//	            of the directory)
//	msgs/       the log (segments); absent for memory storage
//	consumers/  the consumer Set's directory
//
// A new stream's directory gets its meta.json before its entry in
// jetstream/ is made durable, so a crash during a create leaves either no
// stream or one with its config. A deleted stream's directory is renamed to
// <stream>.deleting first (log.RemoveDir): load removes such leftovers.
const (
	metaFile     = "meta.json"
	msgsDir      = "msgs"
	consumersDir = "consumers"
)

// streamMeta is what meta.json holds.
type streamMeta struct {
	Config  jsapi.StreamConfig `json:"config"`
	Created time.Time          `json:"created"`
	// Replicated marks a raft replica's directory (cluster.go): load skips
	// it, the meta shard decides whether it runs here.
	Replicated bool `json:"replicated,omitempty"`
}

// writeMeta stores m in dir atomically: a reader (or a restart after a
// crash) sees the old file or the new one, never a mix. Writers of one
// dir's meta.json must not overlap (they share the temporary file).
func (e *Engine) writeMeta(dir string, m *streamMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return log.WriteFileAtomic(e.o.FS, dir, metaFile, b)
}

// readMeta loads dir's meta.json.
func (e *Engine) readMeta(dir string) (*streamMeta, error) {
	b, err := log.ReadFile(e.o.FS, filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	var m streamMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, metaFile), err)
	}
	return &m, nil
}

// makeStreamDir creates a stream's directory with m as its meta.json, and
// then makes the directory's entry in jetstream/ durable.
func (e *Engine) makeStreamDir(dir string, m *streamMeta) error {
	if err := e.o.FS.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := e.writeMeta(dir, m); err != nil {
		return err
	}
	return e.o.FS.SyncDir(e.dir)
}

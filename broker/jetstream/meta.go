package jetstream

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bargemq/barge/codec/jsapi"
)

// Layout of a stream on disk, under <store_dir>/jetstream/<stream>/:
//
//	meta.json   {"config":{...},"created":"..."}: written to meta.json.tmp,
//	            fsynced, renamed over meta.json, directory fsynced
//	msgs/       the log (segments); absent for memory storage
//	consumers/  the consumer Set's directory
const (
	metaFile     = "meta.json"
	metaTmpFile  = "meta.json.tmp"
	msgsDir      = "msgs"
	consumersDir = "consumers"
	// deletingSuffix marks a stream directory being removed: a stream
	// delete renames the directory first, so a crash mid-removal never
	// leaves a half-deleted stream that would load again.
	deletingSuffix = ".deleting"
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
// crash) sees the old file or the new one, never a mix.
func writeMeta(dir string, m *streamMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, metaTmpFile)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, metaFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

// readMeta loads dir's meta.json.
func readMeta(dir string) (*streamMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	var m streamMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, metaFile), err)
	}
	return &m, nil
}

// syncDir fsyncs a directory so a rename or a new entry in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package app_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/raft"
)

// TestJSClusterRefusesOldRaftLayout: a node whose store_dir holds raft data
// of the earlier layout (Dragonboat's Pebble log store under raft/nodehost)
// does not start, and the error says what to do; it never starts empty.
func TestJSClusterRefusesOldRaftLayout(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "raft", "nodehost"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := app.Defaults()
	cfg.Port, cfg.HTTPPort = 0, -1
	cfg.StoreDir, cfg.LogFile = dir, filepath.Join(dir, "barge.log")
	cfg.Cluster, cfg.ClusterName, cfg.ClusterSize = "127.0.0.1:0", "test", 3
	cfg.RaftAddr, cfg.NodeID = freeAddr(t), 1
	a, err := app.Start(cfg)
	if err == nil {
		a.Shutdown(t.Context())
		t.Fatal("started over the old raft layout")
	}
	if !errors.Is(err, raft.ErrOldLayout) || !strings.Contains(err.Error(), "back the streams up") {
		t.Fatalf("error does not say what to do: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft", "host")); !os.IsNotExist(err) {
		t.Fatalf("a new raft layout was started beside the old one: %v", err)
	}
}

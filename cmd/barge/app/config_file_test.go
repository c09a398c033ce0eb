package app

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestConfigFileBlocks: the cluster and jetstream blocks, lists on one line
// and over several, quotes and comments set the same fields as the flags.
func TestConfigFileBlocks(t *testing.T) {
	const file = `
# node 1 of a local cluster
port: 4222
server_name = "n1"
cluster {
  name: barge-local
  listen: 127.0.0.1:6222
  routes: [
    "nats://127.0.0.1:6223"   # node 2
    nats://127.0.0.1:6224,
  ]
  raft: 127.0.0.1:7222
  node_id: 1
  size: 3
}
jetstream {
  store_dir: '/tmp/barge n1'
  sync: 200ms
}
`
	c := Defaults()
	c.JetStream = false
	if err := c.load(strings.NewReader(file), "n1.conf"); err != nil {
		t.Fatal(err)
	}
	if c.Port != 4222 || c.ServerName != "n1" || c.ClusterName != "barge-local" || c.Cluster != "127.0.0.1:6222" ||
		c.RaftAddr != "127.0.0.1:7222" || c.NodeID != 1 || c.ClusterSize != 3 ||
		!c.JetStream || c.StoreDir != "/tmp/barge n1" || c.SyncInterval != 200*time.Millisecond {
		t.Fatalf("config %+v", c)
	}
	if want := []string{"nats://127.0.0.1:6223", "nats://127.0.0.1:6224"}; !reflect.DeepEqual(c.Routes, want) {
		t.Fatalf("routes %q, want %q", c.Routes, want)
	}
	one := Defaults()
	if err := one.load(strings.NewReader(`routes: ["nats://a:1", nats://b:2]`), "x"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"nats://a:1", "nats://b:2"}; !reflect.DeepEqual(one.Routes, want) {
		t.Fatalf("one-line list %q, want %q", one.Routes, want)
	}
}

// TestConfigFileErrors: a mistake names the file and line and is not
// ignored.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"cluster {\n  nmae: x\n}\n", `x:2: unknown setting "nmae" in block "cluster"`},
		{"gateway {\n}\n", `x:1: unknown block "gateway"`},
		{"cluster {\n  port: 1\n", `unknown setting "port" in block "cluster"`},
		{"cluster {\n  name: a\n", `block "cluster" is not closed`},
		{"}\n", "x:1: `}` closes no block"},
		{"routes: [\n  nats://a:1\n", `list "routes" is not closed`},
		{"cluster {\n jetstream {\n", `x:2: block "jetstream" inside block "cluster"`},
		{"port 4222\n", "x:1: expected `key: value`"},
	} {
		c := Defaults()
		err := c.load(strings.NewReader(tc.file), "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.file, err, tc.want)
		}
	}
}

package app

import (
	"os"
	"path/filepath"
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
// ignored; syntax errors are the conf parser's (nats-server's).
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"cluster {\n  nmae: x\n}\n", `x:2: unknown setting "nmae" in block "cluster"`},
		{"gateway {\n}\n", `x:1: unknown block "gateway"`},
		{"prot: 4222\n", `x:1: unknown setting "prot"`},
		{"cluster {\n  port: 1\n", `Parse error`},
		{"routes: [\n  nats://a:1\n", `Parse error`},
		{"cluster {\n jetstream {\n }\n}\n", `x:2: unknown setting "jetstream" in block "cluster"`},
		{"port: $NOPE_NOT_SET_BARGE\n", `variable reference for 'NOPE_NOT_SET_BARGE' on line 1 can not be found`},
		{"authorization {\n  tokn: x\n}\n", `x:2: unknown setting "tokn" in block "authorization"`},
		{"authorization {\n  users: [{user: a, permissions: {publish: {alow: x}}}]\n}\n", `x:2: Unknown field name "alow"`},
		{"resolver: URL(http://x)\n", `only`},
	} {
		c := Defaults()
		err := c.load(strings.NewReader(tc.file), "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.file, err, tc.want)
		}
	}
}

// TestConfigFileConf: nats-server's syntax through its parser: includes
// (relative to the file), variables from the file and the environment,
// units, `key value` without a separator.
func TestConfigFileConf(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BARGE_TEST_NAME", "from-env")
	writeFile(t, filepath.Join(dir, "limits.conf"), "max_payload: 64MB\nmax_pending 1GB\n")
	writeFile(t, filepath.Join(dir, "main.conf"), `
PORT: 4333
port: $PORT
server_name: $BARGE_TEST_NAME
include ./limits.conf
write_watermark: 512k   # 512000, nats-server's k
ping_interval: "30s"
jetstream: disabled
`)
	c := Defaults()
	if err := c.LoadFile(filepath.Join(dir, "main.conf")); err != nil {
		t.Fatal(err)
	}
	if c.Port != 4333 || c.ServerName != "from-env" || c.MaxPayload != 64<<20 || c.MaxPending != 1<<30 ||
		c.WriteWatermark != 512000 || c.PingInterval != 30*time.Second || c.JetStream {
		t.Fatalf("config %+v", c)
	}
}

// TestConfigFileAuthorization: the authorization block with nats-server's
// keys maps onto auth.Config.
func TestConfigFileAuthorization(t *testing.T) {
	const file = `
authorization {
  timeout: 1.5
  default_permissions: { subscribe: { deny: "secret.>" } }
  users: [
    {user: alice, password: "$2a$11$abcdefghijklmnopqrstuuJ0dJ3IJzLz0hZ2yqW8kYQ3XYQq6Z9Ce"}
    {user: bob, password: pw, permissions: {
      publish: ["orders.>", "rpc.*"]
      subscribe: { allow: ["orders.*", "work grp"], deny: "orders.x" }
      allow_responses: { max: 3, expires: "5s" }
    }}
  ]
}
no_auth_user: bob
`
	c := Defaults()
	if err := c.load(strings.NewReader(file), "a.conf"); err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	if a.Timeout != 1500*time.Millisecond || a.NoAuthUser != "bob" || len(a.Users) != 2 {
		t.Fatalf("auth %+v", a)
	}
	if a.DefaultPermissions == nil || !reflect.DeepEqual(a.DefaultPermissions.Subscribe.Deny, []string{"secret.>"}) {
		t.Fatalf("default permissions %+v", a.DefaultPermissions)
	}
	alice, bob := a.Users[0], a.Users[1]
	if alice.Name != "alice" || !strings.HasPrefix(alice.Password, "$2a$11$") || alice.Permissions != nil {
		t.Fatalf("alice %+v", alice)
	}
	p := bob.Permissions
	if bob.Password != "pw" || !reflect.DeepEqual(p.Publish.Allow, []string{"orders.>", "rpc.*"}) ||
		!reflect.DeepEqual(p.Subscribe.Allow, []string{"orders.*", "work grp"}) ||
		!reflect.DeepEqual(p.Subscribe.Deny, []string{"orders.x"}) ||
		p.Response == nil || p.Response.MaxMsgs != 3 || p.Response.Expires != 5*time.Second {
		t.Fatalf("bob %+v %+v %+v", p.Publish, p.Subscribe, p.Response)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

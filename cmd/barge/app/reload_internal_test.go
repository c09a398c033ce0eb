package app

import (
	"reflect"
	"strings"
	"testing"
)

// TestReloadClassifiesEveryField: each Config field is either reloadable or
// named as fixed, so a new setting is refused by a reload (with its key)
// until it is given an apply function in reloadable.
func TestReloadClassifiesEveryField(t *testing.T) {
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		_, fixed := fixedKeys[name]
		if fixed == reloadableField(name) {
			t.Errorf("Config.%s: reloadable %v, fixed %v; want exactly one", name, !fixed, fixed)
		}
	}
	for _, s := range reloadable {
		if _, ok := typ.FieldByName(s.field); !ok {
			t.Errorf("reloadable %s names no Config field %q", s.key, s.field)
		}
	}
}

// TestHTTPAndPidSettings: http takes host:port or a port, http_host a host;
// monitoring defaults to loopback; pid_file and its aliases.
func TestHTTPAndPidSettings(t *testing.T) {
	c := Defaults()
	if c.HTTPHost != "127.0.0.1" || c.HTTPPort != 8222 {
		t.Fatalf("defaults http %s:%d", c.HTTPHost, c.HTTPPort)
	}
	for _, tc := range []struct {
		val, host string
		port      int
	}{
		{"0.0.0.0:9000", "0.0.0.0", 9000},
		{"9001", "127.0.0.1", 9001},
		{":9002", "0.0.0.0", 9002},
		{"[::1]:9003", "::1", 9003},
	} {
		c := Defaults()
		if err := c.Set("http", tc.val); err != nil || c.HTTPHost != tc.host || c.HTTPPort != tc.port {
			t.Errorf("http %q: %s %d %v, want %s %d", tc.val, c.HTTPHost, c.HTTPPort, err, tc.host, tc.port)
		}
	}
	if err := c.Set("http", "localhost"); err == nil {
		t.Error("http without a port accepted")
	}
	if err := c.load(strings.NewReader("http_host: 10.0.0.1\nhttp_port: 8000\npidfile: /run/b.pid\n"), "x"); err != nil {
		t.Fatal(err)
	}
	if c.HTTPHost != "10.0.0.1" || c.HTTPPort != 8000 || c.PidFile != "/run/b.pid" {
		t.Fatalf("config %+v", c)
	}
	if err := c.Set("pid", "/run/c.pid"); err != nil || c.PidFile != "/run/c.pid" {
		t.Fatalf("pid: %q %v", c.PidFile, err)
	}
}

package app

import (
	"strings"
	"testing"
)

// max_connections (alias max_conn, nats-server's keys) and max_staging are
// read from a configuration file; 0 connections means none, as in
// nats-server, and negative values are refused.
func TestConfigLimits(t *testing.T) {
	c := Defaults()
	if c.MaxConnections != 64*1024 || c.MaxStaging != 0 {
		t.Fatalf("defaults: max_connections %d, max_staging %d", c.MaxConnections, c.MaxStaging)
	}
	if err := c.load(strings.NewReader("max_conn: 10\nmax_staging: 64MB\n"), "x"); err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 10 || c.MaxStaging != 64<<20 {
		t.Fatalf("max_connections %d, max_staging %d", c.MaxConnections, c.MaxStaging)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if maxConnections(0) != -1 || maxConnections(10) != 10 {
		t.Fatal("max_connections 0 must refuse every client")
	}
	for _, bad := range []string{"max_connections: -1", "max_staging: -5"} {
		c := Defaults()
		if err := c.load(strings.NewReader(bad), "x"); err == nil {
			err = c.Validate()
			if err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	}
}

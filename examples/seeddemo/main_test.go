package main

import (
	"context"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
)

// TestSeedDemoAgainstBarge runs the demo against an in-process barge.
func TestSeedDemoAgainstBarge(t *testing.T) {
	cfg := app.Defaults()
	cfg.Port, cfg.HTTPPort = 0, 0
	cfg.StoreDir = t.TempDir()
	cfg.LogFile = cfg.StoreDir + "/barge.log"
	a, err := app.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	}()
	if err := run(a.ClientURL()); err != nil {
		t.Fatal(err)
	}
}

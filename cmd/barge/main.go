// Command barge runs the barge message broker. See README.md for the flags
// and the configuration file format.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "barge:", err)
		return 2
	}
	if o.showVersion {
		fmt.Printf("barge %s (NATS protocol %s)\n", app.Version, app.ProtocolVersion)
		return 0
	}
	// Signals are caught before the server announces itself, so a SIGTERM
	// sent as soon as "barge ready" appears is a graceful shutdown.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	a, err := app.Start(o.cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "barge:", err)
		return 1
	}
	s := <-sig
	a.Logger().Info("shutting down", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		a.Logger().Error("shutdown", "err", err)
		return 1
	}
	return 0
}

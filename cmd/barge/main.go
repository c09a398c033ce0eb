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
	"runtime/debug"
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
	if o.cfg.ClusterSize > 0 && os.Getenv("GOGC") == "" {
		// Raft's transport and proposals copy every entry they carry, so a
		// replicated stream at hundreds of MiB/s makes garbage fast; at
		// the default 100 the heap runs to twice its live size between
		// collections. The live heap is small (no message is held whole),
		// so collecting twice as often costs little CPU and keeps peak
		// RSS down. Without raft there is little garbage and the default
		// stays. GOGC in the environment wins.
		debug.SetGCPercent(50)
	}
	if o.showVersion {
		fmt.Printf("barge %s (NATS protocol %s)\n", app.Version, app.ProtocolVersion)
		return 0
	}
	if o.signal != "" {
		if err := sendSignal(&o); err != nil {
			fmt.Fprintln(os.Stderr, "barge:", err)
			return 1
		}
		return 0
	}
	// Signals are caught before the server announces itself, so a SIGTERM
	// sent as soon as "barge ready" appears is a graceful shutdown.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	a, err := app.Start(o.cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "barge:", err)
		return 1
	}
	for s := range sig {
		switch s {
		case syscall.SIGHUP:
			reload(a, &o)
		case syscall.SIGUSR1:
			if err := a.ReopenLog(); err != nil {
				a.Logger().Error("reopen log file", "err", err)
			}
		default:
			return shutdown(a, s)
		}
	}
	return 0
}

// reload reads the -c file again, with the flags over it as at start, and
// applies it; an error is logged and the server runs on unchanged.
func reload(a *app.App, o *options) {
	a.Logger().Info("reloading configuration", "signal", "hangup", "config", o.configFile)
	if o.configFile == "" {
		// The certificate files are read again all the same.
		if err := a.ReloadCerts(); err != nil {
			a.Logger().Error("failed to reload certificates", "err", err)
		}
		a.Logger().Error("failed to reload server configuration",
			"err", "can only reload config when a file is provided using -c or --config")
		return
	}
	cfg, err := o.config()
	if err == nil {
		err = a.Reload(cfg)
	}
	if err != nil {
		a.Logger().Error("failed to reload server configuration", "err", err)
	}
}

func shutdown(a *app.App, s os.Signal) int {
	a.Logger().Info("shutting down", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		a.Logger().Error("shutdown", "err", err)
		return 1
	}
	return 0
}

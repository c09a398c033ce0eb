// Command barge-faults runs a three-node barge cluster as processes on
// loopback, publishes 1 KiB and 1 MiB messages with acks into an R3 stream
// while it kills -9 the stream leader, restarts it, and pauses the new
// leader (SIGSTOP/SIGCONT) and restarts the node of a live durable
// consumer, then reads the stream back and reports acked messages lost
// (must be 0), duplicates, gaps, the longest unavailability, and what the
// live consumer received (every acked message must arrive; redeliveries
// are counted). `make faults` runs the long form; its test runs a short
// one in `make test`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/barge", "barge binary")
	dir := flag.String("dir", "", "data folder (default: a temporary one, removed afterwards)")
	dur := flag.Duration("duration", 60*time.Second, "publishing time; the faults are spread over it")
	flag.Parse()
	d := *dir
	if d == "" {
		tmp, err := os.MkdirTemp("", "barge-faults-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer os.RemoveAll(tmp)
		d = tmp
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur+3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Bin: *bin, Dir: d, Duration: *dur, Log: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	fmt.Println(rep)
	if rep.AckedLost != 0 || rep.Gaps != 0 || rep.OutOfOrder != 0 || rep.NotConsumed != 0 {
		os.Exit(1)
	}
}

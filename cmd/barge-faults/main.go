// Command barge-faults runs a three-node barge cluster as processes on
// loopback, each behind fault-injecting proxies (internal/faultproxy) for
// its client, route and raft connections, and publishes 1 KiB and 1 MiB
// messages with acks into an R3 stream while it injects faults: kill -9 of
// the stream leader and its restart, SIGSTOP/SIGCONT of the leader, the
// leader and then a follower cut off from everyone and healed, and a
// restart of the node of a live durable pull consumer. Then it reads every
// replica back and reports acked messages lost (must be 0), duplicates,
// gaps, the longest unavailability and each fault's own window and
// catch-up time, and what the live consumer received (every acked message
// must arrive; redeliveries are counted). `make faults` runs the long form;
// its test runs a short one in `make test`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/barge", "barge binary")
	dir := flag.String("dir", "", "data folder (default: a temporary one, removed afterwards)")
	dur := flag.Duration("duration", 60*time.Second, "publishing time; the faults are spread over it")
	faults := flag.String("faults", AllFaults, "faults to inject, in order, comma separated (\"\" for none)")
	flag.Parse()
	d := *dir
	if d == "" {
		tmp, err := os.MkdirTemp("", "barge-faults-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		d = tmp
	}
	var fs []string
	if *faults != "" {
		fs = strings.Split(*faults, ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur+5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Bin: *bin, Dir: d, Duration: *dur, Faults: fs, Log: os.Stdout})
	code := 0
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "faults:", err)
		code = 1
	case len(rep.Failed()) > 0:
		fmt.Println(rep)
		fmt.Fprintln(os.Stderr, "faults: failed:", strings.Join(rep.Failed(), "; "))
		code = 1
	default:
		fmt.Println(rep)
	}
	if *dir == "" {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

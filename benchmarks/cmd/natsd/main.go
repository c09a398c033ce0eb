// Command natsd runs nats-server (embedded as a library, v2.15.x from the Go
// module proxy) as its own process, with the same flag spelling the suite uses
// for barge, so both servers' CPU seconds and peak RSS are measured the same way
// from /proc. With --cluster and --routes it runs as one member of a
// JetStream cluster (the suite's R3 workloads start three); with -tlscert and
// -tlskey its client port serves TLS only (the suite's tls-* workloads);
// with -c it reads a configuration file first (the auth-* workloads'
// users and permissions); with -profport and -profile_rate it serves pprof
// with the mutex and block profiles filled (`make profile`).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/units"
	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	fs := flag.NewFlagSet("natsd", flag.ExitOnError)
	host := fs.String("a", "127.0.0.1", "client listen address")
	port := fs.Int("p", 4222, "client port")
	httpPort := fs.Int("m", 0, "monitoring port (/varz); 0 = off")
	profPort := fs.Int("profport", 0, "pprof port (/debug/pprof); 0 = off")
	profRate := fs.Int("profile_rate", 0, "fill /debug/pprof's mutex and block profiles as barge's --profile_rate does: sample 1 in N contended locks and one block event per N ns blocked (0: off)")
	js := fs.Bool("js", false, "enable JetStream")
	storeDir := fs.String("sd", "", "JetStream store directory")
	maxPayload := fs.String("max_payload", "64MiB", "max_payload (nats-server caps it at 64MiB = max_pending)")
	sync := fs.String("sync", "default", "JetStream sync: default (every 2m), always (fsync each write) or a duration")
	verbose := fs.Bool("V", false, "log to stderr")
	name := fs.String("n", "natsd-bench", "server_name (a JetStream cluster needs unique names)")
	cluster := fs.String("cluster", "", "route listen address host:port (or nats://host:port); empty: standalone")
	routes := fs.String("routes", "", "seed route URLs, comma separated (listing this node itself is fine)")
	clusterName := fs.String("cluster_name", "natsd-bench", "cluster name")
	tlsCert := fs.String("tlscert", "", "client port: TLS certificate (PEM); with -tlskey the port is TLS only")
	tlsKey := fs.String("tlskey", "", "client port: TLS private key (PEM)")
	configFile := fs.String("c", "", "configuration file (nats-server syntax, e.g. an authorization block), read first; the flags override it")
	_ = fs.Parse(os.Args[1:])

	mp, err := units.ParseSize(*maxPayload)
	if err != nil || mp <= 0 || mp > 1<<31-1 {
		fail(fmt.Errorf("bad -max_payload %q", *maxPayload))
	}
	opts := &server.Options{}
	if *configFile != "" {
		if opts, err = server.ProcessConfigFile(*configFile); err != nil {
			fail(fmt.Errorf("-c: %w", err))
		}
	}
	opts.ServerName = *name
	opts.Host, opts.Port = *host, *port
	opts.HTTPHost, opts.HTTPPort = *host, *httpPort
	opts.ProfPort = *profPort
	if *profRate > 0 {
		// nats-server sets the block rate itself (from ProfBlockRate) when
		// it starts; the mutex fraction is ours to set.
		opts.ProfBlockRate = *profRate
		runtime.SetMutexProfileFraction(*profRate)
	}
	opts.JetStream, opts.StoreDir = *js, *storeDir
	opts.MaxPayload, opts.MaxPending = int32(mp), max(mp, 64<<20)
	opts.NoSigs, opts.NoLog = true, !*verbose
	if *cluster != "" {
		h, p, err := splitHostPort(*cluster)
		if err != nil {
			fail(fmt.Errorf("bad --cluster %q: %w", *cluster, err))
		}
		opts.Cluster.Host, opts.Cluster.Port, opts.Cluster.Name = h, p, *clusterName
		if *routes != "" {
			opts.Routes = server.RoutesFromStr(*routes)
		}
	}
	if *tlsCert != "" || *tlsKey != "" {
		// As nats-server's --tlscert/--tlskey: server-only TLS with its
		// default versions, suites and handshake timeout.
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: *tlsCert, KeyFile: *tlsKey})
		if err != nil {
			fail(fmt.Errorf("tls: %w", err))
		}
		opts.TLSConfig, opts.TLS = tc, true
		opts.TLSTimeout = server.TLS_TIMEOUT.Seconds()
	}
	switch s := strings.ToLower(*sync); s {
	case "default", "":
	case "always":
		opts.SyncAlways = true
	default:
		d, err := time.ParseDuration(s)
		if err != nil {
			fail(fmt.Errorf("bad -sync %q", *sync))
		}
		opts.SyncInterval = d
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		fail(err)
	}
	if *verbose {
		srv.ConfigureLogger()
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fail(fmt.Errorf("not ready after 30s"))
	}
	fmt.Fprintf(os.Stderr, "natsd: nats-server %s listening on %s:%d\n", server.VERSION, *host, *port)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
}

// splitHostPort reads "host:port" or "nats://host:port".
func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(strings.TrimPrefix(addr, "nats://"))
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return h, port, err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "natsd:", err)
	os.Exit(1)
}

package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/bargemq/barge/cmd/barge/app"
)

// setting is a flag that records its value for Config.Set, so a flag given on
// the command line is applied after the config file and wins over it.
type setting struct {
	key    string
	isBool bool
	sets   *[]kv
}

type kv struct{ key, val string }

func (s *setting) String() string   { return "" }
func (s *setting) IsBoolFlag() bool { return s.isBool }
func (s *setting) Set(v string) error {
	*s.sets = append(*s.sets, kv{s.key, v})
	return nil
}

type options struct {
	cfg         app.Config
	configFile  string
	sets        []kv   // settings given as flags, in order
	signal      string // --signal: the command (and =pid) to send
	showVersion bool
}

// flagDoc lists every setting flag: names (short first), config key, bool, help.
var flagDoc = []struct {
	names  []string
	key    string
	isBool bool
	help   string
}{
	{[]string{"a", "addr", "net"}, "host", false, "client listen host (default 127.0.0.1)"},
	{[]string{"p", "port"}, "port", false, "client listen port (default 4222; 0 picks a free port)"},
	{[]string{"m", "http_port"}, "http_port", false, "monitoring HTTP port for /healthz /varz /connz /debug/pprof (default 8222; 0 disables)"},
	{[]string{"http"}, "http", false, "monitoring listen address host:port (default 127.0.0.1:8222, whatever --addr is; 0.0.0.0:8222 exposes it, pprof included)"},
	{[]string{"http_host"}, "http_host", false, "monitoring listen host (default 127.0.0.1)"},
	{[]string{"profile_rate"}, "profile_rate", false, "fill /debug/pprof's mutex and block profiles: sample 1 in N contended locks and one block event per N ns blocked (default 0: off)"},
	{[]string{"n", "name", "server_name"}, "server_name", false, "server name advertised in INFO (default: the server id)"},
	{[]string{"max_payload"}, "max_payload", false, "largest message a client may publish, e.g. 64MB, 2GiB (default 1GB)"},
	{[]string{"max_pending"}, "max_pending", false, "per-connection outbound budget, memory plus staged on disk, before a subscriber is cut as a slow consumer (default 4GB)"},
	{[]string{"write_watermark"}, "write_watermark", false, "per-connection outbound held in memory before the rest is staged on disk (default 64MB)"},
	{[]string{"max_control_line"}, "max_control_line", false, "longest protocol control line (default 4KB)"},
	{[]string{"max_staging"}, "max_staging", false, "outbound bytes all connections together may stage on disk; staging also leaves 5% of its disk free; a subscriber that cannot stage is cut as a slow consumer (default 0: a quarter of the disk's free space at start)"},
	{[]string{"max_connections", "max_conn"}, "max_connections", false, "most client connections; over it a client gets -ERR 'maximum connections exceeded' (default 64K; 0 refuses every client)"},
	{[]string{"max_subscriptions", "max_subs"}, "max_subscriptions", false, "most subscriptions per connection; over it a SUB gets -ERR 'maximum subscriptions exceeded' and the connection stays (default 0: no limit)"},
	{[]string{"ping_interval"}, "ping_interval", false, "interval of server PINGs, e.g. 2m or 120 (default 2m)"},
	{[]string{"ping_max"}, "ping_max", false, "unanswered PINGs before the connection is closed as stale (default 2)"},
	{[]string{"js", "jetstream"}, "jetstream", true, "enable JetStream (default true; -js=false disables)"},
	{[]string{"sd", "store_dir"}, "store_dir", false, "folder for JetStream data and staged outbound bytes (default ./data)"},
	{[]string{"sync"}, "sync", false, "JetStream durability: always (fsync before each PubAck, default) or an interval such as 1s (fsync that often; a crash can lose the window)"},
	{[]string{"cluster"}, "cluster", false, "route listen address host:port (or nats://host:port): join a cluster"},
	{[]string{"routes"}, "routes", false, "seed routes to dial, comma separated, e.g. nats://127.0.0.1:6222,nats://127.0.0.1:6223 (this server may be listed)"},
	{[]string{"cluster_name"}, "cluster_name", false, "cluster name; routes from servers of another cluster are refused"},
	{[]string{"cluster_advertise"}, "cluster_advertise", false, "route host:port advertised to the other members (default: the --cluster address)"},
	{[]string{"raft"}, "raft", false, "raft listen address host:port, advertised to the other members for replicated streams"},
	{[]string{"raft_listen"}, "raft_listen", false, "raft listen address host:port when it differs from the advertised --raft one (e.g. behind a proxy); default: the --raft address"},
	{[]string{"node_id"}, "node_id", false, "this node's stable numeric id in the cluster (its raft replica id, > 0), advertised to the other members"},
	{[]string{"cluster_size"}, "cluster_size", false, "members that bootstrap the JetStream meta shard (raft); 0 (default) runs no raft. Needs --cluster_name, --raft and --node_id"},
	{[]string{"tls"}, "tls", true, "serve clients over TLS only (needs --tlscert and --tlskey; INFO says tls_required, clients upgrade after it)"},
	{[]string{"tlscert"}, "tlscert", false, "server certificate chain, PEM (enables TLS); reloaded on SIGHUP and when the file changes"},
	{[]string{"tlskey"}, "tlskey", false, "server private key, PEM"},
	{[]string{"tlscacert"}, "tlscacert", false, "CA bundle, PEM, that client certificates are verified against"},
	{[]string{"tlsverify"}, "tlsverify", true, "require a client certificate signed by --tlscacert (enables TLS)"},
	{[]string{"https_port"}, "https_port", false, "monitoring over HTTPS on this port with the TLS certificate (default 0: off; -1 picks a free port)"},
	{[]string{"l", "log"}, "log_file", false, "log to this file instead of stderr (SIGUSR1 or --signal reopen opens it again)"},
	{[]string{"P", "pid"}, "pid_file", false, "write the process id to this file while running"},
	{[]string{"D", "debug"}, "debug", true, "debug logging"},
	{[]string{"V", "trace"}, "trace", true, "protocol trace logging"},
}

// parseFlags reads args into options: defaults, then the config file named by
// -c, then every other flag given, in order.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("barge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, d := range flagDoc {
		s := &setting{key: d.key, isBool: d.isBool, sets: &o.sets}
		for _, n := range d.names {
			fs.Var(s, n, d.help)
		}
	}
	dv := &setting{key: "debug+trace", isBool: true, sets: &o.sets}
	fs.Var(dv, "DV", "debug and trace logging")
	fs.StringVar(&o.configFile, "c", "", "configuration file (nats-server syntax, see README)")
	fs.StringVar(&o.configFile, "config", "", "configuration file")
	fs.BoolVar(&o.showVersion, "v", false, "print the version and exit")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&o.signal, "sl", "", "send a signal to a running barge")
	fs.StringVar(&o.signal, "signal", "", "send a signal to a running barge")
	fs.Usage = func() { usage(fs.Output()) }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.signal != "" || o.showVersion {
		return o, nil // the configuration is not needed
	}
	var err error
	o.cfg, err = o.config()
	return o, err
}

// config builds the configuration: defaults, then the -c file, then the
// flags in the order given. It runs at start and again for each reload.
func (o *options) config() (app.Config, error) {
	c := app.Defaults()
	if o.configFile != "" {
		if err := c.LoadFile(o.configFile); err != nil {
			return c, err
		}
	}
	for _, s := range o.sets {
		if s.key == "debug+trace" {
			if s.val == "true" {
				c.Debug, c.Trace = true, true
			}
			continue
		}
		if err := c.Set(s.key, s.val); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: barge [options]\n\n")
	fmt.Fprintf(w, "barge is a NATS-protocol message broker for large messages.\n\n")
	fmt.Fprintf(w, "Options (long forms take one or two dashes: -port, --port):\n")
	for _, d := range flagDoc {
		names := ""
		for i, n := range d.names {
			if i > 0 {
				names += ", "
			}
			if len(n) <= 2 || n == "sd" || n == "js" {
				names += "-" + n
			} else {
				names += "--" + n
			}
		}
		arg := " <value>"
		if d.isBool {
			arg = ""
		}
		fmt.Fprintf(w, "  %-38s %s\n", names+arg, d.help)
	}
	fmt.Fprintf(w, "  %-38s %s\n", "-DV", "debug and trace logging")
	fmt.Fprintf(w, "  %-38s %s\n", "-c, --config <file>", "configuration file in nats-server's syntax: keys are the long flag names, plus cluster { }, jetstream { }, tls { }, authorization { } and accounts { } blocks (README); flags win. SIGHUP reads it again and applies what can change at run time")
	fmt.Fprintf(w, "  %-38s %s\n", "-sl, --signal <signal>[=<pid>]", "send a signal to a running barge and exit: reload (SIGHUP: read the -c file again), reopen (SIGUSR1: reopen the log file), quit (SIGINT), term (SIGTERM), stop (SIGKILL); <pid> is a pid or a pid file, default the -P file")
	fmt.Fprintf(w, "  %-38s %s\n", "-v, --version", "print the version and exit")
	fmt.Fprintf(w, "  %-38s %s\n", "-h, --help", "show this help")
}

// Package app assembles a barge server from its parts: configuration, the
// broker, the network transport and the monitoring endpoint. cmd/barge's
// main is flags and signals around it; tests start the same App in-process.
package app

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/tlsconf"
)

// Config is everything a barge server is started with. The zero value is not
// useful: start from Defaults and override.
type Config struct {
	Host           string        // client listen host
	Port           int           // client listen port; 0 picks a free one
	HTTPPort       int           // monitoring port; 0 disables, -1 picks a free one
	HTTPHost       string        // monitoring listen host; "" is 127.0.0.1, whatever Host is
	ServerName     string        // advertised server_name; defaults to the server id
	MaxPayload     int64         // largest message a client may publish, bytes
	MaxPending     int64         // per-connection outbound budget (memory + staged on disk) before Slow Consumer
	WriteWatermark int           // per-connection in-memory outbound before staging to disk
	MaxControlLine int           // longest protocol line
	PingInterval   time.Duration // server PING interval
	MaxPingsOut    int           // unanswered PINGs before 'Stale Connection'
	JetStream      bool          // JetStream enabled
	StoreDir       string        // JetStream data and staging folder
	SyncInterval   time.Duration // JetStream durability: 0 = fsync before every PubAck ("always"), else fsync every interval
	LogFile        string        // log destination; empty is stderr
	PidFile        string        // file the process id is written to while running; "" = none
	Debug          bool          // debug logging
	Trace          bool          // protocol trace logging
	// ProfileRate turns on the mutex and block profiles served on
	// /debug/pprof: one mutex contention event in ProfileRate is sampled,
	// and one blocking event per ProfileRate nanoseconds spent blocked. 0
	// (default) leaves both off; they are process-wide runtime settings.
	ProfileRate int

	// MaxStaging is the most outbound bytes all connections together may
	// stage on disk; 0 (default) takes a quarter of the staging file
	// system's free space at start. Staging also always leaves 5% of that
	// file system free. A connection that cannot stage is cut as a slow
	// consumer.
	MaxStaging int64
	// MaxConnections is the most client connections (nats-server's
	// max_connections, default 64K); 0 refuses every client, as there.
	MaxConnections int
	// MaxSubs is max_subscriptions: the most subscriptions one connection
	// may hold; 0 (default) or negative sets no limit, as in nats-server.
	MaxSubs int

	// Cluster settings; Cluster empty means a standalone server.
	Cluster          string   // route listen address, host:port (nats://host:port accepted)
	Routes           []string // seed route URLs to dial; may include this server itself
	ClusterName      string   // cluster name; routes from another cluster are refused
	ClusterAdvertise string   // route host:port advertised to peers (default: the listen address)
	RaftAddr         string   // raft listen address, advertised to peers for replicated streams
	RaftListen       string   // raft listen address when it differs from RaftAddr (a proxy in between); "" = RaftAddr
	NodeID           uint64   // stable numeric node id (raft replica id), advertised to peers; 0 = unset
	// ClusterSize is the number of members that bootstrap the JetStream
	// meta shard (jscluster.go); 0 runs no raft at all. It needs Cluster,
	// RaftAddr, NodeID and JetStream.
	ClusterSize int
	// RaftSnapshotEntries and RaftCompactionOverhead tune raft snapshots
	// (entries between snapshots, entries kept behind one); 0 takes the
	// raft package's defaults. No flag: tests lower them.
	RaftSnapshotEntries    uint64
	RaftCompactionOverhead uint64
	// SegmentSize is the size at which a stream's log starts a new
	// segment file; 0 takes the log's default (64 MiB). No flag: tests
	// lower it.
	SegmentSize int64
	// StoreFS is the file system the streams' files (message logs,
	// meta.json, consumer config and state) and the cluster's marker files
	// go through (the log's FS seam); nil is the OS. No flag: tests inject
	// disk faults.
	StoreFS log.FS
	// Auth is client authentication and permissions (the authorization
	// block, no_auth_user, operator mode); the zero value lets every
	// client in.
	Auth auth.Config
	// TLS is the client port's TLS (flags --tls, --tlscert, --tlskey,
	// --tlscacert, --tlsverify; the config's tls { } block); ClusterTLS is
	// mutual TLS for routes and raft (cluster { tls { } }), always
	// verifying peers against its ca_file. Zero values are TLS off.
	TLS, ClusterTLS tlsconf.Options
	// HTTPSPort serves monitoring over HTTPS with TLS's certificate; 0
	// disables, -1 picks a free port.
	HTTPSPort int
	// CertWatchInterval is how often the certificate files are checked for
	// changes (size, modification time) and reloaded; 0 is 1s. No flag.
	CertWatchInterval time.Duration
	// Accounts are the accounts block (config_accounts.go); their users
	// are in Auth.Users.
	Accounts []AccountConfig
	// Clock is the time JetStream runs on (message timestamps, the
	// duplicate window, max_age, consumer timers; a replicated message's
	// timestamp is its proposer's); nil is the system clock. No flag:
	// tests move time.
	Clock broker.Clock
}

// storeFS is StoreFS, or the OS when it is nil.
func (c *Config) storeFS() log.FS {
	if c.StoreFS == nil {
		return log.OSFS{}
	}
	return c.StoreFS
}

// Defaults returns the embedded defaults `make run` relies on.
func Defaults() Config {
	return Config{
		Host:           "127.0.0.1",
		Port:           4222,
		HTTPPort:       8222,
		HTTPHost:       "127.0.0.1",
		MaxPayload:     1 << 30,
		MaxPending:     4 << 30,
		WriteWatermark: 64 << 20,
		MaxConnections: 64 * 1024,
		MaxControlLine: 4096,
		PingInterval:   2 * time.Minute,
		MaxPingsOut:    2,
		JetStream:      true,
		StoreDir:       "./data",
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port %d out of range", c.Port)
	case c.HTTPPort < -1 || c.HTTPPort > 65535:
		return fmt.Errorf("http_port %d out of range", c.HTTPPort)
	case c.HTTPSPort < -1 || c.HTTPSPort > 65535:
		return fmt.Errorf("https_port %d out of range", c.HTTPSPort)
	case c.HTTPSPort != 0 && !c.TLS.Enabled:
		return fmt.Errorf("https_port needs TLS (tls { } or --tls with --tlscert and --tlskey)")
	case c.ClusterTLS.Enabled && c.ClusterTLS.CAFile == "":
		return fmt.Errorf("cluster tls needs ca_file: routes and raft verify their peers")
	case c.MaxPayload <= 0:
		return fmt.Errorf("max_payload must be positive")
	case c.MaxPending <= 0:
		return fmt.Errorf("max_pending must be positive")
	case c.WriteWatermark <= 0:
		return fmt.Errorf("write_watermark must be positive")
	case c.MaxStaging < 0:
		return fmt.Errorf("max_staging must not be negative")
	case c.MaxConnections < 0:
		return fmt.Errorf("max_connections must not be negative")
	case c.MaxControlLine < 256:
		return fmt.Errorf("max_control_line must be at least 256")
	case c.PingInterval <= 0:
		return fmt.Errorf("ping_interval must be positive")
	case c.MaxPingsOut <= 0:
		return fmt.Errorf("ping_max must be positive")
	case c.SyncInterval < 0:
		return fmt.Errorf("sync interval must be positive")
	case c.JetStream && c.StoreDir == "":
		return fmt.Errorf("jetstream needs a store_dir")
	case c.Cluster == "" && len(c.Routes) > 0:
		return fmt.Errorf("routes need a cluster listen address (--cluster)")
	case c.ClusterSize < 0:
		return fmt.Errorf("cluster_size must not be negative")
	case c.ClusterSize > 0 && (c.Cluster == "" || c.ClusterName == "" || c.RaftAddr == "" || c.NodeID == 0 || !c.JetStream):
		// As nats-server's "jetstream cluster requires `cluster.name`":
		// stream info names the cluster.
		return fmt.Errorf("cluster_size needs --cluster, --cluster_name, --raft, --node_id and JetStream")
	}
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if err := c.ClusterTLS.Validate(); err != nil {
		return fmt.Errorf("cluster %w", err)
	}
	if err := c.validateAccounts(); err != nil {
		return err
	}
	if c.Cluster != "" {
		if _, _, err := net.SplitHostPort(hostPort(c.Cluster)); err != nil {
			return fmt.Errorf("cluster: want host:port, got %q", c.Cluster)
		}
	}
	for _, r := range c.Routes {
		if _, _, err := net.SplitHostPort(hostPort(r)); err != nil {
			return fmt.Errorf("routes: want host:port or nats://host:port, got %q", r)
		}
	}
	return nil
}

// hostPort strips a URL scheme ("nats://", "nats-route://") and a trailing
// slash from a route address.
func hostPort(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	return strings.TrimSuffix(s, "/")
}

// splitList splits a comma- or space-separated list, dropping empty items.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// ParseSize reads a byte count such as "1048576", "64MB", "64MiB", "1GB" or
// "512k". As in nats-server, K/M/G/T units are powers of 1024 with or without
// the "i" and the trailing "B".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	t = strings.TrimSuffix(t, "B")
	t = strings.TrimSuffix(t, "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = strings.TrimSpace(t[:n-1])
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	if v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return v * mult, nil
}

// Set applies one setting by its long flag name.
func (c *Config) Set(key, val string) error {
	var err error
	switch strings.ToLower(key) {
	case "addr", "host", "net":
		c.Host = val
	case "port":
		c.Port, err = strconv.Atoi(val)
	case "http_port", "monitor_port":
		c.HTTPPort, err = strconv.Atoi(val)
	case "http":
		c.HTTPHost, c.HTTPPort, err = parseListen(c.HTTPHost, val)
	case "http_host":
		c.HTTPHost = val
	case "server_name", "name":
		c.ServerName = val
	case "max_payload":
		c.MaxPayload, err = ParseSize(val)
	case "max_pending":
		c.MaxPending, err = ParseSize(val)
	case "write_watermark":
		var v int64
		v, err = ParseSize(val)
		c.WriteWatermark = int(v)
	case "max_control_line":
		var v int64
		v, err = ParseSize(val)
		c.MaxControlLine = int(v)
	case "max_staging":
		c.MaxStaging, err = ParseSize(val)
	case "max_connections", "max_conn":
		c.MaxConnections, err = strconv.Atoi(val)
	case "max_subscriptions", "max_subs":
		c.MaxSubs, err = strconv.Atoi(val)
	case "ping_interval":
		c.PingInterval, err = parseDuration(val)
	case "ping_max":
		c.MaxPingsOut, err = strconv.Atoi(val)
	case "jetstream", "js":
		c.JetStream, err = parseBool(val)
	case "store_dir", "sd":
		c.StoreDir = val
	case "sync":
		c.SyncInterval, err = parseSync(val)
	case "log", "log_file":
		c.LogFile = val
	case "pid", "pid_file", "pidfile":
		c.PidFile = val
	case "debug":
		c.Debug, err = parseBool(val)
	case "trace":
		c.Trace, err = parseBool(val)
	case "profile_rate":
		c.ProfileRate, err = strconv.Atoi(val)
		if err == nil && c.ProfileRate < 0 {
			err = fmt.Errorf("must not be negative")
		}
	case "cluster", "cluster_listen":
		c.Cluster = hostPort(val)
	case "routes":
		c.Routes = splitList(val)
	case "cluster_name":
		c.ClusterName = val
	case "cluster_advertise":
		c.ClusterAdvertise = hostPort(val)
	case "raft", "raft_addr":
		c.RaftAddr = hostPort(val)
	case "raft_listen":
		c.RaftListen = hostPort(val)
	case "node_id":
		c.NodeID, err = strconv.ParseUint(val, 10, 64)
	case "tls":
		c.TLS.Enabled, err = parseBool(val)
	case "tlscert":
		c.TLS.CertFile, c.TLS.Enabled = val, true
	case "tlskey":
		c.TLS.KeyFile, c.TLS.Enabled = val, true
	case "tlscacert":
		c.TLS.CAFile = val
	case "tlsverify":
		c.TLS.Verify, err = parseBool(val)
		c.TLS.Enabled = c.TLS.Enabled || c.TLS.Verify
	case "https_port":
		c.HTTPSPort, err = strconv.Atoi(val)
	case "cluster_size", "jetstream_cluster_size":
		c.ClusterSize, err = strconv.Atoi(val)
	default:
		return fmt.Errorf("unknown setting %q", key)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// parseListen reads `host:port` or a bare `port` (host then stays as it
// was), as nats-server reads its `http` setting; `:port` is every
// interface, as in Go's net.Listen.
func parseListen(host, s string) (string, int, error) {
	if p, err := strconv.Atoi(s); err == nil {
		return host, p, nil
	}
	h, ps, err := net.SplitHostPort(s)
	if err != nil {
		return host, 0, fmt.Errorf("want host:port or port, got %q", s)
	}
	p, err := strconv.Atoi(ps)
	if err != nil {
		return host, 0, fmt.Errorf("want host:port or port, got %q", s)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, p, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "on", "yes", "enabled", "1":
		return true, nil
	case "false", "off", "no", "disabled", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q", s)
}

// parseDuration accepts Go durations ("2m", "500ms") and bare seconds ("120").
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// parseSync reads the sync setting: "always" (fsync before every PubAck,
// the default) or an interval such as "1s" or "200ms" (fsync in the
// background that often; a crash can lose that window).
func parseSync(s string) (time.Duration, error) {
	if strings.EqualFold(s, "always") {
		return 0, nil
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want always or a positive interval, got %q", s)
	}
	return d, nil
}

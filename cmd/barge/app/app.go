package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/broker/jetstream"
	"github.com/bargemq/barge/log"
	"github.com/bargemq/barge/netpoll"
	"github.com/bargemq/barge/tlsconf"
)

// Version is barge's own release version.
const Version = broker.Version

// ProtocolVersion is the nats-server version barge advertises in INFO, so
// clients enable the features it has.
const ProtocolVersion = broker.NATSVersion

// LevelTrace is the slog level of protocol tracing (-V).
const LevelTrace = slog.Level(-8)

// App is a running barge server.
type App struct {
	cfg     Config // as started; reload.cfg has the settings in force
	log     *slog.Logger
	logOut  *logSink       // the logger's destination, swapped by a reload
	level   *slog.LevelVar // the logger's level, changed by a reload
	broker  *broker.Server
	js      *jetstream.Engine // nil without JetStream
	net     *netpoll.Server
	cluster *broker.Cluster // nil when standalone
	routes  *netpoll.Server // the route listener; nil when standalone
	jsc     *jsCluster      // raft host and meta shard; nil without cluster_size
	http    *http.Server
	httpLn  net.Listener
	https   *http.Server   // https_port's server; nil when off
	httpsLn net.Listener   // https_port's listener (TLS); nil when off
	tls     *tlsconf.Certs // the client port's certificates; nil without TLS
	// clusterTLS is the routes' and raft's certificates; nil without.
	clusterTLS *tlsconf.Certs
	// routeDial dials routes over TLS (and counts its failed handshakes);
	// nil without cluster TLS.
	routeDial *tlsconf.Dialer
	// accts is the accounts' state: their engines, imports and
	// configuration in force (jsaccounts.go).
	accts accountsState
	// sysReady is set once Start has finished: the system account's
	// requests read fields Start sets (sysacct.go).
	sysReady atomic.Bool
	started  time.Time
	// stagingDir is where staged outbound bytes go (newStaging).
	stagingDir string

	// reload serializes Reload and ReopenLog with each other and with the
	// start of Shutdown.
	reload struct {
		sync.Mutex
		cfg     Config // the configuration in force: cfg plus reloaded settings
		stopped bool   // Shutdown began; reloads are refused
	}
}

// Start builds and starts a server from cfg: the broker, the client listener
// and, unless HTTPPort is 0, the monitoring endpoint. It returns once both
// listen.
func Start(cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// verify_and_map is a tls setting that authentication acts on.
	cfg.Auth.TLSMap = cfg.TLS.Enabled && cfg.TLS.VerifyAndMap
	a := &App{cfg: cfg, started: time.Now()}
	a.reload.cfg = cfg
	if err := a.openLog(); err != nil {
		return nil, err
	}
	spill := ""
	if cfg.StoreDir != "" {
		spill = filepath.Join(cfg.StoreDir, "staging")
		if err := os.MkdirAll(spill, 0o755); err != nil {
			a.closeLog()
			return nil, fmt.Errorf("store_dir: %w", err)
		}
	}
	staging := a.newStaging(spill)
	if err := a.startTLS(); err != nil {
		a.closeLog()
		return nil, err
	}
	authn, err := newAuthenticator(&cfg.Auth, nil)
	if err != nil {
		a.stopTLS()
		a.closeLog()
		return nil, err
	}
	a.broker = broker.NewServer(broker.Options{
		Auth:           authn,
		MaxConnections: maxConnections(cfg.MaxConnections),
		MaxSubs:        max(cfg.MaxSubs, 0),
		ServerName:     cfg.ServerName,
		Host:           cfg.Host,
		Port:           cfg.Port,
		MaxPayload:     cfg.MaxPayload,
		MaxControlLine: cfg.MaxControlLine,
		PingInterval:   cfg.PingInterval,
		MaxPingsOut:    cfg.MaxPingsOut,
		JetStream:      cfg.JetStream,
		TLSRequired:    a.tls != nil,
		TLSVerify:      a.tls != nil && cfg.TLS.RequireClientCert(),
		Logger:         a.log,
	})
	if cfg.JetStream {
		if err := a.startJetStream(); err != nil {
			a.broker.Shutdown()
			a.stopTLS()
			a.closeLog()
			return nil, err
		}
	}
	if cfg.Cluster != "" {
		if err := a.startRoutes(staging); err != nil {
			a.closeJetStream()
			a.broker.Shutdown()
			a.stopTLS()
			a.closeLog()
			return nil, err
		}
		a.warnUnclustered()
	}
	// After the routes: a service import's reply subscription is routed.
	// Validate checked the subjects, so this does not fail in practice.
	if err := a.installImports(); err != nil {
		a.log.Error("imports", "err", err)
	}
	if err := a.startSystemAccount(); err != nil {
		a.log.Error("system account", "err", err)
	}
	ns, err := netpoll.Listen(netpoll.Options{
		Addr:           net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		WriteWatermark: cfg.WriteWatermark,
		MaxPending:     cfg.MaxPending,
		Staging:        staging,
		TLS:            a.clientTLS(),
		Logger:         a.log,
	}, a.broker.Accept)
	if err != nil {
		a.closeJetStream()
		a.broker.Shutdown()
		a.stopTLS()
		a.closeLog()
		a.stopRoutes(context.Background())
		return nil, fmt.Errorf("listen: %w", err)
	}
	a.net = ns
	a.broker.SetListenAddr(ns.Addr().IP.String(), ns.Addr().Port)
	if a.cluster != nil {
		a.cluster.Start()
		if cfg.ClusterSize > 0 {
			if err := a.startRaft(); err != nil {
				_ = a.Shutdown(context.Background())
				return nil, err
			}
		}
	}
	if cfg.HTTPPort != 0 || cfg.HTTPSPort != 0 {
		if err := a.startMonitor(); err != nil {
			_ = a.Shutdown(context.Background())
			return nil, err
		}
	}
	if cfg.PidFile != "" {
		if err := writePidFile(cfg.PidFile); err != nil {
			a.reload.cfg.PidFile = "" // not ours to remove
			_ = a.Shutdown(context.Background())
			return nil, err
		}
	}
	a.log.Info("barge ready", "version", Version, "addr", ns.Addr().String(),
		"max_payload", cfg.MaxPayload, "jetstream", cfg.JetStream, "store_dir", cfg.StoreDir,
		"max_connections", cfg.MaxConnections, "max_staging", staging.Max())
	a.sysReady.Store(true)
	return a, nil
}

// Logger is the server's logger.
func (a *App) Logger() *slog.Logger { return a.log }

// Broker is the server's broker, for tests and embedding.
func (a *App) Broker() *broker.Server { return a.broker }

// ClientURL is the nats:// URL clients connect to.
func (a *App) ClientURL() string { return "nats://" + a.net.Addr().String() }

// MonitorURL is the http:// base URL of the monitoring endpoint, or "" when
// it is disabled.
func (a *App) MonitorURL() string {
	if a.httpLn == nil {
		return ""
	}
	return "http://" + a.httpLn.Addr().String()
}

// Shutdown stops accepting, flushes every connection's queued output within
// ctx, closes connections and stores, and stops the monitoring endpoint.
func (a *App) Shutdown(ctx context.Context) error {
	a.reload.Lock()
	a.reload.stopped = true
	pidFile := a.reload.cfg.PidFile
	a.reload.Unlock()
	var errs []error
	if a.http != nil {
		errs = append(errs, a.http.Shutdown(ctx))
	}
	if a.https != nil {
		errs = append(errs, a.https.Shutdown(ctx))
	}
	a.stopTLS()
	errs = append(errs, a.stopRoutes(ctx))
	if a.net != nil {
		errs = append(errs, a.net.Shutdown(ctx))
	}
	a.stopBootstrap()
	errs = append(errs, a.closeJetStream())
	a.stopRaft()
	a.broker.Shutdown()
	removePidFile(pidFile)
	a.log.Info("barge stopped")
	a.closeLog()
	return errors.Join(errs...)
}

// startJetStream loads the streams from store_dir and subscribes the
// JetStream API, before any client can connect.
func (a *App) startJetStream() error {
	js, err := jetstream.New(a.broker, a.jsOptions())
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	a.js = js
	if err := a.startAccountJetStream(); err != nil {
		_ = a.closeJetStream()
		return err
	}
	return nil
}

// jsOptions are the engine options every account's engine starts from.
func (a *App) jsOptions() jetstream.Options {
	o := jetstream.Options{
		StoreDir:    a.cfg.StoreDir,
		Logger:      a.log,
		MaxPayload:  a.cfg.MaxPayload,
		SegmentSize: a.cfg.SegmentSize,
		FS:          a.cfg.StoreFS,
		Clock:       a.cfg.Clock,
		Clustered:   a.cfg.ClusterSize > 0,
		ServerName:  a.cfg.ServerName,
	}
	if a.cfg.Cluster != "" {
		o.ClusterName = a.cfg.ClusterName
	}
	if a.cfg.SyncInterval > 0 {
		o.Sync, o.SyncInterval = log.SyncInterval, a.cfg.SyncInterval
	}
	return o
}

// closeJetStream closes the streams (their logs sync what is committed).
func (a *App) closeJetStream() error {
	errs := []error{a.closeAccountJetStream()}
	if a.js == nil {
		return errors.Join(errs...)
	}
	errs = append(errs, a.js.Close())
	a.js = nil
	return errors.Join(errs...)
}

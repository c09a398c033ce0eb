package app

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/bargemq/barge/broker"
)

// reloadSetting is a setting a configuration reload may change while the
// server runs: the Config field it reads (by Go name), its config key for
// the log, and how the new value is made to take effect.
type reloadSetting struct {
	key   string
	field string
	apply func(a *App, c *Config) error
}

// reloadable lists the settings Reload changes at run time, in the order
// they are applied; every other Config field is fixed at start, and a
// reload that changes one is refused whole. Only log_file can fail to
// apply, so it comes first: a failure there leaves everything as it was.
// Several settings may share an apply function; it applies all of its
// settings and may run more than once.
var reloadable = []reloadSetting{
	{"log_file", "LogFile", (*App).applyLogFile},
	{"debug", "Debug", (*App).applyLogLevel},
	{"trace", "Trace", (*App).applyLogLevel},
	{"pid_file", "PidFile", (*App).applyPidFile},
	{"max_payload", "MaxPayload", (*App).applyClientLimits},
	{"max_control_line", "MaxControlLine", (*App).applyClientLimits},
	{"ping_interval", "PingInterval", (*App).applyClientLimits},
	{"ping_max", "MaxPingsOut", (*App).applyClientLimits},
	{"max_connections", "MaxConnections", (*App).applyClientLimits},
	{"max_staging", "MaxStaging", (*App).applyStaging},
	{"max_pending", "MaxPending", (*App).applyOutbound},
	{"write_watermark", "WriteWatermark", (*App).applyOutbound},
	{"profile_rate", "ProfileRate", (*App).applyProfileRate},
	{"accounts", "Accounts", (*App).applyAccounts},
	{"authorization", "Auth", (*App).applyAuth},
	// Loaded before the others apply (Reload, reloadCerts); nothing left
	// to do here but log the change.
	{"tls", "TLS", func(*App, *Config) error { return nil }},
}

// fixedKeys names the settings fixed at start by their config keys, for
// the error that refuses a reload changing one.
var fixedKeys = map[string]string{
	"Host": "host", "Port": "port", "HTTPPort": "http_port", "HTTPHost": "http_host",
	"ServerName": "server_name", "JetStream": "jetstream", "StoreDir": "store_dir",
	"SyncInterval": "sync", "Cluster": "cluster", "Routes": "routes",
	"ClusterName": "cluster_name", "ClusterAdvertise": "cluster_advertise",
	"RaftAddr": "raft", "RaftListen": "raft_listen", "NodeID": "node_id",
	"ClusterSize": "cluster_size", "RaftSnapshotEntries": "raft_snapshot_entries",
	"RaftCompactionOverhead": "raft_compaction_overhead",
	"SegmentSize":            "segment_size", "StoreFS": "store_fs", "Clock": "clock",
	"ClusterTLS": "cluster tls", "HTTPSPort": "https_port",
	"CertWatchInterval": "cert_watch_interval", "MaxSubs": "max_subscriptions",
}

var errStopped = errors.New("server is shutting down")

// Reload applies cfg, a configuration read again (SIGHUP: the -c file
// with the command line's flags over it), to the running server. It is all
// or nothing: when cfg is invalid or changes a setting fixed at start (the
// listen addresses, store_dir, the cluster, ...), it returns an error
// naming it, as nats-server does ("config reload not supported for ..."),
// and nothing changes. Otherwise each changed setting of reloadable takes
// effect and is logged ("reloaded", key, old and new value).
func (a *App) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.Auth.TLSMap = cfg.TLS.Enabled && cfg.TLS.VerifyAndMap // as in Start
	a.reload.Lock()
	defer a.reload.Unlock()
	if a.reload.stopped {
		return errStopped
	}
	old := a.reload.cfg
	changed, err := diffConfig(&old, &cfg)
	if err != nil {
		return err
	}
	if err := tlsReloadable(&old.TLS, &cfg.TLS); err != nil {
		return err
	}
	// The certificate files are read again at every reload, changed
	// settings or not (and the tls settings that may change take
	// effect): new connections get the new certificate, existing ones
	// keep theirs. A file that does not load fails the reload whole.
	if err := a.loadCerts(&cfg.TLS); err != nil {
		return err
	}
	for _, s := range changed {
		// The authorization can fail to build (an operator JWT that does
		// not verify): find out before anything changes.
		if s.key == "authorization" {
			if _, err := newAuthenticator(&cfg.Auth, nil); err != nil {
				return fmt.Errorf("%s: %w", s.key, err)
			}
		}
		if s.key == "accounts" {
			if err := checkAccountsReload(old.Accounts, cfg.Accounts); err != nil {
				return err
			}
		}
	}
	for _, s := range changed {
		if err := s.apply(a, &cfg); err != nil {
			return fmt.Errorf("%s: %w", s.key, err)
		}
		if s.key == "authorization" || s.key == "accounts" {
			// Passwords and tokens stay out of the log.
			a.log.Info("reloaded", "key", s.key)
			continue
		}
		a.log.Info("reloaded", "key", s.key,
			"old", fieldOf(&old, s.field), "new", fieldOf(&cfg, s.field))
	}
	a.reload.cfg = cfg
	a.log.Info("configuration reloaded", "changes", len(changed))
	return nil
}

// diffConfig returns the reloadable settings that differ between old and
// cfg, in reloadable's order, or an error naming the first fixed setting
// that differs.
func diffConfig(old, cfg *Config) ([]reloadSetting, error) {
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cfg).Elem()
	for i := range ov.NumField() {
		name := ov.Type().Field(i).Name
		o, n := ov.Field(i).Interface(), nv.Field(i).Interface()
		if reflect.DeepEqual(o, n) || reloadableField(name) {
			continue
		}
		key := fixedKeys[name]
		if key == "" {
			key = name
		}
		return nil, fmt.Errorf("config reload not supported for %s: old=%v, new=%v", key, o, n)
	}
	var changed []reloadSetting
	for _, s := range reloadable {
		if !reflect.DeepEqual(fieldOf(old, s.field), fieldOf(cfg, s.field)) {
			changed = append(changed, s)
		}
	}
	return changed, nil
}

func reloadableField(name string) bool {
	for _, s := range reloadable {
		if s.field == name {
			return true
		}
	}
	return false
}

// fieldOf returns c's field by Go name.
func fieldOf(c *Config, name string) any {
	return reflect.ValueOf(c).Elem().FieldByName(name).Interface()
}

func (a *App) applyLogFile(c *Config) error { return a.logOut.open(c.LogFile) }

func (a *App) applyLogLevel(c *Config) error {
	a.level.Set(logLevel(c.Debug, c.Trace))
	return nil
}

// applyPidFile writes the new pid file and removes the old one. A file
// that cannot be written is logged, not fatal, as in nats-server.
func (a *App) applyPidFile(c *Config) error {
	removePidFile(a.reload.cfg.PidFile)
	if c.PidFile != "" {
		if err := writePidFile(c.PidFile); err != nil {
			a.log.Error("reload", "err", err)
		}
	}
	return nil
}

func (a *App) applyClientLimits(c *Config) error {
	a.broker.SetLimits(broker.Limits{
		MaxPayload:     c.MaxPayload,
		MaxControlLine: c.MaxControlLine,
		PingInterval:   c.PingInterval,
		MaxPingsOut:    c.MaxPingsOut,
		MaxConnections: maxConnections(c.MaxConnections),
	})
	for _, js := range a.accountEngines() {
		js.SetMaxPayload(c.MaxPayload)
	}
	if a.js != nil {
		a.js.SetMaxPayload(c.MaxPayload)
	}
	return nil
}

func (a *App) applyOutbound(c *Config) error {
	a.net.SetOutboundLimits(c.WriteWatermark, c.MaxPending)
	if a.routes != nil {
		a.routes.SetOutboundLimits(c.WriteWatermark, c.MaxPending)
	}
	return nil
}

// applyStaging sets the fixed staging budget; 0 takes a quarter of the
// free space again, as at start.
func (a *App) applyStaging(c *Config) error {
	a.net.Staging().SetMax(a.stagingLimit(c.MaxStaging))
	return nil
}

func (a *App) applyProfileRate(c *Config) error {
	setProfileRate(c.ProfileRate)
	return nil
}

// applyAuth installs the new users, passwords and permissions: new logins
// use them, and connected clients are checked against them (see
// broker.Server.SetAuth). Verified bcrypt passwords that still apply are
// kept.
func (a *App) applyAuth(c *Config) error {
	authn, err := newAuthenticator(&c.Auth, a.broker.Auth())
	if err != nil {
		return err
	}
	if err := a.startOperatorJetStream(c); err != nil {
		return err
	}
	a.broker.SetAuth(authn)
	return nil
}

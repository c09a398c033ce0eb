package app

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"time"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/clock"
	"github.com/bargemq/barge/netpoll"
	"github.com/bargemq/barge/tlsconf"
)

// defaultCertWatch is how often certificate files are checked for changes.
const defaultCertWatch = time.Second

// ApplyTLSBlock sets a `tls { }` block of the configuration file, as
// nats-server's conf package parses it, on c: where is "" for the top-level
// block (the client port and https_port) and "cluster" for cluster { tls { } }
// (routes and raft).
func ApplyTLSBlock(c *Config, where string, m map[string]any) error {
	o, err := tlsconf.FromMap(m)
	if err != nil {
		if where != "" {
			return errors.New(where + " " + err.Error())
		}
		return err
	}
	switch where {
	case "":
		c.TLS = o
	case "cluster":
		c.ClusterTLS = o
	default:
		return errors.New("tls block not supported in " + where)
	}
	return nil
}

// startTLS loads the certificate files of the client port and of the
// cluster and starts watching them for changes.
func (a *App) startTLS() error {
	clk := a.cfg.Clock
	if clk == nil {
		clk = clock.System{}
	}
	every := a.cfg.CertWatchInterval
	if every <= 0 {
		every = defaultCertWatch
	}
	if a.cfg.TLS.Enabled {
		c, err := tlsconf.New(a.cfg.TLS)
		if err != nil {
			return err
		}
		a.tls = c
		c.Watch(clk, every, a.certsChanged("tls"))
	}
	if a.cfg.ClusterTLS.Enabled {
		o := a.cfg.ClusterTLS
		o.Verify = true // nodes always verify each other
		c, err := tlsconf.New(o)
		if err != nil {
			a.stopTLS()
			return errors.New("cluster " + err.Error())
		}
		a.clusterTLS = c
		c.Watch(clk, every, a.certsChanged("cluster tls"))
	}
	return nil
}

// certsChanged logs the outcome of a reload triggered by a file change.
func (a *App) certsChanged(which string) func(error) {
	return func(err error) {
		if err != nil {
			a.log.Error("certificate files changed but do not load; keeping the previous certificate", "tls", which, "err", err)
			return
		}
		a.log.Info("certificate reloaded", "tls", which)
	}
}

// tlsReloadable refuses a reload that changes a tls setting fixed at
// start: turning TLS on or off (the listener's kind), handshake_first and
// the handshake timeout (the listener's), verify (advertised in INFO). The
// files, the CA, versions, suites and curves may change.
func tlsReloadable(old, cfg *tlsconf.Options) error {
	var what string
	switch {
	case old.Enabled != cfg.Enabled:
		what = "tls (on/off)"
	case old.HandshakeFirst != cfg.HandshakeFirst || old.HandshakeFirstFallback != cfg.HandshakeFirstFallback:
		what = "tls handshake_first"
	case old.HandshakeTimeout() != cfg.HandshakeTimeout():
		what = "tls timeout"
	case old.RequireClientCert() != cfg.RequireClientCert():
		what = "tls verify"
	default:
		return nil
	}
	return fmt.Errorf("config reload not supported for %s", what)
}

// loadCerts is reloadCerts with the client port's tls settings of a
// reload: when they changed, the new ones are loaded. Called with
// a.reload held.
func (a *App) loadCerts(o *tlsconf.Options) error {
	if a.tls == nil || reflect.DeepEqual(a.tls.Options(), *o) {
		return a.reloadCerts()
	}
	if err := a.tls.Update(*o); err != nil {
		return err
	}
	a.log.Info("certificate reloaded", "tls", "tls", "cert_file", o.CertFile)
	if a.clusterTLS != nil {
		if err := a.clusterTLS.Reload(); err != nil {
			return errors.New("cluster " + err.Error())
		}
	}
	return nil
}

// ReloadCerts reads every certificate file again, as a reload does: new
// connections get the new certificates, existing ones keep theirs. A file
// that does not load leaves its certificate as it was.
func (a *App) ReloadCerts() error {
	a.reload.Lock()
	defer a.reload.Unlock()
	return a.reloadCerts()
}

// reloadCerts reads every certificate file again (SIGHUP). Both loads are
// attempted; the error reports every failure. Called with a.reload held.
func (a *App) reloadCerts() error {
	var errs []error
	if a.tls != nil {
		if err := a.tls.Reload(); err != nil {
			errs = append(errs, err)
		} else {
			a.log.Info("certificate reloaded", "tls", "tls")
		}
	}
	if a.clusterTLS != nil {
		if err := a.clusterTLS.Reload(); err != nil {
			errs = append(errs, errors.New("cluster "+err.Error()))
		} else {
			a.log.Info("certificate reloaded", "tls", "cluster tls")
		}
	}
	return errors.Join(errs...)
}

// stopTLS stops the file watchers.
func (a *App) stopTLS() {
	if a.tls != nil {
		a.tls.Stop()
	}
	if a.clusterTLS != nil {
		a.clusterTLS.Stop()
	}
}

// clientTLS is the client listener's TLS, nil without TLS.
func (a *App) clientTLS() *netpoll.TLSOptions {
	if a.tls == nil {
		return nil
	}
	o := a.tls.Options()
	fb := time.Duration(0)
	if o.HandshakeFirst {
		fb = o.HandshakeFirstFallback
	}
	return &netpoll.TLSOptions{
		Config:         a.tls.ServerConfig(),
		HandshakeFirst: o.HandshakeFirst,
		Fallback:       fb,
		Timeout:        o.HandshakeTimeout(),
	}
}

// routeTLS is the route listener's TLS, nil without cluster TLS. Routes
// are barge to barge: both ends start TLS at once (no INFO in the clear).
func (a *App) routeTLS() *netpoll.TLSOptions {
	if a.clusterTLS == nil {
		return nil
	}
	return &netpoll.TLSOptions{
		Config:         a.clusterTLS.ServerConfig(),
		HandshakeFirst: true,
		Timeout:        a.clusterTLS.Options().HandshakeTimeout(),
	}
}

// routeDialer dials routes over mutual TLS, nil (the default) without.
func (a *App) routeDialer() broker.Dialer {
	if a.clusterTLS == nil {
		return nil
	}
	a.routeDial = &tlsconf.Dialer{Certs: a.clusterTLS, Net: net.Dialer{Timeout: broker.DefaultRouteDialTimeout}, Log: a.log}
	return a.routeDial
}

// routeTLSErrors counts failed route TLS handshakes, of routes that came in
// and of those this node dialed.
func (a *App) routeTLSErrors() uint64 {
	var n uint64
	if a.routes != nil {
		n += a.routes.TLSHandshakeErrors()
	}
	if a.routeDial != nil {
		n += a.routeDial.HandshakeErrors()
	}
	return n
}

package app

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/netpoll"
)

// startRoutes joins the cluster: it attaches a broker.Cluster to the broker
// and listens for routes (through netpoll, like clients) on cfg.Cluster.
// Dialing the seeds starts later, once the client listener is up, so that
// peers learn a client URL that works.
func (a *App) startRoutes(staging *netpoll.Staging) error {
	cfg := &a.cfg
	a.cluster = broker.NewCluster(a.broker, broker.ClusterOptions{
		Name:     cfg.ClusterName,
		Seeds:    cfg.Routes,
		RaftAddr: cfg.RaftAddr,
		NodeID:   cfg.NodeID,
		Dialer:   a.routeDialer(),
	})
	rs, err := netpoll.Listen(netpoll.Options{
		Addr:           cfg.Cluster,
		WriteWatermark: cfg.WriteWatermark,
		MaxPending:     cfg.MaxPending,
		Staging:        staging,
		TLS:            a.routeTLS(),
		Logger:         a.log,
	}, a.cluster.AcceptRoute)
	if err != nil {
		a.cluster.Shutdown()
		a.cluster = nil
		return fmt.Errorf("cluster listen: %w", err)
	}
	a.routes = rs
	adv := cfg.ClusterAdvertise
	if adv == "" {
		host := rs.Addr().IP.String()
		if rs.Addr().IP.IsUnspecified() {
			host = "127.0.0.1"
			if ip := net.ParseIP(cfg.Host); ip != nil && !ip.IsUnspecified() {
				host = cfg.Host
			}
		}
		adv = net.JoinHostPort(host, strconv.Itoa(rs.Addr().Port))
	}
	a.cluster.SetRouteURL(adv)
	a.log.Info("cluster", "name", cfg.ClusterName, "listen", rs.Addr().String(),
		"advertise", adv, "routes", cfg.Routes, "raft", cfg.RaftAddr, "node_id", cfg.NodeID)
	return nil
}

// stopRoutes closes every route and the route listener.
func (a *App) stopRoutes(ctx context.Context) error {
	if a.cluster != nil {
		a.cluster.Shutdown()
	}
	if a.routes == nil {
		return nil
	}
	err := a.routes.Shutdown(ctx)
	a.routes = nil
	return err
}

// Cluster is the server's cluster membership, nil when standalone.
func (a *App) Cluster() *broker.Cluster { return a.cluster }

// RouteURL is the host:port peers dial to reach this server's route
// listener, or "" when standalone.
func (a *App) RouteURL() string {
	if a.routes == nil {
		return ""
	}
	return a.cluster.Routez().RouteURL
}

// routez is the /routez document.
func (a *App) routez() broker.Routez {
	if a.cluster == nil {
		return broker.Routez{ID: a.broker.ID(), Routes: []*broker.RouteInfo{}}
	}
	return a.cluster.Routez()
}

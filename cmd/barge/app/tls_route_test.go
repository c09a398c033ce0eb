package app_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/bargemq/barge/internal/testcert"
	"github.com/bargemq/barge/tlsconf"
)

// TestTLSRouteHandshakeErrors: a node whose cluster certificate comes from
// another CA cannot route to the first: both count the failed handshake in
// /varz route_tls_handshake_errors (the dialer, which refuses the first
// node's certificate, and the first node's route listener).
func TestTLSRouteHandshakeErrors(t *testing.T) {
	fx := newTLSFixture(t)
	other := testcert.NewCA(t, "other-cluster-ca")
	otherLeaf := other.Leaf(t, "other-node", testcert.LeafOptions{Client: true})
	n1 := startClusterNode(t, 0, nil, func(_ int, c *app.Config) { c.ClusterTLS = fx.clusterTLS() })
	var logFile string
	n2 := startClusterNode(t, 1, []*app.App{n1}, func(_ int, c *app.Config) {
		logFile = c.LogFile
		c.ClusterTLS = tlsconf.Options{Enabled: true, CertFile: otherLeaf.CertFile, KeyFile: otherLeaf.KeyFile, CAFile: other.CertFile}
	})
	routeErrs := func(a *app.App) int {
		var v struct {
			N int `json:"route_tls_handshake_errors"`
		}
		getJSON(t, a.MonitorURL()+"/varz", &v)
		return v.N
	}
	eventually(t, 20*time.Second, "route TLS handshake errors on both nodes", func() bool {
		return routeErrs(n1) >= 1 && routeErrs(n2) >= 1
	})
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), "handshake error dialing") {
		t.Errorf("n2's log does not say why its route failed:\n%s", log)
	}
}

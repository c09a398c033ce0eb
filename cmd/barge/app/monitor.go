package app

import (
	"github.com/bargemq/barge/internal/procmem"

	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"time"
)

// Varz is the /varz document: the broker's counters plus process figures,
// with nats-server's field names.
type Varz struct {
	Version    string `json:"barge_version"`
	Mem        int64  `json:"mem"`
	HeapInuse  uint64 `json:"heap_inuse"`
	Cores      int    `json:"cores"`
	GoRoutines int    `json:"goroutines"`
	HTTPPort   int    `json:"http_port"`
	HTTPHost   string `json:"http_host"`
	StoreDir   string `json:"store_dir,omitempty"`
	// Staged is the outbound bytes staged on disk now, all connections
	// together; MaxStaging their budget (0: none).
	Staged     int64 `json:"staging_bytes"`
	MaxStaging int64 `json:"max_staging"`
	// DamagedMsgs counts stored messages found damaged (a checksum
	// failed: at startup, or by the background verification of sealed
	// segments); each stream lists its own in state.lost. barge's own
	// field: nats-server has none.
	DamagedMsgs uint64 `json:"damaged_msgs"`
	HTTPSPort   int    `json:"https_port"`
	// TLS of the client port, nats-server's fields; TLSHandshakeErrors
	// (barge's own) counts clients refused because their handshake failed.
	TLSRequired        bool    `json:"tls_required,omitempty"`
	TLSVerify          bool    `json:"tls_verify,omitempty"`
	TLSTimeout         float64 `json:"tls_timeout,omitempty"`
	TLSHandshakeErrors uint64  `json:"tls_handshake_errors"`
	// RouteTLSHandshakeErrors (barge's own) counts route connections, in
	// and out, whose TLS handshake failed (cluster { tls { } } only; raft's
	// transport does its own TLS and is not counted).
	RouteTLSHandshakeErrors uint64 `json:"route_tls_handshake_errors,omitempty"`
}

func (a *App) startMonitor() error {
	if r := a.cfg.ProfileRate; r > 0 {
		setProfileRate(r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", a.serveHealthz)
	mux.HandleFunc("/varz", a.serveVarz)
	mux.HandleFunc("/connz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.broker.ConnzWith(connzQuery(r.URL.Query())))
	})
	mux.HandleFunc("/routez", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.routez())
	})
	mux.HandleFunc("/accountz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.accountz(r.URL.Query().Get("acc")))
	})
	mux.HandleFunc("/jsz", a.serveJsz)
	mux.HandleFunc("/subsz", a.serveSubsz)
	mux.HandleFunc("/subscriptionsz", a.serveSubsz)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Monitoring (pprof included) stays on loopback unless asked for: it
	// does not follow the client listener's --addr.
	if port := a.cfg.HTTPPort; port != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(monitorHost(a.cfg.HTTPHost), strconv.Itoa(max(port, 0))))
		if err != nil {
			return fmt.Errorf("http_port: %w", err)
		}
		a.httpLn = ln
		a.http = a.serveHTTP(ln, mux)
		a.log.Info("monitoring", "url", a.MonitorURL())
	}
	if port := a.cfg.HTTPSPort; port != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(monitorHost(a.cfg.HTTPHost), strconv.Itoa(max(port, 0))))
		if err != nil {
			return fmt.Errorf("https_port: %w", err)
		}
		// The client port's certificate, reloaded with it.
		a.httpsLn = tls.NewListener(ln, a.tls.ServerConfig())
		a.https = a.serveHTTP(a.httpsLn, mux)
		a.log.Info("monitoring", "url", a.MonitorHTTPSURL())
	}
	return nil
}

// serveHTTP serves mux on ln in the background.
func (a *App) serveHTTP(ln net.Listener, mux *http.ServeMux) *http.Server {
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("monitoring endpoint stopped", "err", err)
		}
	}()
	return srv
}

// MonitorHTTPSURL is the https:// base URL of the monitoring endpoint, or ""
// when https_port is off.
func (a *App) MonitorHTTPSURL() string {
	if a.httpsLn == nil {
		return ""
	}
	return "https://" + a.httpsLn.Addr().String()
}

// monitorHost is the monitoring listen host: http_host, loopback by default.
func monitorHost(h string) string {
	if h == "" {
		return "127.0.0.1"
	}
	return h
}

// setProfileRate fills the mutex and block profiles served on /debug/pprof
// (0 empties them): process-wide runtime settings.
func setProfileRate(r int) {
	runtime.SetMutexProfileFraction(r)
	runtime.SetBlockProfileRate(r)
}

// HealthStatus is the /healthz document, nats-server's shape:
// {"status":"ok"}, or {"status":"error","error":"..."} with HTTP 503.
type HealthStatus struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// serveHealthz reports whether the server still takes connections: a
// listener whose accept loop stopped for good makes it an error.
func (a *App) serveHealthz(w http.ResponseWriter, r *http.Request) {
	err := a.Health()
	if err == nil {
		writeJSON(w, HealthStatus{Status: "ok"})
		return
	}
	a.log.Warn("healthcheck failed", "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(HealthStatus{Status: "error", Error: err.Error()})
}

// Health is nil while the client listener (and the route listener, when
// clustered) accepts connections, else why one does not.
func (a *App) Health() error {
	if err := a.net.Health(); err != nil {
		return fmt.Errorf("client listener: %w", err)
	}
	if rs := a.routes; rs != nil {
		if err := rs.Health(); err != nil {
			return fmt.Errorf("route listener: %w", err)
		}
	}
	return nil
}

func (a *App) serveVarz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, a.varz())
}

// varz is the /varz document: the broker's figures and the process's.
func (a *App) varz() map[string]any {
	rss, _ := procmem.RSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	extra := Varz{
		Version:    Version,
		Mem:        rss,
		HeapInuse:  ms.HeapInuse,
		Cores:      runtime.NumCPU(),
		GoRoutines: runtime.NumGoroutine(),
		HTTPHost:   monitorHost(a.cfg.HTTPHost),
		StoreDir:   a.cfg.StoreDir,
		Staged:     a.net.Staging().Used(),
		MaxStaging: a.net.Staging().Max(),
	}
	if a.httpLn != nil {
		extra.HTTPPort = a.httpLn.Addr().(*net.TCPAddr).Port
	}
	if a.httpsLn != nil {
		extra.HTTPSPort = a.httpsLn.Addr().(*net.TCPAddr).Port
	}
	if a.tls != nil {
		o := a.tls.Options()
		extra.TLSRequired, extra.TLSVerify = true, o.RequireClientCert()
		extra.TLSTimeout = o.HandshakeTimeout().Seconds()
		extra.TLSHandshakeErrors = a.net.TLSHandshakeErrors()
	}
	if a.clusterTLS != nil {
		extra.RouteTLSHandshakeErrors = a.routeTLSErrors()
	}
	if a.js != nil {
		extra.DamagedMsgs = a.js.DamagedMsgs()
	}
	// Merge the broker's document and the process figures into one object.
	doc := map[string]any{}
	mergeJSON(doc, a.broker.Varz())
	mergeJSON(doc, extra)
	doc["jetstream"] = a.jsVarz()
	return doc
}

func mergeJSON(dst map[string]any, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	_ = json.Unmarshal(b, &dst)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

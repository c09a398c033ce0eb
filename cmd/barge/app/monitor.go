package app

import (
	"github.com/bargemq/barge/internal/procmem"

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
}

func (a *App) startMonitor() error {
	port := a.cfg.HTTPPort
	if port < 0 {
		port = 0
	}
	// Monitoring (pprof included) stays on loopback unless asked for: it
	// does not follow the client listener's --addr.
	ln, err := net.Listen("tcp", net.JoinHostPort(monitorHost(a.cfg.HTTPHost), strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("http_port: %w", err)
	}
	a.httpLn = ln
	if r := a.cfg.ProfileRate; r > 0 {
		setProfileRate(r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/varz", a.serveVarz)
	mux.HandleFunc("/connz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.broker.Connz())
	})
	mux.HandleFunc("/routez", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.routez())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("monitoring endpoint stopped", "err", err)
		}
	}()
	a.log.Info("monitoring", "url", a.MonitorURL())
	return nil
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

func (a *App) serveVarz(w http.ResponseWriter, r *http.Request) {
	rss, _ := procmem.RSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	extra := Varz{
		Version:    Version,
		Mem:        rss,
		HeapInuse:  ms.HeapInuse,
		Cores:      runtime.NumCPU(),
		GoRoutines: runtime.NumGoroutine(),
		HTTPPort:   a.httpLn.Addr().(*net.TCPAddr).Port,
		HTTPHost:   monitorHost(a.cfg.HTTPHost),
		StoreDir:   a.cfg.StoreDir,
	}
	// Merge the broker's document and the process figures into one object.
	doc := map[string]any{}
	mergeJSON(doc, a.broker.Varz())
	mergeJSON(doc, extra)
	writeJSON(w, doc)
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

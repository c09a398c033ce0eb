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
	StoreDir   string `json:"store_dir,omitempty"`
	// DamagedMsgs counts stored messages found damaged (a checksum
	// failed: at startup, or by the background verification of sealed
	// segments); each stream lists its own in state.lost. barge's own
	// field: nats-server has none.
	DamagedMsgs uint64 `json:"damaged_msgs"`
}

func (a *App) startMonitor() error {
	port := a.cfg.HTTPPort
	if port < 0 {
		port = 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(a.cfg.Host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("http_port: %w", err)
	}
	a.httpLn = ln
	if r := a.cfg.ProfileRate; r > 0 {
		// Without these the mutex and block profiles are empty.
		runtime.SetMutexProfileFraction(r)
		runtime.SetBlockProfileRate(r)
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
		StoreDir:   a.cfg.StoreDir,
	}
	if a.js != nil {
		extra.DamagedMsgs = a.js.DamagedMsgs()
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

// Command ceiling is the benchmark suite's yardstick: a server that speaks
// just enough of nats-server's wire protocol and JetStream API for the
// suite's own nats.go workloads (core, js-pub, js-fastpub, js-fetch,
// latency, obj-put, obj-get) to run against it unchanged, and does the
// least that protocol allows. It takes the bytes and acks or delivers them
// from memory: no disk, no checksums, no limits, no redelivery, acks
// accepted and ignored. What barge does on top of this is what the report's
// "barge ÷ ceiling" measures.
//
// It takes the suite's server flags (-a -p -m -js -sd --max_payload) so
// the runner starts it as it starts natsd and barge. JetStream is always
// on and in memory; -sd is ignored. The monitoring port serves /varz and
// /debug/pprof/.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/units"
)

// wireVersion is the nats-server version the INFO line claims, so that
// nats.go takes the same paths (consumer create subjects, headers) as
// against the nats-server the suite compares with.
const wireVersion = "2.15.2"

func main() {
	fs := flag.NewFlagSet("ceiling", flag.ExitOnError)
	host := fs.String("a", "127.0.0.1", "client listen address")
	port := fs.Int("p", 4222, "client port")
	httpPort := fs.Int("m", 0, "monitoring port (/varz, /debug/pprof/); 0 = off")
	_ = fs.Bool("js", true, "accepted for the suite's flag spelling: JetStream is always on, in memory")
	_ = fs.String("sd", "", "ignored: nothing is written to disk")
	maxPayload := fs.String("max_payload", "2GB", "largest message accepted (advertised in INFO)")
	name := fs.String("n", "ceiling", "server name")
	_ = fs.Parse(os.Args[1:])

	mp, err := units.ParseSize(*maxPayload)
	if err != nil || mp <= 0 {
		fail(fmt.Errorf("bad --max_payload %q", *maxPayload))
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fail(err)
	}
	s := newServer(options{Name: *name, Host: *host, Port: ln.Addr().(*net.TCPAddr).Port, MaxPayload: mp})
	if *httpPort != 0 {
		hl, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*httpPort)))
		if err != nil {
			fail(err)
		}
		go func() { _ = http.Serve(hl, s.monitor()) }()
	}
	go s.serve(ln)
	fmt.Fprintf(os.Stderr, "ceiling: listening on %s (max_payload %d)\n", ln.Addr(), mp)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.shutdown()
}

// monitor serves /varz (what the runner reads: version), /connz (each
// connection's cid, name and subscription count) and pprof.
func (s *server) monitor() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/varz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"server_id": s.id, "server_name": s.opts.Name,
			"version": "ceiling (nats-server " + wireVersion + " wire)",
			"go":      runtime.Version(), "host": s.opts.Host, "port": s.opts.Port,
			"max_payload": s.opts.MaxPayload, "connections": s.numConns(),
			"start": s.start, "now": time.Now(), "jetstream": map[string]any{"config": map[string]any{"store_dir": ""}},
		})
	})
	mux.HandleFunc("/connz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"connections": s.connz()})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ceiling:", err)
	os.Exit(1)
}

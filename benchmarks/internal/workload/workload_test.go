package workload

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/tlscert"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS runs nats-server in process with JetStream on a temp dir.
func startNATS(t *testing.T, maxPayload int32) string {
	t.Helper()
	return startNATSWith(t, &server.Options{MaxPayload: maxPayload}).ClientURL()
}

// startNATSWith runs nats-server in process with o on 127.0.0.1 (random
// port), JetStream on a temp dir, until the test ends.
func startNATSWith(t *testing.T, o *server.Options) *server.Server {
	t.Helper()
	o.Host, o.Port, o.JetStream, o.StoreDir, o.NoLog, o.NoSigs = "127.0.0.1", -1, true, t.TempDir(), true, true
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func TestEveryWorkloadAgainstNATS(t *testing.T) {
	for _, name := range append(Names(), "js-pubfetch") {
		if Replicas(name) > 1 {
			continue // TestReplicatedWorkloadsAgainstNATSCluster
		}
		if IsNatsBench(name) {
			continue // TestNatsBench*
		}
		t.Run(name, func(t *testing.T) {
			url := startNATS(t, 1<<20) // fresh server per workload, as in the runner
			w, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var done atomic.Int64
			e := &Env{URL: url, Size: 4096, Count: 20, Window: 64 << 10, Payload: Payload(4096, 1),
				Idle: 10 * time.Second, Done: &done, LatencyRate: 2000}
			ctx := context.Background()
			if err := w.Prepare(ctx, e); err != nil {
				t.Fatal(err)
			}
			for rep := 0; rep < 2; rep++ {
				done.Store(0)
				s, err := w.Rep(ctx, e, rep)
				if err != nil {
					t.Fatalf("rep %d: %v", rep, err)
				}
				if s.Msgs != 20 || s.Bytes != 20*4096 || s.Errors != 0 || s.Elapsed <= 0 {
					t.Fatalf("rep %d: %+v", rep, s)
				}
				if name == "mirror-live" && (s.Lag == nil || s.Lag.Msgs < 0 || s.Lag.Msgs > 20 || s.Lag.Bytes != s.Lag.Msgs*4096 || s.Lag.CatchUp < 0) {
					t.Fatalf("rep %d: lag %+v", rep, s.Lag)
				}
				if name == "latency" && len(s.Latency) != 20 {
					t.Fatalf("latency samples = %d", len(s.Latency))
				}
			}
		})
	}
}

func TestRefusalIsReported(t *testing.T) {
	for _, name := range []string{"core", "js-pub"} {
		url := startNATS(t, 64<<10)
		w, _ := New(name)
		var done atomic.Int64
		e := &Env{URL: url, Size: 128 << 10, Count: 3, Window: 1 << 20, Payload: Payload(128<<10, 1),
			Idle: 5 * time.Second, Done: &done}
		if err := w.Prepare(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		_, err := w.Rep(context.Background(), e, 0)
		if !IsRefusal(err) {
			t.Errorf("%s: want a refusal, got %v", name, err)
		}
		w.Close()
	}
}

// TestTLSWorkloadsAgainstNATS: the tls-* variants run against a nats-server
// whose client port is TLS only, with a certificate from tlscert; the same
// workload without the CA cannot connect.
func TestTLSWorkloadsAgainstNATS(t *testing.T) {
	files, err := tlscert.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: files.Cert, KeyFile: files.Key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, TLS: true, TLSConfig: tc, TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	if what, err := TLSState(s.ClientURL(), files.CA); err != nil || !strings.HasPrefix(what, "TLS 1.") {
		t.Fatalf("TLSState: %q %v", what, err)
	}
	for _, name := range TLSNames() {
		w, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		var done atomic.Int64
		e := &Env{URL: s.ClientURL(), Size: 4096, Count: 5, Window: 64 << 10, Payload: Payload(4096, 1),
			Idle: 10 * time.Second, Done: &done, CAFile: files.CA}
		if err := w.Prepare(context.Background(), e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if smp, err := w.Rep(context.Background(), e, 0); err != nil || smp.Msgs != 5 || smp.Errors != 0 {
			t.Fatalf("%s: %+v %v", name, smp, err)
		}
		w.Close()
	}
	plain, _ := New("js-pub")
	var done atomic.Int64
	if err := plain.Prepare(context.Background(), &Env{URL: s.ClientURL(), Size: 1, Count: 1, Payload: []byte{1},
		Idle: time.Second, Done: &done}); err == nil {
		t.Error("connected to a TLS server without its CA")
	}
	plain.Close()
	if _, err := New("tls-r3-pub"); err == nil {
		t.Error("tls-r3-pub accepted")
	}
}

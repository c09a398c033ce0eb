package runner

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bargemq/barge/benchmarks/internal/workload"
	"github.com/nats-io/nats-server/v2/server"
)

// TestAuthConfigAgainstNATS: the generated auth config loads in
// nats-server, and the auth-* workloads run under its permissions as the
// bench user; a wrong password cannot connect.
func TestAuthConfigAgainstNATS(t *testing.T) {
	c := &Config{WorkDir: t.TempDir(), AuthUser: DefaultAuthUser, AuthPass: DefaultAuthPass}
	path, err := writeAuthConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.JetStream, opts.StoreDir = "127.0.0.1", -1, true, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	for _, name := range workload.AuthNames() {
		w, err := workload.New(name)
		if err != nil {
			t.Fatal(err)
		}
		var done atomic.Int64
		e := &workload.Env{URL: s.ClientURL(), Size: 1024, Count: 5, Window: 64 << 10, Payload: workload.Payload(1024, 1),
			Idle: 10 * time.Second, Done: &done, User: c.AuthUser, Pass: c.AuthPass}
		if err := w.Prepare(context.Background(), e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if smp, err := w.Rep(context.Background(), e, 0); err != nil || smp.Msgs != 5 || smp.Errors != 0 {
			t.Fatalf("%s: %+v %v", name, smp, err)
		}
		w.Close()
	}
	w, _ := workload.New("auth-core")
	var done atomic.Int64
	if err := w.Prepare(context.Background(), &workload.Env{URL: s.ClientURL(), Size: 1, Count: 1, Payload: []byte{1},
		Idle: time.Second, Done: &done, User: c.AuthUser, Pass: "wrong"}); err == nil {
		t.Error("logged in with a wrong password")
	}
	w.Close()
	for _, bad := range []string{"auth-r3-pub", "tls-auth-core", "auth-tls-core"} {
		if _, err := workload.New(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

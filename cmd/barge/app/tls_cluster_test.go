package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTLSClusterReplicatedStream runs three members whose routes and raft
// traffic are mutual TLS (one CA, one certificate for every node) and whose
// client port is TLS too, and passes a replicated stream's publish and
// fetch, large messages included, through them.
func TestTLSClusterReplicatedStream(t *testing.T) {
	fx := newTLSFixture(t)
	tune, raftAddrs, _ := raftMembers(t, 3, func(i int, c *app.Config) {
		c.ClusterTLS = fx.clusterTLS()
		c.TLS.Enabled = true
		c.TLS.CertFile, c.TLS.KeyFile = fx.server.CertFile, fx.server.KeyFile
	})
	apps := startCluster(t, 3, tune)
	for _, a := range apps {
		metaOf(t, a)
	}

	// The route and raft listeners speak TLS only, and want a
	// certificate of the cluster's CA.
	pool := x509.NewCertPool()
	pool.AddCert(fx.ca.Cert)
	for _, addr := range []string{apps[0].RouteURL(), raftAddrs[0]} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err == nil {
			// TLS 1.3: the server's refusal arrives with the first read.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatalf("%s: served a peer without a client certificate", addr)
		}
		cert, err := tls.LoadX509KeyPair(fx.client.CertFile, fx.client.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatalf("%s: TLS handshake with a cluster certificate: %v", addr, err)
		}
		c.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(connect(t, apps[1], fx.clientOpts()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, t, js, jetstream.StreamConfig{Name: "TLS3", Subjects: []string{"tls3.>"}, Replicas: 3}); err != nil {
		t.Fatalf("create: %v", err)
	}
	big := bytes.Repeat([]byte("y"), 3<<20+7)
	const n = 20
	for i := 0; i < n; i++ {
		data := []byte(fmt.Sprintf("m%03d", i))
		if i%7 == 3 {
			data = append(data, big...)
		}
		ack, err := js.Publish(ctx, fmt.Sprintf("tls3.%d", i), data)
		if err != nil || ack.Sequence != uint64(i+1) {
			t.Fatalf("publish %d: %+v %v", i, ack, err)
		}
	}
	// Fetch through another member.
	js2, err := jetstream.New(connect(t, apps[2], fx.clientOpts()...))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js2.CreateOrUpdateConsumer(ctx, "TLS3", jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	for i := 0; i < n; {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			want := fmt.Sprintf("m%03d", i)
			if !bytes.HasPrefix(m.Data(), []byte(want)) || (i%7 == 3) != (len(m.Data()) > len(big)) {
				t.Fatalf("message %d: %d bytes starting %q", i, len(m.Data()), m.Data()[:min(len(m.Data()), 8)])
			}
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
}

package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

func TestMonitoringEndpoints(t *testing.T) {
	a := startServer(t, nil)
	nc := connect(t, a, nats.Name("watcher"))
	nc.SubscribeSync("a")
	nc.SubscribeSync("b")
	nc.Publish("a", []byte("12345"))
	nc.Flush()

	var health map[string]string
	getJSON(t, a.MonitorURL()+"/healthz", &health)
	if health["status"] != "ok" {
		t.Fatalf("healthz %v", health)
	}
	var varz map[string]any
	getJSON(t, a.MonitorURL()+"/varz", &varz)
	for _, k := range []string{"server_id", "version", "uptime", "connections", "in_msgs", "out_msgs", "in_bytes", "out_bytes", "mem", "max_payload"} {
		if _, ok := varz[k]; !ok {
			t.Errorf("varz lacks %q: %v", k, varz)
		}
	}
	if varz["in_msgs"].(float64) < 1 || varz["connections"].(float64) < 1 {
		t.Errorf("varz counters %v", varz)
	}
	var connz struct {
		Conns []map[string]any `json:"connections"`
	}
	getJSON(t, a.MonitorURL()+"/connz", &connz)
	found := false
	for _, c := range connz.Conns {
		if c["name"] == "watcher" {
			found = true
			if c["subscriptions"].(float64) != 2 {
				t.Errorf("connz subscriptions %v", c)
			}
			for _, k := range []string{"ip", "port", "pending_bytes", "in_msgs", "out_msgs", "in_bytes", "out_bytes"} {
				if _, ok := c[k]; !ok {
					t.Errorf("connz lacks %q: %v", k, c)
				}
			}
		}
	}
	if !found {
		t.Fatalf("connz lacks the client: %v", connz)
	}
	resp, err := http.Get(a.MonitorURL() + "/debug/pprof/heap?debug=1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pprof: %v %v", err, resp)
	}
	resp.Body.Close()
}

// A subscriber that stops reading is cut once its backlog passes max_pending,
// and the server counts it; other clients are not affected.
func TestSlowConsumerIsCut(t *testing.T) {
	a := startServer(t, func(c *app.Config) {
		c.MaxPending = 4 << 20
		c.WriteWatermark = 256 << 10
	})
	r := dialRaw(t, a)
	r.send("CONNECT {}\r\nSUB flood 1\r\nPING\r\n")
	r.expect("PONG")
	pub := connect(t, a)
	payload := make([]byte, 64<<10)
	var varz map[string]any
	eventually(t, 30*time.Second, "slow consumer cut", func() bool {
		for i := 0; i < 64; i++ {
			pub.Publish("flood", payload)
		}
		pub.Flush()
		getJSON(t, a.MonitorURL()+"/varz", &varz)
		return varz["slow_consumers"].(float64) >= 1
	})
	// The subscriber finds its connection closed after what was sent; if the
	// server could end with an error line, it is the slow consumer one.
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var last string
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(l, "-ERR") {
			last = strings.TrimSpace(l)
		}
	}
	if last != "" && last != "-ERR 'Slow Consumer'" {
		t.Fatalf("closing error %q", last)
	}
	if !pub.IsConnected() {
		t.Fatal("publisher disconnected")
	}
}

package jsapi

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDeliveryExceededAdvisory(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	b := AppendDeliveryExceeded([]byte("x"), "S", "C", 7, 3, at)
	if b[0] != 'x' {
		t.Fatal("dst not kept")
	}
	var m map[string]any
	if err := json.Unmarshal(b[1:], &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{"type": "io.nats.jetstream.advisory.v1.max_deliver", "timestamp": "2026-01-02T02:04:05.000000006Z",
		"stream": "S", "consumer": "C", "stream_seq": 7.0, "deliveries": 3.0}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	id, _ := m["id"].(string)
	if len(m) != len(want)+1 || len(id) < 16 {
		t.Fatalf("fields %v", m)
	}
	var again map[string]any
	_ = json.Unmarshal(AppendDeliveryExceeded(nil, "S", "C", 7, 3, at), &again)
	if again["id"] == id {
		t.Fatal("ids repeat")
	}
	if s := MaxDeliveriesSubject("S", "C"); s != "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.S.C" {
		t.Fatal(s)
	}
}

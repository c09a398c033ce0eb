package jsapi

import (
	"errors"
	"testing"
	"time"
)

func TestParseNextRequest(t *testing.T) {
	cases := []struct {
		body string
		want NextRequest
		err  error
	}{
		{"", NextRequest{Batch: 1}, nil},
		{"  \r\n", NextRequest{Batch: 1}, nil},
		{"10", NextRequest{Batch: 10}, nil},
		{" 7 ", NextRequest{Batch: 7}, nil},
		{"nonsense", NextRequest{Batch: 1}, nil},
		// The body nats.go's jetstream Fetch writes (pullRequest).
		{`{"expires":30000000000,"batch":100,"max_bytes":1048576,"idle_heartbeat":5000000000}`,
			NextRequest{Expires: 30 * time.Second, Batch: 100, MaxBytes: 1 << 20, Heartbeat: 5 * time.Second}, nil},
		{`{"batch":1,"no_wait":true}`, NextRequest{Batch: 1, NoWait: true}, nil},
		{`{"batch":1,"expires":1000000000,"group":"g","id":"pin","min_pending":3,"min_ack_pending":4,"priority":2}`,
			NextRequest{Batch: 1, Expires: time.Second, PriorityGroup: PriorityGroup{Group: "g", ID: "pin", MinPending: 3, MinAckPending: 4, Priority: 2}}, nil},
	}
	for _, c := range cases {
		var got NextRequest
		got.Batch = 99 // must be overwritten
		if err := ParseNextRequest([]byte(c.body), &got); err != c.err || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.body, got, err, c.want)
		}
	}
	var r NextRequest
	if err := ParseNextRequest([]byte(`{"expires":1000,"idle_heartbeat":600}`), &r); !errors.Is(err, ErrHeartbeatTooLarge) {
		t.Fatalf("heartbeat > expires/2: %v", err)
	}
	if err := ParseNextRequest([]byte(`{"batch":"x"}`), &r); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestAllocsParseNextRequestSimple(t *testing.T) {
	var r NextRequest
	empty, num := []byte(""), []byte("25")
	n := testing.AllocsPerRun(100, func() {
		_ = ParseNextRequest(empty, &r)
		_ = ParseNextRequest(num, &r)
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

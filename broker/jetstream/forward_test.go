package jetstream

import (
	"testing"

	"github.com/bargemq/barge/codec/jsapi"
)

// TestAckStream: the stream token of the subjects forwarded as acks.
func TestAckStream(t *testing.T) {
	for subj, want := range map[string]string{
		"$JS.ACK.ORDERS.dur.1.2.3.4.5": "ORDERS",
		"$JS.FC.ORDERS.dur.abc":        "ORDERS",
		"$JS.ACK.ORDERS":               "",
		"$JS.API.STREAM.INFO.ORDERS":   "",
	} {
		if got := string(ackStream([]byte(subj))); got != want {
			t.Errorf("%s: %q, want %q", subj, got, want)
		}
	}
}

// TestForwardedOps: requests about one stream go to its leader; account
// wide ones and stream creation are served where they arrive.
func TestForwardedOps(t *testing.T) {
	for subj, want := range map[string]bool{
		"$JS.API.CONSUMER.MSG.NEXT.S.C":       true,
		"$JS.API.CONSUMER.INFO.S.C":           true,
		"$JS.API.CONSUMER.DURABLE.CREATE.S.C": true,
		"$JS.API.STREAM.INFO.S":               true,
		"$JS.API.STREAM.LEADER.STEPDOWN.S":    true,
		"$JS.API.STREAM.CREATE.S":             false,
		"$JS.API.STREAM.NAMES":                false,
		"$JS.API.INFO":                        false,
	} {
		s, ok := jsapi.ParseAPISubject([]byte(subj))
		if !ok {
			t.Fatalf("%s not parsed", subj)
		}
		if got := forwardedOp(s.Op); got != want {
			t.Errorf("%s: forwarded %v, want %v", subj, got, want)
		}
	}
}

package jetstream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// `nats bench js pub` creates its stream with allow_atomic and allow_batched;
// barge accepts the request with both off and refuses a batch publish the
// way nats-server does when batching is disabled.
func TestBatchPermissionsAcceptedButOff(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	req := `{"name":"B","subjects":["b.>"],"allow_atomic":true,"allow_batched":true}`
	m, err := nc.Request("$JS.API.STREAM.CREATE.B", []byte(req), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Config map[string]any `json:"config"`
		Error  *struct {
			ErrCode int `json:"err_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Error != nil {
		t.Fatalf("create: %s", m.Data)
	}
	if resp.Config["allow_atomic"] == true || resp.Config["allow_batched"] == true {
		t.Fatalf("batch permissions reported on: %s", m.Data)
	}
	_, js := legacy(t, a)
	msg := nats.NewMsg("b.1")
	msg.Header.Set("Nats-Batch-Id", "x")
	msg.Header.Set("Nats-Batch-Sequence", "1")
	_, err = js.PublishMsg(msg)
	wantCode(t, err, 10174)
	if _, err := js.Publish("b.2", []byte("plain")); err != nil {
		t.Fatalf("plain publish: %v", err)
	}
}

package jetstream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// allow_atomic and allow_batched are taken by create and update (R1 here;
// replicated streams in cmd/barge/app's cluster tests); a batch publish
// on a stream without allow_atomic gets nats-server's "atomic publish is
// disabled".
func TestBatchPermissions(t *testing.T) {
	a := startServer(t, "", nil)
	nc := connect(t, a.ClientURL())
	request := func(subj, body string) (code int, desc string, cfg map[string]any) {
		t.Helper()
		m, err := nc.Request(subj, []byte(body), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			Config map[string]any `json:"config"`
			Error  *struct {
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			t.Fatalf("%s: %s", subj, m.Data)
		}
		if resp.Error != nil {
			return resp.Error.ErrCode, resp.Error.Description, nil
		}
		return 0, "", resp.Config
	}
	if code, desc, _ := request("$JS.API.STREAM.CREATE.B", `{"name":"B","subjects":["b.>"]}`); code != 0 {
		t.Fatalf("plain create: %d %s", code, desc)
	}
	if code, desc, cfg := request("$JS.API.STREAM.CREATE.C", `{"name":"C","subjects":["c.>"],"allow_atomic":true,"allow_batched":true}`); code != 0 ||
		cfg["allow_atomic"] != true || cfg["allow_batched"] != true {
		t.Fatalf("create with both: %d %s %v", code, desc, cfg)
	}
	if code, desc, cfg := request("$JS.API.STREAM.UPDATE.C", `{"name":"C","subjects":["c.>"]}`); code != 0 ||
		cfg["allow_atomic"] != nil || cfg["allow_batched"] != nil {
		t.Fatalf("update clearing both: %d %s %v", code, desc, cfg)
	}
	_, js := legacy(t, a)
	msg := nats.NewMsg("b.1")
	msg.Header.Set("Nats-Batch-Id", "x")
	msg.Header.Set("Nats-Batch-Sequence", "1")
	_, err := js.PublishMsg(msg)
	wantCode(t, err, 10174)
	if _, err := js.Publish("b.2", []byte("plain")); err != nil {
		t.Fatalf("plain publish: %v", err)
	}
}

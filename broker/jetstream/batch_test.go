package jetstream_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Fast batch publishing is not built: allow_batched is refused with 10052
// on create and on update, like every other feature barge lacks, the
// stream is left as it was; a batch publish on a stream without
// allow_atomic gets nats-server's "atomic publish is disabled".
func TestBatchPermissionsRefused(t *testing.T) {
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
	for _, flag := range []string{"allow_batched"} {
		code, desc, _ := request("$JS.API.STREAM.CREATE.B", `{"name":"B","subjects":["b.>"],"`+flag+`":true}`)
		if code != 10052 || !strings.Contains(desc, flag) || !strings.Contains(desc, "not supported") {
			t.Fatalf("create with %s: %d %q, want 10052 naming it", flag, code, desc)
		}
	}
	if code, _, _ := request("$JS.API.STREAM.INFO.B", ""); code != 10059 {
		t.Fatalf("a refused create made the stream: %d", code)
	}
	if code, desc, _ := request("$JS.API.STREAM.CREATE.B", `{"name":"B","subjects":["b.>"]}`); code != 0 {
		t.Fatalf("plain create: %d %s", code, desc)
	}
	for _, flag := range []string{"allow_batched"} {
		code, desc, _ := request("$JS.API.STREAM.UPDATE.B", `{"name":"B","subjects":["b.>"],"`+flag+`":true}`)
		if code != 10052 || !strings.Contains(desc, flag) {
			t.Fatalf("update with %s: %d %q, want 10052", flag, code, desc)
		}
	}
	_, _, cfg := request("$JS.API.STREAM.INFO.B", "")
	if cfg["allow_atomic"] != nil || cfg["allow_batched"] != nil {
		t.Fatalf("refused update changed the stream: %v", cfg)
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

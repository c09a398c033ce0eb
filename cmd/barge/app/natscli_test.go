package app_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

const sysCLIConf = `
server_name: bn1
system_account: SYS
accounts {
  SYS: { users: [ {user: sys, password: psys} ] }
  A: { users: [ {user: a, password: pa, permissions: { publish: ["ord.>", "$JS.API.>", "$SYS.REQ.USER.INFO"], subscribe: ["_INBOX.>", "ord.>"] }} ], jetstream: { max_streams: 5 } }
}
`

// cliAnswer requests subj in nc's account and decodes the answer's "data"
// into v, as the nats CLI does with nats-server's types (the test's types
// below have their field names and types; nats-server's package itself
// is not importable here: its dependencies are not in go.sum).
func cliAnswer(t *testing.T, nc *nats.Conn, subj string, body any, v any) {
	t.Helper()
	b, _ := json.Marshal(body)
	msg, err := nc.Request(subj, b, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subj, err)
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Server struct {
			Name      string `json:"name"`
			JetStream bool   `json:"jetstream"`
		} `json:"server"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		t.Fatalf("%s: %v: %s", subj, err, msg.Data)
	}
	if err := json.Unmarshal(resp.Data, v); err != nil {
		t.Fatalf("%s: data: %v: %s", subj, err, resp.Data)
	}
}

// Parts of nats-server's Varz, JSInfo, Connz and UserInfo, with its JSON
// names and types.
type (
	cliVarz struct {
		JetStream struct {
			Config *struct {
				StoreDir string `json:"store_dir"`
				MaxStore int64  `json:"max_storage"`
			} `json:"config"`
			Stats *cliJSStats `json:"stats"`
		} `json:"jetstream"`
	}
	cliJSStats struct {
		Memory   uint64 `json:"memory"`
		Store    uint64 `json:"storage"`
		Accounts int    `json:"accounts"`
		API      struct {
			Level  int    `json:"level"`
			Total  uint64 `json:"total"`
			Errors uint64 `json:"errors"`
		} `json:"api"`
	}
	cliJSInfo struct {
		cliJSStats
		Streams        int    `json:"streams"`
		Consumers      int    `json:"consumers"`
		Messages       uint64 `json:"messages"`
		Bytes          uint64 `json:"bytes"`
		AccountDetails []*struct {
			Name string `json:"name"`
			cliJSStats
			Streams []struct {
				Name  string `json:"name"`
				State struct {
					Msgs      uint64 `json:"messages"`
					Consumers int    `json:"consumer_count"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	cliConnz struct {
		Total int `json:"total"`
		Conns []struct {
			Account string   `json:"account"`
			NumSubs uint32   `json:"subscriptions"`
			Subs    []string `json:"subscriptions_list"`
		} `json:"connections"`
	}
	cliUserInfo struct {
		UserID      string `json:"user"`
		Account     string `json:"account"`
		Permissions *struct {
			Publish *struct {
				Allow []string `json:"allow"`
			} `json:"publish"`
		} `json:"permissions"`
	}
)

// TestSystemAccountCLIShapes: the answers the nats CLI decodes with
// nats-server's types (Varz, JSInfo, Connz, UserInfo) decode, with the
// figures it prints: /varz's jetstream
// object, JSZ's messages, bytes and API figures and one account's streams,
// CONNZ filtered by account with the subscriptions listed, and USER.INFO in
// a non-system account.
func TestSystemAccountCLIShapes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startFromFile(t, sysCLIConf).a
	ncA := connect(t, a, nats.UserInfo("a", "pa"))
	js, err := jetstream.New(ncA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORD", Subjects: []string{"ord.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := js.Publish(ctx, "ord.x", []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ncA.SubscribeSync("ord.watch"); err != nil {
		t.Fatal(err)
	}
	_ = ncA.Flush()
	sys := connect(t, a, nats.UserInfo("sys", "psys"))

	var varz cliVarz
	cliAnswer(t, sys, "$SYS.REQ.SERVER.PING.VARZ", nil, &varz)
	if varz.JetStream.Config == nil || varz.JetStream.Config.StoreDir == "" || varz.JetStream.Stats == nil ||
		varz.JetStream.Stats.Accounts != 2 || varz.JetStream.Stats.API.Level == 0 {
		t.Fatalf("varz jetstream: %+v", varz.JetStream)
	}

	var jsz cliJSInfo
	cliAnswer(t, sys, "$SYS.REQ.SERVER.PING.JSZ", map[string]any{"account": "A", "streams": true}, &jsz)
	if jsz.Streams != 1 || jsz.Messages != 3 || jsz.Bytes == 0 || jsz.API.Total == 0 || len(jsz.AccountDetails) != 1 {
		t.Fatalf("jsz: %+v", jsz)
	}
	d := jsz.AccountDetails[0]
	if d.Name != "A" || len(d.Streams) != 1 || d.Streams[0].Name != "ORD" || d.Streams[0].State.Msgs != 3 {
		t.Fatalf("jsz account detail: %+v", d)
	}

	var connz cliConnz
	cliAnswer(t, sys, "$SYS.REQ.SERVER.PING.CONNZ", map[string]any{"acc": "A", "subscriptions": true}, &connz)
	if len(connz.Conns) != 1 || connz.Conns[0].Account != "A" || !strings.Contains(strings.Join(connz.Conns[0].Subs, " "), "ord.watch") {
		t.Fatalf("connz: %+v", connz.Conns)
	}

	// The monitoring port takes the same options in its query.
	var hconnz cliConnz
	getJSON(t, a.MonitorURL()+"/connz?acc=A&subs=true", &hconnz)
	if len(hconnz.Conns) != 1 || len(hconnz.Conns[0].Subs) == 0 {
		t.Fatalf("/connz?acc=A: %+v", hconnz)
	}

	var ui cliUserInfo
	cliAnswer(t, ncA, "$SYS.REQ.USER.INFO", nil, &ui)
	if ui.UserID != "a" || ui.Account != "A" || ui.Permissions == nil || ui.Permissions.Publish == nil ||
		len(ui.Permissions.Publish.Allow) != 3 || ui.Permissions.Publish.Allow[0] != "ord.>" {
		t.Fatalf("user info: %+v", ui)
	}
}

// TestSystemAccountWithNatsCLI drives the real `nats` CLI (natscli v0.5.0;
// its path in BARGE_NATS_CLI, else the test is skipped) against a system
// account user: `nats server list`, `server info`, `server report
// connections`, `server report jetstream`, `account info`, with
// --user/--password and with --creds in operator mode.
func TestSystemAccountWithNatsCLI(t *testing.T) {
	cli := os.Getenv("BARGE_NATS_CLI")
	if cli == "" {
		t.Skip("BARGE_NATS_CLI names no nats CLI binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := startFromFile(t, sysCLIConf).a
	run := func(url string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, cli, append([]string{"--server", url, "--timeout", "5s"}, args...)...)
		cmd.Env = append(os.Environ(), "NATS_CONTEXT=", "HOME="+t.TempDir(), "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	want := func(out string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(out, p) {
				t.Fatalf("output lacks %q:\n%s", p, out)
			}
		}
	}
	ncA := connect(t, a, nats.UserInfo("a", "pa"))
	js, err := jetstream.New(ncA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORD", Subjects: []string{"ord.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := js.Publish(ctx, "ord.x", []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	url := a.ClientURL()
	sys := []string{"--user", "sys", "--password", "psys"}
	want(run(url, append(sys, "server", "list")...), "bn1", "Server Overview")
	want(run(url, append(sys, "server", "info")...), "Server information for bn1", "JetStream", "Storage Directory", "Active Accounts")
	want(run(url, append(sys, "server", "report", "connections")...), "Connections", " A ", "SYS")
	// One account's connections: SYS's own is left out.
	if out := run(url, append(sys, "server", "report", "connections", "--account", "A")...); strings.Contains(out, "SYS") {
		t.Fatalf("report for account A lists SYS:\n%s", out)
	}
	out := run(url, append(sys, "server", "report", "jetstream")...)
	want(out, "JetStream Summary", "bn1")
	row := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "bn1") {
			row = l
		}
	}
	if f := strings.Fields(strings.ReplaceAll(row, "│", " ")); len(f) < 4 || f[1] != "1" || f[3] != "3" {
		t.Fatalf("jetstream report row %q (streams 1, messages 3)", row)
	}
	want(run(url, append(sys, "server", "report", "jetstream", "--account", "A")...), "JetStream Summary for Account A")
	want(run(url, append(sys, "account", "info")...), "User: sys", "Account: SYS")
	want(run(url, "--user", "a", "--password", "pa", "account", "info"), "User: a", "Account: A", "Streams: 1 of 5")

	// Operator mode: a system account user's creds file.
	b := startOperatorWithSys(t)
	want(run(b.url, "--creds", b.sysCreds, "server", "list"), "Server Overview")
	want(run(b.url, "--creds", b.sysCreds, "server", "info"), "Server information for")
	want(run(b.url, "--creds", b.sysCreds, "account", "info"), "Account Information", "User: ")
}

// operatorServer is a server in operator mode with a system account.
type operatorServer struct {
	url, sysCreds string
}

// startOperatorWithSys starts a server in operator mode whose system
// account is a preloaded account JWT, and writes a creds file of one of
// its users.
func startOperatorWithSys(t *testing.T) operatorServer {
	t.Helper()
	dir := t.TempDir()
	opKP, _ := nkeys.CreateOperator()
	opPub, _ := opKP.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "O"
	opJWT, err := oc.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	accKP, _ := nkeys.CreateAccount()
	accPub, _ := accKP.PublicKey()
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = "SYS"
	accJWT, err := ac.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "admin"
	ujwt, err := uc.Encode(accKP)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	credsPath := filepath.Join(dir, "sys.creds")
	opFile := filepath.Join(dir, "op.jwt")
	if err := os.WriteFile(credsPath, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(opFile, []byte(opJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startFromFile(t, `
operator: "`+opFile+`"
system_account: `+accPub+`
resolver: MEMORY
resolver_preload: {
  `+accPub+`: "`+accJWT+`"
}
`).a
	return operatorServer{url: a.ClientURL(), sysCreds: credsPath}
}

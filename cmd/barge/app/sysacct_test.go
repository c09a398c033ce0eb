package app_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bargemq/barge/auth"
	"github.com/bargemq/barge/cmd/barge/app"
	"github.com/nats-io/nats.go"
)

const sysConf = `
accounts {
  SYS: { users: [ {user: admin, password: pa} ] }
  A: { users: [ {user: a, password: pa} ], exports: [ {stream: "x.>"} ] }
}
system_account: SYS
`

// sysAnswer is the shape of a system request's answer.
type sysAnswer struct {
	Server struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Version   string `json:"ver"`
		JetStream bool   `json:"jetstream"`
	} `json:"server"`
	Statsz *struct {
		Connections int `json:"connections"`
		Sent        struct {
			Msgs int64 `json:"msgs"`
		} `json:"sent"`
	} `json:"statsz"`
	Data json.RawMessage `json:"data"`
}

// collect sends a request on subj in nc's account and gathers the answers
// of n servers.
func collect(t *testing.T, nc *nats.Conn, subj string, n int) []sysAnswer {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subj, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var out []sysAnswer
	for range n {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v after %d answers", subj, err, len(out))
		}
		var a sysAnswer
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("%s: %v in %s", subj, err, m.Data)
		}
		out = append(out, a)
	}
	return out
}

// TestSystemAccountRequests: a user of the system account gets the
// STATSZ, VARZ, CONNZ and ACCOUNTZ answers the nats CLI reads, by PING and
// by server id; other accounts do not see $SYS; /accountz lists the
// accounts and details one; /connz names each connection's account.
func TestSystemAccountRequests(t *testing.T) {
	a := startFromFile(t, sysConf).a
	sys := connect(t, a, nats.UserInfo("admin", "pa"))
	ncA := connect(t, a, nats.UserInfo("a", "pa"))

	st := collect(t, sys, "$SYS.REQ.SERVER.PING", 1)[0]
	if st.Server.ID != a.Broker().ID() || st.Statsz == nil || st.Statsz.Connections != 2 || st.Server.Version == "" {
		t.Fatalf("STATSZ: %+v", st)
	}
	vz := collect(t, sys, "$SYS.REQ.SERVER.PING.VARZ", 1)[0]
	var varz struct {
		ID          string `json:"server_id"`
		Connections int    `json:"connections"`
	}
	if err := json.Unmarshal(vz.Data, &varz); err != nil || varz.ID != a.Broker().ID() || varz.Connections != 2 {
		t.Fatalf("VARZ: %s %v", vz.Data, err)
	}
	cz := collect(t, sys, "$SYS.REQ.SERVER."+a.Broker().ID()+".CONNZ", 1)[0]
	var connz struct {
		Conns []struct {
			Account string `json:"account"`
			User    string `json:"authorized_user"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(cz.Data, &connz); err != nil || len(connz.Conns) != 2 ||
		connz.Conns[0].Account != "SYS" || connz.Conns[1].Account != "A" || connz.Conns[1].User != "a" {
		t.Fatalf("CONNZ: %s %v", cz.Data, err)
	}
	if _, err := ncA.Request("$SYS.REQ.SERVER.PING", nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("$SYS from account A: %v, want no responders", err)
	}

	var az struct {
		System   string   `json:"system_account"`
		Accounts []string `json:"accounts"`
	}
	getJSON(t, a.MonitorURL()+"/accountz", &az)
	if az.System != "SYS" || len(az.Accounts) < 3 {
		t.Fatalf("/accountz: %+v", az)
	}
	var ad struct {
		Detail struct {
			Name    string `json:"account_name"`
			Conns   int    `json:"num_connections"`
			Exports []struct {
				Subject string `json:"subject"`
			} `json:"exports"`
		} `json:"account_detail"`
	}
	getJSON(t, a.MonitorURL()+"/accountz?acc=A", &ad)
	if ad.Detail.Name != "A" || ad.Detail.Conns != 1 || len(ad.Detail.Exports) != 1 {
		t.Fatalf("/accountz?acc=A: %+v", ad)
	}
	var subsz, sysSubs struct {
		N int `json:"num_subscriptions"`
	}
	getJSON(t, a.MonitorURL()+"/subsz", &subsz)
	getJSON(t, a.MonitorURL()+"/subsz?acc=SYS", &sysSubs)
	if subsz.N == 0 || sysSubs.N == 0 || sysSubs.N > subsz.N {
		t.Fatalf("/subsz: %+v", subsz)
	}
	var jsz struct {
		Streams  int `json:"streams"`
		Accounts int `json:"accounts"`
	}
	getJSON(t, a.MonitorURL()+"/jsz", &jsz)
	if jsz.Accounts != 1 {
		t.Fatalf("/jsz: %+v", jsz)
	}
}

// TestSystemAccountPingCluster: a PING reaches every member of a cluster
// and each answers once.
func TestSystemAccountPingCluster(t *testing.T) {
	apps := startCluster(t, 3, func(_ int, c *app.Config) {
		c.JetStream = false
		c.Accounts = []app.AccountConfig{{Name: "SYS"}}
		c.Auth.Users = []auth.User{{Name: "admin", Password: "pa", Account: "SYS"}}
		c.Auth.SystemAccount = "SYS"
	})
	sys := connect(t, apps[0], nats.UserInfo("admin", "pa"))
	eventually(t, 10*time.Second, "PING interest", func() bool {
		return apps[0].Broker().RemoteInterestIn("SYS", "$SYS.REQ.SERVER.PING") == 2
	})
	seen := map[string]bool{}
	for _, ans := range collect(t, sys, "$SYS.REQ.SERVER.PING", 3) {
		seen[ans.Server.ID] = true
	}
	for _, a := range apps {
		if !seen[a.Broker().ID()] {
			t.Fatalf("no answer from %s: %v", a.Broker().ID(), seen)
		}
	}
	inbox := nats.NewInbox()
	sub, _ := sys.SubscribeSync(inbox)
	_ = sys.PublishRequest("$SYS.REQ.SERVER."+apps[2].Broker().ID()+".IDZ", inbox, nil)
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var idz sysAnswer
	_ = json.Unmarshal(m.Data, &idz)
	if idz.Server.ID != apps[2].Broker().ID() {
		t.Fatalf("IDZ of n3 answered by %s", idz.Server.ID)
	}
	expectNone(t, sub, "IDZ of one server")
}

// TestSystemAccountConnEvents: a client's connect and disconnect are
// published in the system account with its account and user.
func TestSystemAccountConnEvents(t *testing.T) {
	a := startFromFile(t, sysConf).a
	sys := connect(t, a, nats.UserInfo("admin", "pa"))
	sub, err := sys.SubscribeSync("$SYS.ACCOUNT.A.>")
	if err != nil {
		t.Fatal(err)
	}
	_ = sys.Flush()
	nc := connect(t, a, nats.UserInfo("a", "pa"), nats.Name("evt"))
	_ = nc.Publish("x.1", []byte("12345"))
	_ = nc.Flush()
	nc.Close()
	for _, want := range []string{"CONNECT", "DISCONNECT"} {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s event: %v", want, err)
		}
		var ev struct {
			Type   string `json:"type"`
			Client struct {
				Account string `json:"acc"`
				User    string `json:"user"`
				Name    string `json:"name"`
			} `json:"client"`
			Received struct {
				Msgs int64 `json:"msgs"`
			} `json:"received"`
		}
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if m.Subject != "$SYS.ACCOUNT.A."+want || ev.Client.Account != "A" || ev.Client.User != "a" || ev.Client.Name != "evt" {
			t.Fatalf("%s event on %s: %s", want, m.Subject, m.Data)
		}
		if want == "DISCONNECT" && (ev.Type != "io.nats.server.advisory.v1.client_disconnect" || ev.Received.Msgs != 1) {
			t.Fatalf("disconnect event: %s", m.Data)
		}
	}
}

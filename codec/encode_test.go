package codec

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendMsg(t *testing.T) {
	for _, c := range []struct {
		subj, sid, reply string
		size             int
		want             string
	}{
		{"foo", "1", "", 5, "MSG foo 1 5\r\n"},
		{"foo.bar", "22", "_INBOX.x", 0, "MSG foo.bar 22 _INBOX.x 0\r\n"},
		{"a", "9", "", 1 << 30, "MSG a 9 1073741824\r\n"},
	} {
		var reply []byte
		if c.reply != "" {
			reply = []byte(c.reply)
		}
		got := AppendMsg([]byte("pre"), []byte(c.subj), []byte(c.sid), reply, c.size)
		if string(got) != "pre"+c.want {
			t.Errorf("AppendMsg = %q, want %q", got, c.want)
		}
	}
}

func TestAppendHMsg(t *testing.T) {
	got := AppendHMsg(nil, []byte("foo"), []byte("1"), nil, 12, 17)
	if string(got) != "HMSG foo 1 12 17\r\n" {
		t.Errorf("got %q", got)
	}
	got = AppendHMsg(nil, []byte("foo"), []byte("1"), []byte("r"), 12, 17)
	if string(got) != "HMSG foo 1 r 12 17\r\n" {
		t.Errorf("got %q", got)
	}
}

func TestConstLines(t *testing.T) {
	if PingLine != "PING\r\n" || PongLine != "PONG\r\n" || OKLine != "+OK\r\n" {
		t.Fatal("fixed lines")
	}
}

// TestEncodedPubRoundTrip writes what a client would send with the header
// builders and checks the parser reads it back.
func TestEncodedPubRoundTrip(t *testing.T) {
	hdr := AppendHeaderStart(nil, 0, "")
	hdr = AppendHeader(hdr, "Nats-Msg-Id", "m1")
	hdr = AppendHeaderEnd(hdr)
	body := "payload"
	in := "HPUB s " + itoa(len(hdr)) + " " + itoa(len(hdr)+len(body)) + "\r\n" + string(hdr) + body + "\r\n"
	log, err := feed(in)
	want := []string{"PUB s <nil> " + itoa(len(hdr)) + " " + itoa(len(hdr)+len(body)), "HDR " + string(hdr), "BODY payload", "END"}
	if err != nil || strings.Join(log, "|") != strings.Join(want, "|") {
		t.Fatalf("%v %q", err, log)
	}
}

func TestAppendInfo(t *testing.T) {
	in := &Info{
		ServerID: "ID", ServerName: "barge", Version: "2.10.0", Proto: 1, Go: "go1.26",
		Host: "127.0.0.1", Port: 4222, Headers: true, MaxPayload: 1 << 30, JetStream: true,
		ClientID: 7, ClientIP: "127.0.0.1",
	}
	got := AppendInfo([]byte("x"), in)
	s := string(got)
	if !strings.HasPrefix(s, "xINFO {") || !strings.HasSuffix(s, "}\r\n") {
		t.Fatalf("framing: %q", s)
	}
	var m map[string]any
	if err := json.Unmarshal(got[len("xINFO "):len(got)-2], &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"server_id": "ID", "server_name": "barge", "version": "2.10.0", "proto": 1.0, "go": "go1.26",
		"host": "127.0.0.1", "port": 4222.0, "headers": true, "max_payload": float64(1 << 30),
		"jetstream": true, "client_id": 7.0, "client_ip": "127.0.0.1",
	} {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for _, k := range []string{"connect_urls", "nonce", "auth_required", "ldm"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s present while empty", k)
		}
	}
	in.Nonce, in.ConnectURLs = "n", []string{"127.0.0.1:4222"}
	got = AppendInfo(nil, in)
	if !strings.Contains(string(got), `"nonce":"n"`) || !strings.Contains(string(got), `"connect_urls":["127.0.0.1:4222"]`) {
		t.Errorf("optional fields: %s", got)
	}
}

func TestParseConnect(t *testing.T) {
	o, err := ParseConnect([]byte(`{"verbose":true,"pedantic":false,"tls_required":false,"name":"n","lang":"go",` +
		`"version":"1.55.0","protocol":1,"headers":true,"no_responders":true,"user":"u","pass":"p",` +
		`"auth_token":"t","sig":"s","jwt":"j","nkey":"k","unknown":1}`))
	if err != nil {
		t.Fatal(err)
	}
	want := ConnectOptions{Verbose: true, Name: "n", Lang: "go", Version: "1.55.0", Protocol: 1, Echo: true,
		Headers: true, NoResponders: true, User: "u", Pass: "p", AuthToken: "t", Sig: "s", JWT: "j", Nkey: "k"}
	if o != want {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
	if o, err = ParseConnect([]byte(`{"echo":false}`)); err != nil || o.Echo {
		t.Fatalf("echo false: %+v %v", o, err)
	}
	if o, err = ParseConnect([]byte(`{}`)); err != nil || !o.Echo {
		t.Fatalf("echo default: %+v %v", o, err)
	}
	for _, bad := range []string{"", "{", "[1]", `{"verbose":"yes"}`} {
		if _, err := ParseConnect([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

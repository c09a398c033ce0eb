package codec

import "testing"

func TestHeaderValue(t *testing.T) {
	hdr := []byte("NATS/1.0 503\r\nNats-Msg-Id: abc\r\nX-Empty:\r\nx-tab:\t v \r\nBad line\r\nDup: 1\r\nDup: 2\r\n\r\nAfter: no\r\n")
	for _, c := range []struct {
		key, want string
		ok        bool
	}{
		{"Nats-Msg-Id", "abc", true},
		{"NATS-MSG-ID", "abc", true},
		{"nats-msg-id", "abc", true},
		{"X-Empty", "", true},
		{"X-Tab", "v ", true},
		{"Dup", "1", true},
		{"Nats-Msg", "", false},
		{"Nats-Msg-Idx", "", false},
		{"After", "", false},
		{"NATS/1.0 503", "", false},
		{"Bad line", "", false},
	} {
		v, ok := HeaderValue(hdr, c.key)
		if ok != c.ok || string(v) != c.want {
			t.Errorf("%q: %q %v, want %q %v", c.key, v, ok, c.want, c.ok)
		}
	}
	if v, ok := HeaderValue([]byte("NATS/1.0\nK: v\n\n"), "k"); !ok || string(v) != "v" {
		t.Errorf("bare LF: %q %v", v, ok)
	}
	if _, ok := HeaderValue(nil, "k"); ok {
		t.Error("nil block")
	}
}

func TestHeaderStatus(t *testing.T) {
	for _, c := range []struct {
		in   string
		code int
		desc string
	}{
		{"NATS/1.0\r\n\r\n", 0, ""},
		{"NATS/1.0 503\r\n\r\n", 503, ""},
		{"NATS/1.0 404 No Messages\r\n\r\n", 404, "No Messages"},
		{"NATS/1.0  408   Request Timeout  \r\n\r\n", 408, "Request Timeout"},
		{"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\n\r\n", 100, "Idle Heartbeat"},
		{"NATS/1.0 40\r\n\r\n", 0, ""},
		{"NATS/1.0 4x4\r\n\r\n", 0, ""},
		{"NATS/1.0 4040\r\n\r\n", 0, ""},
		{"HTTP/1.0 404\r\n\r\n", 0, ""},
		{"", 0, ""},
	} {
		code, desc := HeaderStatus([]byte(c.in))
		if code != c.code || string(desc) != c.desc {
			t.Errorf("%q: %d %q, want %d %q", c.in, code, desc, c.code, c.desc)
		}
	}
}

func TestHeaderBuilders(t *testing.T) {
	for _, c := range []struct {
		code int
		desc string
		want string
	}{
		{0, "", "NATS/1.0\r\n"},
		{503, "", "NATS/1.0 503\r\n"},
		{404, "No Messages", "NATS/1.0 404 No Messages\r\n"},
	} {
		if got := string(AppendHeaderStart(nil, c.code, c.desc)); got != c.want {
			t.Errorf("got %q want %q", got, c.want)
		}
	}
	b := AppendHeaderStart(nil, 409, "Message Size Exceeds MaxBytes")
	b = AppendHeader(b, "Nats-Pending-Messages", "3")
	b = AppendHeaderEnd(b)
	if string(b) != "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 3\r\n\r\n" {
		t.Fatalf("got %q", b)
	}
	if code, desc := HeaderStatus(b); code != 409 || string(desc) != "Message Size Exceeds MaxBytes" {
		t.Fatalf("status %d %q", code, desc)
	}
	if v, ok := HeaderValue(b, "nats-pending-messages"); !ok || string(v) != "3" {
		t.Fatalf("value %q", v)
	}
	if HeaderVersionLine != string(AppendHeaderStart(nil, 0, "")) {
		t.Fatal("HeaderVersionLine")
	}
}

package jetstream

import (
	"testing"

	"github.com/bargemq/barge/auth"
)

// TestReadPermsHeader: the permissions a forwarded request carries come
// back whole, the forwarding member's header wins over one the client
// sent, and a header that does not parse denies every read.
func TestReadPermsHeader(t *testing.T) {
	p, err := auth.Compile(&auth.Permissions{Subscribe: &auth.SubjectPermission{Allow: []string{"orders.a"}}})
	if err != nil {
		t.Fatal(err)
	}
	forged := []byte("NATS/1.0\r\n" + readPermsHeader + ": {}\r\n\r\n")
	for _, hdr := range [][]byte{nil, []byte("NATS/1.0\r\nK: v\r\n\r\n"), forged} {
		got := readPermsOf(withReadPerms(hdr, p))
		if got == nil || !got.MayRead("orders.a") || got.MayRead("orders.b") {
			t.Fatalf("header %q: permissions not carried", hdr)
		}
	}
	if readPermsOf([]byte("NATS/1.0\r\nK: v\r\n\r\n")) != nil {
		t.Fatal("a request without the header is restricted")
	}
	if bad := readPermsOf([]byte("NATS/1.0\r\n" + readPermsHeader + ": {nope\r\n\r\n")); bad == nil || bad.MayRead("x") {
		t.Fatal("an unparsable header must deny reads")
	}
}

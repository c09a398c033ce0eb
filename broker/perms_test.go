package broker

import (
	"fmt"
	"testing"

	"github.com/bargemq/barge/auth"
)

// TestPublishPermittedAllocatesNothing: with users and permissions, a
// permitted publish (answered from the connection's cache) and its
// deliveries, one of them filtered by a deny entry, allocate nothing.
func TestPublishPermittedAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	a, err := auth.New(auth.Config{Users: []auth.User{
		{Name: "pub", Password: "p", Permissions: &auth.Permissions{
			Publish: &auth.SubjectPermission{Allow: []string{"bench.>"}, Deny: []string{"bench.secret"}},
		}},
		{Name: "sub", Password: "p", Permissions: &auth.Permissions{
			Subscribe: &auth.SubjectPermission{Allow: []string{">"}, Deny: []string{"bench.secret"}},
		}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{Auth: a})
	var trs []*discardTransport
	for i, subj := range []string{"bench.subject", "bench.*"} { // bench.* is filtered
		tr := &discardTransport{}
		s := h.srv.Accept(tr)
		if err := s.Data(fmt.Appendf(nil, "CONNECT {\"user\":\"sub\",\"pass\":\"p\"}\r\nSUB %s %d\r\n", subj, i+1)); err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
	}
	pub := h.srv.Accept(&discardTransport{})
	if err := pub.Data([]byte("CONNECT {\"user\":\"pub\",\"pass\":\"p\"}\r\n")); err != nil {
		t.Fatal(err)
	}
	msg := []byte("PUB bench.subject 11\r\nhello world\r\n")
	for range 10 {
		if err := pub.Data(msg); err != nil {
			t.Fatal(err)
		}
	}
	n := testing.AllocsPerRun(1000, func() {
		if err := pub.Data(msg); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("a permitted publish allocates %v times per message", n)
	}
	for i, tr := range trs {
		if tr.n.Load() == 0 {
			t.Fatalf("subscriber %d got nothing", i)
		}
	}
}

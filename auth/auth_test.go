package auth

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestPermsRules: deny wins over allow, queue entries, wildcard SUBs
// covered by an allow entry, delivery filtering and MayRead.
func TestPermsRules(t *testing.T) {
	p, err := Compile(&Permissions{
		Publish:   &SubjectPermission{Allow: []string{"orders.>"}, Deny: []string{"orders.secret"}},
		Subscribe: &SubjectPermission{Allow: []string{"orders.*", "work grp", "jobs", "jobs v1"}, Deny: []string{"orders.secret"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got, want bool
		what      string
	}{
		{p.PubAllowed("orders.a"), true, "pub orders.a"},
		{p.PubAllowed("orders.secret"), false, "pub orders.secret"},
		{p.PubAllowed("other"), false, "pub other"},
		{p.SubAllowed("orders.a", ""), true, "sub orders.a"},
		{p.SubAllowed("orders.*", ""), true, "sub orders.*"},
		{p.SubAllowed("orders.>", ""), false, "sub orders.> (not covered)"},
		{p.SubAllowed("orders.secret", ""), false, "sub orders.secret"},
		{p.SubAllowed("work", "grp"), true, "sub work grp"},
		{p.SubAllowed("work", ""), false, "sub work (queue only)"},
		{p.SubAllowed("work", "x"), false, "sub work x"},
		{p.SubAllowed("jobs", ""), true, "sub jobs"},
		{p.SubAllowed("jobs", "v1"), true, "sub jobs v1"},
		{p.SubAllowed("jobs", "v2"), false, "sub jobs v2"},
		{p.NeedsFilter("orders.*", ""), true, "filter orders.*"},
		{p.NeedsFilter("orders.a", ""), false, "filter orders.a"},
		{p.DeliveryDenied("orders.secret", ""), true, "deliver orders.secret"},
		{p.MayRead("orders.a"), true, "read orders.a"},
		{p.MayRead("orders.*"), false, "read orders.* (overlaps a deny)"},
		{p.MayRead("work"), false, "read work (queue entries grant no reads)"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	resp, _ := Compile(&Permissions{Response: &ResponsePermission{}})
	if resp.PubAllowed("x") || resp.Response().MaxMsgs != DefaultResponseMax || resp.Response().Expires != DefaultResponseExpires {
		t.Fatalf("allow_responses alone must allow no publish and take the defaults: %+v", resp.Response())
	}
	if _, err := Compile(&Permissions{Publish: &SubjectPermission{Allow: []string{"a b"}}}); err == nil {
		t.Fatal("a queue entry in publish accepted")
	}
}

// TestBcryptCache: concurrent logins of one user cost one bcrypt; a wrong
// password is not cached; a reload keeps what still applies.
func TestBcryptCache(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Users: []User{{Name: "u", Password: string(h)}}}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := a.Authenticate(&Credentials{User: "u", Pass: "pw"}, nil, "127.0.0.1", time.Now()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := a.BcryptComputed(); n != 1 {
		t.Fatalf("bcrypt ran %d times for 8 logins, want 1", n)
	}
	for range 2 {
		if _, err := a.Authenticate(&Credentials{User: "u", Pass: "bad"}, nil, "", time.Now()); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if n := a.BcryptComputed(); n != 3 {
		t.Fatalf("bcrypt ran %d times, want 3 (failures are not cached)", n)
	}
	b, err := New(cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(&Credentials{User: "u", Pass: "pw"}, nil, "", time.Now()); err != nil || b.BcryptComputed() != 0 {
		t.Fatalf("after reload: %v, %d bcrypt runs, want 0", err, b.BcryptComputed())
	}
}

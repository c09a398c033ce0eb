package jetstream

import (
	"testing"

	"github.com/bargemq/barge/broker"
	"github.com/bargemq/barge/codec/jsapi"
)

// TestNonMembersNote: only the streams placed without this node are kept;
// their subjects (wildcards too) are redirected to the members' forwarding
// subjects, lowest id first; a changed definition replaces the snapshot.
func TestNonMembersNote(t *testing.T) {
	var nm nonMembers
	if nm.match([]byte("a.x")) != nil {
		t.Fatal("match before any note")
	}
	defs := []replDef{
		{Config: jsapi.StreamConfig{Name: "A", Subjects: []string{"a.>"}}, Members: map[uint64]string{3: "", 2: ""}},
		{Config: jsapi.StreamConfig{Name: "B", Subjects: []string{"b.*"}}, Members: map[uint64]string{1: "", 2: ""}},
	}
	nm.note(1, defs)
	rs := nm.match([]byte("a.x.y"))
	if rs == nil || rs.def.Config.Name != "A" {
		t.Fatalf("a.x.y: %+v", rs)
	}
	var rd broker.Redirect = rs.rd
	via := rd.Via()
	if len(via) != 2 || string(via[0]) != "$BARGE.JS.FWD.2.2.$BARGE.PUB" || string(via[1]) != "$BARGE.JS.FWD.3.2.$BARGE.PUB" {
		t.Fatalf("via: %q", via)
	}
	if nm.match([]byte("b.x")) != nil {
		t.Fatal("a stream with a local replica is redirected")
	}
	if got := nm.remote(); len(got) != 1 || got[0].def.Config.Name != "A" {
		t.Fatalf("remote: %v", got)
	}
	before := nm.snap.Load()
	nm.note(1, defs)
	if nm.snap.Load() != before {
		t.Fatal("an unchanged meta shard rebuilt the snapshot")
	}
	defs[0].Config.Subjects = []string{"c"}
	nm.note(1, defs)
	if nm.match([]byte("a.x")) != nil || nm.match([]byte("c")) == nil {
		t.Fatal("changed subjects not applied")
	}
	defs[0].Config.MaxMsgs = 5
	nm.note(1, defs)
	if rs := nm.match([]byte("c")); rs == nil || rs.def.Config.MaxMsgs != 5 {
		t.Fatal("changed config not applied")
	}
}

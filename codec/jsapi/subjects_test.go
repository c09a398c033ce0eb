package jsapi

import (
	"fmt"
	"testing"
)

func TestParseAPISubject(t *testing.T) {
	cases := []struct {
		subj                             string
		op                               Op
		domain, stream, consumer, filter string
	}{
		{"$JS.API.INFO", OpAccountInfo, "", "", "", ""},
		{"$JS.hub.API.INFO", OpAccountInfo, "hub", "", "", ""},
		{"$JS.API.STREAM.CREATE.ORDERS", OpStreamCreate, "", "ORDERS", "", ""},
		{"$JS.API.STREAM.UPDATE.ORDERS", OpStreamUpdate, "", "ORDERS", "", ""},
		{"$JS.API.STREAM.NAMES", OpStreamNames, "", "", "", ""},
		{"$JS.API.STREAM.LIST", OpStreamList, "", "", "", ""},
		{"$JS.API.STREAM.INFO.KV_b", OpStreamInfo, "", "KV_b", "", ""},
		{"$JS.API.STREAM.DELETE.S", OpStreamDelete, "", "S", "", ""},
		{"$JS.API.STREAM.PURGE.S", OpStreamPurge, "", "S", "", ""},
		{"$JS.API.STREAM.SNAPSHOT.S", OpStreamSnapshot, "", "S", "", ""},
		{"$JS.API.STREAM.RESTORE.S", OpStreamRestore, "", "S", "", ""},
		{"$JS.API.STREAM.MSG.GET.S", OpMsgGet, "", "S", "", ""},
		{"$JS.API.STREAM.MSG.DELETE.S", OpMsgDelete, "", "S", "", ""},
		{"$JS.API.STREAM.LEADER.STEPDOWN.S", OpStreamLeaderStepDown, "", "S", "", ""},
		{"$JS.API.DIRECT.GET.S", OpDirectGet, "", "S", "", ""},
		{"$JS.API.DIRECT.GET.KV_b.$KV.b.key.with.dots", OpDirectGetLast, "", "KV_b", "", "$KV.b.key.with.dots"},
		{"$JS.API.CONSUMER.CREATE.S", OpConsumerCreate, "", "S", "", ""},
		{"$JS.API.CONSUMER.CREATE.S.C", OpConsumerCreate, "", "S", "C", ""},
		{"$JS.API.CONSUMER.CREATE.S.C.orders.*.x", OpConsumerCreate, "", "S", "C", "orders.*.x"},
		{"$JS.API.CONSUMER.CREATE.S.C.>", OpConsumerCreate, "", "S", "C", ">"},
		{"$JS.API.CONSUMER.DURABLE.CREATE.S.D", OpDurableCreate, "", "S", "D", ""},
		{"$JS.API.CONSUMER.NAMES.S", OpConsumerNames, "", "S", "", ""},
		{"$JS.API.CONSUMER.LIST.S", OpConsumerList, "", "S", "", ""},
		{"$JS.API.CONSUMER.INFO.S.C", OpConsumerInfo, "", "S", "C", ""},
		{"$JS.API.CONSUMER.DELETE.S.C", OpConsumerDelete, "", "S", "C", ""},
		{"$JS.API.CONSUMER.PAUSE.S.C", OpConsumerPause, "", "S", "C", ""},
		{"$JS.API.CONSUMER.MSG.NEXT.S.C", OpConsumerNext, "", "S", "C", ""},
		{"$JS.dom.API.CONSUMER.MSG.NEXT.S.C", OpConsumerNext, "dom", "S", "C", ""},
		{"$JS.API.CONSUMER.UNPIN.S.C", OpConsumerUnpin, "", "S", "C", ""},
		{"$JS.API.CONSUMER.RESET.S.C", OpConsumerReset, "", "S", "C", ""},
		{"$JS.API.CONSUMER.LEADER.STEPDOWN.S.C", OpConsumerLeaderStepDn, "", "S", "C", ""},
		{"$JS.API.META.LEADER.STEPDOWN", OpMetaLeaderStepDown, "", "", "", ""},
	}
	for _, c := range cases {
		s, ok := ParseAPISubject([]byte(c.subj))
		if !ok || s.Op != c.op || string(s.Domain) != c.domain || string(s.Stream) != c.stream ||
			string(s.Consumer) != c.consumer || string(s.Subject) != c.filter {
			t.Errorf("%s: got ok=%v op=%v domain=%q stream=%q consumer=%q subject=%q",
				c.subj, ok, s.Op, s.Domain, s.Stream, s.Consumer, s.Subject)
		}
		if c.domain == "" && s.Domain != nil {
			t.Errorf("%s: domain should be nil", c.subj)
		}
	}
}

func TestParseAPISubjectRejects(t *testing.T) {
	for _, s := range []string{
		"", "$JS", "$JS.API", "$JS.API.", "$JS.API.INFO.X", "$JS.API.STREAM", "$JS.API.STREAM.CREATE",
		"$JS.API.STREAM.CREATE.", "$JS.API.STREAM.CREATE.A.B", "$JS.API.STREAM.CREATE.*", "$JS.API.STREAM.CREATE.>",
		"$JS.API.STREAM.NAMES.X", "$JS.API.STREAM.MSG.PUT.S", "$JS.API.STREAM.FOO.S", "$JS.API.CONSUMER.INFO.S",
		"$JS.API.CONSUMER.INFO.S.C.X", "$JS.API.CONSUMER.INFO.S.", "$JS.API.CONSUMER.MSG.NEXT.S",
		"$JS.API.CONSUMER.CREATE.S.", "$JS.API.CONSUMER.CREATE.S.C.", "$JS.API.CONSUMER.CREATE.S.C.a..b",
		"$JS.API.CONSUMER.DURABLE.CREATE.S", "$JS.API.DIRECT.GET", "$JS.API.DIRECT.GET.S.", "$JS.API.DIRECT.PUT.S",
		"$JS.API.META.LEADER", "$JS..API.INFO", "$JS.a.b.API.INFO", "$JS.ACK.S.C.1.2.3.4.5", "$KV.b.k",
		"$JS.API.CONSUMER.NAMES.S.X", "$JS.API.STREAM.INFO.A B",
	} {
		if got, ok := ParseAPISubject([]byte(s)); ok {
			t.Errorf("%q accepted as %+v", s, got)
		}
	}
}

func TestOpStringsAndTypes(t *testing.T) {
	seen := map[string]Op{}
	for op := OpAccountInfo; op < opCount; op++ {
		if op.String() == "UNKNOWN" {
			t.Errorf("op %d has no name", op)
		}
		if prev, dup := seen[op.String()]; dup && !(prev == OpDirectGet && op == OpDirectGetLast) {
			t.Errorf("ops %d and %d share %s", prev, op, op)
		}
		seen[op.String()] = op
	}
	if OpStreamCreate.ResponseType() != TypeStreamCreateResponse || OpDurableCreate.ResponseType() != TypeConsumerCreateResponse ||
		OpUnknown.ResponseType() != TypeSystemResponse || OpConsumerNext.ResponseType() != TypeSystemResponse {
		t.Fatal("ResponseType")
	}
	// Every op's String is the subject's operation part.
	for op := OpAccountInfo; op < opCount; op++ {
		subj := APIPrefix + op.String()
		switch op {
		case OpAccountInfo, OpStreamNames, OpStreamList, OpMetaLeaderStepDown:
		case OpConsumerInfo, OpConsumerDelete, OpConsumerPause, OpConsumerNext, OpConsumerUnpin,
			OpConsumerReset, OpConsumerLeaderStepDn, OpDurableCreate:
			subj += ".S.C"
		case OpDirectGetLast:
			subj += ".S.a.b"
		default:
			subj += ".S"
		}
		if s, ok := ParseAPISubject([]byte(subj)); !ok || s.Op != op {
			t.Errorf("%s parsed as %v", subj, s.Op)
		}
	}
}

func TestAllocsParseAPISubject(t *testing.T) {
	subjects := [][]byte{
		[]byte("$JS.API.CONSUMER.MSG.NEXT.ORDERS.worker"),
		[]byte("$JS.API.STREAM.INFO.ORDERS"),
		[]byte("$JS.hub.API.CONSUMER.CREATE.S.C.orders.>"),
		[]byte("$JS.API.DIRECT.GET.KV_b.$KV.b.k"),
	}
	n := testing.AllocsPerRun(100, func() {
		for _, s := range subjects {
			if _, ok := ParseAPISubject(s); !ok {
				panic(fmt.Sprintf("%s", s))
			}
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

func BenchmarkParseAPISubject(b *testing.B) {
	subj := []byte("$JS.API.CONSUMER.MSG.NEXT.ORDERS.worker")
	b.ReportAllocs()
	b.SetBytes(int64(len(subj)))
	for b.Loop() {
		if _, ok := ParseAPISubject(subj); !ok {
			b.Fatal("not parsed")
		}
	}
}

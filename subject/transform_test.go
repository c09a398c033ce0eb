package subject

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestTransformMatch checks mapped subjects against the results nats-server
// 2.15 gives for the same mappings.
func TestTransformMatch(t *testing.T) {
	cases := []struct{ src, dest, subj, want string }{
		{"", "prefix.>", "foo", "prefix.foo"},
		{"foo", "bar", "foo", "bar"},
		{"foo.*.bar.*.baz", "req.$2.$1", "foo.A.bar.B.baz", "req.B.A"},
		{"foo.*.bar.*.baz", "req.{{wildcard(2)}}.{{wildcard(1)}}", "foo.A.bar.B.baz", "req.B.A"},
		{"foo.*.bar.*.baz", "req.{{ Wildcard( 2 ) }}.{{wildcard(1)}}", "foo.A.bar.B.baz", "req.B.A"},
		{"baz.>", "my.pre.>", "baz.1.2.3", "my.pre.1.2.3"},
		{"baz.>", "foo.bar.>", "baz.1.2.3", "foo.bar.1.2.3"},
		{"*", "foo.bar.$1", "foo", "foo.bar.foo"},
		{"*", "{{splitfromleft(1,3)}}", "12345", "123.45"},
		{"*", "{{SplitFromRight(1,3)}}", "12345", "12.345"},
		{"*", "{{SliceFromLeft(1,3)}}", "1234567890", "123.456.789.0"},
		{"*", "{{SliceFromRight(1,3)}}", "1234567890", "1.234.567.890"},
		{"*", "{{sliceFromRight(1,3)}}", "123456", "123.456"},
		{"*", "{{split(1,-)}}", "-abc-def--ghi-", "abc.def.ghi"},
		{"*", "{{split(1,-)}}", "abc-def--ghi-", "abc.def.ghi"},
		{"*.*", "{{split(2,-)}}.{{splitfromleft(1,2)}}", "foo.-abc-def--ghij-", "abc.def.ghij.fo.o"},
		{"*", "{{right(1,1)}}", "1234", "4"},
		{"*", "{{right(1,3)}}", "1234", "234"},
		{"*", "{{right(1,6)}}", "1234", "1234"},
		{"*", "{{left(1,1)}}", "1234", "1"},
		{"*", "{{left(1,3)}}", "1234", "123"},
		{"*", "{{left(1,6)}}", "1234", "1234"},
		{"*", "bar.{{partition(0)}}", "baz", "bar.0"},
		{"*", "bar.{{partition(10, 0)}}", "foo", "bar.3"},
		{"*.*", "bar.{{partition(10)}}", "foo.bar", "bar.6"},
		{"*", "bar.{{partition(10)}}", "foo", "bar.3"},
		{"*", "bar.{{partition(10)}}", "baz", "bar.0"},
		{"*", "bar.{{partition(10)}}", "qux", "bar.9"},
		{"*", "bar.{{random(0)}}", "qux", "bar.0"},
		{"foo.bar", "baz.{{partition(10)}}", "foo.bar", "baz.6"},
		{"foo.baz", "qux.{{partition(10)}}", "foo.baz", "qux.4"},
		{"test.subject", "result.{{partition(5)}}", "test.subject", "result.0"},
		{"orders.*.*", "by.$2.{{partition(3,1,2)}}", "orders.eu.7", "by.7." + partitionOf(3, "eu7")},
		{">", ">", "a.b.c", "a.b.c"},
		{"a.>", "b.>", "a.x", "b.x"},
	}
	for _, c := range cases {
		tr, err := NewTransform(c.src, c.dest)
		if err != nil {
			t.Fatalf("%q -> %q: %v", c.src, c.dest, err)
		}
		if err := ValidateMapping(c.src, c.dest); err != nil {
			t.Fatalf("validate %q -> %q: %v", c.src, c.dest, err)
		}
		got, ok := tr.Match(c.subj)
		if !ok || got != c.want {
			t.Errorf("%q -> %q on %q = %q, %v; want %q", c.src, c.dest, c.subj, got, ok, c.want)
		}
	}
}

// partitionOf is nats-server's partition: fnv32a of key modulo n.
func partitionOf(n uint32, key string) string {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return fmt.Sprint(h % n)
}

func TestTransformNoMatch(t *testing.T) {
	tr, err := NewTransform("orders.*", "x.$1")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"orders", "orders.a.b", "other.a", "orders.*", ""} {
		if got, ok := tr.Match(s); ok {
			t.Errorf("Match(%q) = %q, want no match", s, got)
		}
	}
	if tr, err := NewTransform("a", ""); tr != nil || err != nil {
		t.Fatalf("empty destination: %v, %v", tr, err)
	}
}

func TestTransformRandom(t *testing.T) {
	tr, err := NewTransform("*", "bar.{{random(6)}}")
	if err != nil {
		t.Fatal(err)
	}
	tr.SetRand(func(n int) int { return n - 1 })
	if got, _ := tr.Match("qux"); got != "bar.5" {
		t.Fatalf("random: %q", got)
	}
}

// TestTransformErrors checks the mappings nats-server refuses, and its
// wording.
func TestTransformErrors(t *testing.T) {
	bad := []struct{ src, dest, text string }{
		{"foo..", "bar", "invalid subject"},
		{"foo.*", "bar.*", "invalid subject"},
		{"foo.*", "bar.$1.>", "invalid subject"},
		{"foo.>", "bar.baz", "invalid subject"},
		{"foo.*", "bar.$2", "invalid mapping destination: wildcard index out of range in $2: [2]"},
		{"foo.*", "foo.{{wildcard(2)}}", "wildcard index out of range"},
		{"foo.*", "foo.{{unimplemented(1)}}", "invalid mapping destination: unknown function in {{unimplemented(1)}}"},
		{"foo.*", "foo.{{partition()}}", "function argument is invalid"},
		{"foo.*", "foo.{{random()}}", "function argument is invalid"},
		{"foo.*", "foo.{{wildcard(foo)}}", "function argument is invalid"},
		{"foo.*", "foo.{{wildcard()}}", "not enough arguments"},
		{"foo.*", "foo.{{wildcard(1,2)}}", "too many arguments"},
		{"foo.*", "foo.{{ wildcard5) }}", "unknown function"},
		{"foo.*", "foo.{{splitLeft(2,2}}", "unknown function"},
		{"foo.*", "foo.{{split(1,a b)}}", "function argument is invalid"},
		{"foo.*", "foo.{{left(1)}}", "not enough arguments"},
		{"foo", "bla.{{wildcard(1)}}", "wildcard index out of range"},
		{"foo.*", "foo.{{partition(2147483648)}}", "function argument is invalid"},
		{"foo.*", "foo.{{random(2147483648)}}", "function argument is invalid"},
		{"foo.*", "foo..bar", "invalid transform"},
		{"foo.*", "foo.>.bar", "invalid transform"},
	}
	for _, c := range bad {
		err := ValidateMapping(c.src, c.dest)
		if err == nil {
			t.Errorf("%q -> %q: no error", c.src, c.dest)
			continue
		}
		if !errors.Is(err, ErrBadSubject) && !errors.Is(err, ErrInvalidMapping) {
			t.Errorf("%q -> %q: %v is neither error kind", c.src, c.dest, err)
		}
		if !strings.Contains(err.Error(), c.text) {
			t.Errorf("%q -> %q: %q, want it to contain %q", c.src, c.dest, err, c.text)
		}
	}
	good := [][2]string{
		{"foo.*.*", "bar.$2"},
		{"foo.*.*", "bar.{{partition(1)}}"},
		{"foo.*.*", "bar.{{random(5)}}"},
		{"*", "{{splitfromleft(1,1)}}"},
		{"*.*", "{{partition(10,1,2)}}"},
		{"foo.*.*", "foo.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(5,1,2)}}"},
		{"foo.*", "foo.{{partition(2147483647)}}"},
		{"foo.bar", "foo.{{random(2147483647)}}"},
		{"foo.*", "foo.$foo"},
	}
	for _, g := range good {
		if err := ValidateMapping(g[0], g[1]); err != nil {
			t.Errorf("%q -> %q: %v", g[0], g[1], err)
		}
	}
}

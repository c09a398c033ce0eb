package subject

import "testing"

func TestSubjects(t *testing.T) {
	for _, c := range []struct {
		s        string
		pub, sub bool
	}{
		{"foo", true, true},
		{"foo.bar.baz", true, true},
		{"$JS.API.STREAM.INFO.s", true, true},
		{"a*b.c>", true, true}, // not whole tokens: literal characters
		{"*", false, true},
		{">", false, true},
		{"foo.*.bar", false, true},
		{"foo.>", false, true},
		{"foo.*.>", false, true},
		{"foo.>.bar", false, false},
		{">.>", false, false},
		{"", false, false},
		{".", false, false},
		{"foo.", false, false},
		{".foo", false, false},
		{"foo..bar", false, false},
		{"foo bar", false, false},
		{"foo\tbar", false, false},
		{"foo\r", false, false},
		{"foo\n.bar", false, false},
	} {
		if got := ValidPublish([]byte(c.s)); got != c.pub {
			t.Errorf("ValidPublish(%q) = %v", c.s, got)
		}
		if got := ValidSubscribe([]byte(c.s)); got != c.sub {
			t.Errorf("ValidSubscribe(%q) = %v", c.s, got)
		}
		if c.sub && IsLiteral([]byte(c.s)) != c.pub {
			t.Errorf("IsLiteral(%q) = %v", c.s, !c.pub)
		}
	}
	for q, want := range map[string]bool{"workers": true, "a.b": true, "": false, "a b": false, "a\r": false} {
		if ValidQueueName([]byte(q)) != want {
			t.Errorf("ValidQueueName(%q) != %v", q, want)
		}
	}
}

func TestNextToken(t *testing.T) {
	var toks []string
	s := []byte("a.bb..c")
	for {
		tok, rest, more := NextToken(s)
		toks = append(toks, string(tok))
		if !more {
			if rest != nil {
				t.Fatal("rest not nil at end")
			}
			break
		}
		s = rest
	}
	if len(toks) != 4 || toks[0] != "a" || toks[1] != "bb" || toks[2] != "" || toks[3] != "c" {
		t.Fatalf("tokens %q", toks)
	}
	if tok, _, more := NextToken([]byte("x.")); string(tok) != "x" || !more {
		t.Fatal("trailing dot")
	}
}

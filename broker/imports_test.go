package broker

import "testing"

func TestImportMapping(t *testing.T) {
	for _, tc := range []struct{ from, to, in, want string }{
		{"a.*", "", "a.x", "a.x"},
		{"a.*", "b.*", "a.x", "b.x"},
		{"a.>", "p.a.>", "a.x.y", "p.a.x.y"},
		{"a.*.c.>", "z.*.>", "a.1.c.2.3", "z.1.2.3"},
		{"help", "ask", "help", "ask"},
	} {
		m, err := newMapping(tc.from, tc.to)
		if err != nil {
			t.Fatalf("%s -> %s: %v", tc.from, tc.to, err)
		}
		if got := string(m.apply([]byte(tc.in))); got != tc.want {
			t.Errorf("%s -> %s on %s: %s, want %s", tc.from, tc.to, tc.in, got, tc.want)
		}
	}
	for _, bad := range [][2]string{{"a.*", "b.>"}, {"a.>", "b"}, {"a.*", "b.>.c"}} {
		if err := CheckImport(bad[0], bad[1]); err == nil {
			t.Errorf("%s -> %s accepted", bad[0], bad[1])
		}
	}
}

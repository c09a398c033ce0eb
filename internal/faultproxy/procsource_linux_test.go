package faultproxy

import (
	"net/netip"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"0200007F:0050", "127.0.0.2:80"},
		{"00000000000000000000000001000000:0050", "[::1]:80"},
		{"0000000000000000FFFF00000100007F:1F90", "[::ffff:127.0.0.1]:8080"},
	} {
		got, err := parseProcAddr(tc.in)
		if err != nil || got != netip.MustParseAddrPort(tc.want) {
			t.Errorf("%s: %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "01007F:1F90", "0100007F:XYZ", "zz00007F:0050"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

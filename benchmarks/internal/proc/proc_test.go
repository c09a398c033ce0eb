package proc

import "testing"

func TestParseStatCPU(t *testing.T) {
	line := "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 4 0"
	got, err := parseStatCPU(line)
	if err != nil || got != 4.0 {
		t.Fatalf("parseStatCPU = %v, %v; want 4", got, err)
	}
}

func TestParseStatusKB(t *testing.T) {
	st := "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n"
	if n, err := parseStatusKB(st, "VmHWM:"); err != nil || n != 2048<<10 {
		t.Fatalf("VmHWM = %d, %v", n, err)
	}
	if _, err := parseStatusKB(st, "VmSwap:"); err == nil {
		t.Fatal("want error for missing key")
	}
}

package netpoll

import (
	"bufio"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// When the listening socket stops listening (here: shutdown(2) on it, which
// makes accept fail with EINVAL), Health says so, and the connections
// already open are served as before.
func TestListenerFailureShowsInHealth(t *testing.T) {
	h := startServerData(t, Options{}, func(ts *testSession, b []byte) error {
		return ts.tr.Write(b) // echo
	})
	nc, _ := h.dial(t)
	if err := h.s.Health(); err != nil {
		t.Fatalf("Health() = %v on a fresh server", err)
	}
	rc, err := h.s.ln.SyscallConn()
	must(t, err)
	must(t, rc.Control(func(fd uintptr) { must(t, unix.Shutdown(int(fd), unix.SHUT_RD)) }))
	waitFor(t, "Health to report the failed listener", func() bool { return h.s.Health() != nil })
	if err := h.s.Health(); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Health() = %v, want the accept error (EINVAL)", err)
	}
	if c, err := net.DialTimeout("tcp", h.s.Addr().String(), 2*time.Second); err == nil {
		c.Close()
		t.Fatal("a connection was accepted after the listener failed")
	}
	_, _ = nc.Write([]byte("ping\n"))
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(nc).ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("open connection after the listener failed: %q, %v", line, err)
	}
}

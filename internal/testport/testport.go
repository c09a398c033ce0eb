// Package testport hands out 127.0.0.1 addresses for servers that must be
// told their port before they listen (raft addresses, proxies, processes).
//
// "Listen on :0, read the port, close" is not enough when many tests run in
// parallel: the kernel gives the same ephemeral range to every outgoing
// connection, so another package's client socket can take the port before
// the server binds it ("address already in use"). Addresses from here lie
// below the ephemeral range (Linux's default starts at 32768), where the
// kernel never picks a port by itself, each process starting at its own
// offset, and each is checked free with a bind before it is handed out.
package testport

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

// The range handed out: [low, low+span), below the ephemeral ports.
const (
	low  = 20000
	span = 12000
)

// next is the next candidate, per process; the first one depends on the
// process id, so concurrent test binaries start far apart.
var next struct {
	sync.Mutex
	port int
	init bool
}

// Addr returns "127.0.0.1:<port>" for a port no one listened on when it was
// checked and that this process has not handed out before.
func Addr() (string, error) {
	next.Lock()
	defer next.Unlock()
	if !next.init {
		next.port = low + (os.Getpid()*397)%span
		next.init = true
	}
	for range span {
		p := next.port
		next.port = low + (next.port-low+1)%span
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		return ln.Addr().String(), nil
	}
	return "", fmt.Errorf("testport: no free port in %d-%d", low, low+span-1)
}

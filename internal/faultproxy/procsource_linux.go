package faultproxy

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// PIDSource returns an Options.Source that names a connection's dialer by
// the process holding the dialing socket: it finds the socket's inode in
// /proc/net/tcp{,6} by the dialer's address, then the process among pids()
// (process id → node name; called per connection, as processes restart)
// with that socket among its open files. It returns "" for an address
// that is not TCP, a socket not found, or a process not in pids(): the
// caller cannot tell a client from an unknown node then, so it counts
// anonymous connections (Stats.Anonymous). A miss is retried a few times
// over about 50 ms: a process may dial before its starter has added it to
// pids. Reading another user's /proc/<pid>/fd needs privileges; the
// processes a test starts are its own.
func PIDSource(pids func() map[int]string) func(net.Addr) string {
	return func(a net.Addr) string {
		ta, ok := a.(*net.TCPAddr)
		if !ok {
			return ""
		}
		ap := ta.AddrPort()
		for try := 0; ; try++ {
			if name := procOwner(ap, pids()); name != "" || try == pidRetries {
				return name
			}
			time.Sleep(pidRetryWait)
		}
	}
}

// PIDSource's retries of a miss.
const (
	pidRetries   = 5
	pidRetryWait = 10 * time.Millisecond
)

// procOwner names the process among pids holding the socket bound locally
// to ap, or "".
func procOwner(ap netip.AddrPort, pids map[int]string) string {
	ino := ""
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if ino = socketInode(file, ap); ino != "" {
			break
		}
	}
	if ino == "" {
		return ""
	}
	want := "socket:[" + ino + "]"
	for pid, name := range pids {
		if holds(pid, want) {
			return name
		}
	}
	return ""
}

// socketInode returns the inode of the socket bound locally to ap, read
// from a /proc/net/tcp-format file, or "".
func socketInode(file string, ap netip.AddrPort) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		local, err := parseProcAddr(fs[1])
		if err != nil || local.Port() != ap.Port() || local.Addr().Unmap() != ap.Addr().Unmap() {
			continue
		}
		if fs[9] != "0" {
			return fs[9]
		}
	}
	return ""
}

// parseProcAddr parses /proc/net/tcp's "0100007F:1F90": the address as
// 32-bit words printed in host byte order, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return netip.AddrPort{}, fmt.Errorf("faultproxy: bad /proc address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return netip.AddrPort{}, err
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// holds reports whether process pid has the file link (e.g. "socket:[123]")
// open.
func holds(pid int, link string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == link {
			return true
		}
	}
	return false
}
